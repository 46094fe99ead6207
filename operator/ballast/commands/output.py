"""`-o table|json|yaml`, as kubectl spells it: a table for people, the same data as JSON or YAML for scripts."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import click


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    YAML = "yaml"


output_option = click.option(
    "--output",
    "-o",
    "output",
    type=click.Choice([f.value for f in OutputFormat]),
    default=OutputFormat.TABLE.value,
    show_default=True,
    callback=lambda _ctx, _param, value: OutputFormat(value),
    help="table for people; json or yaml for scripts (the same fields in each).",
)


def plain(data: Any) -> Any:
    """Dataclasses as the dicts json and yaml write."""
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        return {field.name: plain(getattr(data, field.name)) for field in dataclasses.fields(data)}
    if isinstance(data, list | tuple):
        return [plain(item) for item in data]
    if isinstance(data, dict):
        return {key: plain(value) for key, value in data.items()}
    return data


def render(output: OutputFormat, data: Any, table: Callable[[], str]) -> str:
    """`table` is called only for the table, so a command builds the text view only when it is shown."""
    if output is OutputFormat.JSON:
        return json.dumps(plain(data), indent=2)
    if output is OutputFormat.YAML:
        import yaml

        return yaml.safe_dump(plain(data), sort_keys=False).rstrip("\n")
    return table()
