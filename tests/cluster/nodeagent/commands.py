"""What a container runs: `command` + `args` expanded as the kubelet does, with an optional
image->entrypoint map standing in for the ENTRYPOINT/CMD an image would have supplied."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from .expansion import expand


class NoCommandError(Exception):
    """The container relies on its image's entrypoint, which a host process cannot have."""


def load_image_entrypoints(path: Path | None) -> dict[str, dict[str, list[str]]]:
    """Reads `{image-or-repository: [argv...] | {command: [...], args: [...]}}` (YAML or JSON)."""
    if path is None:
        return {}
    raw = yaml.safe_load(path.read_text()) or {}
    normalized = {}
    for image, value in raw.items():
        if isinstance(value, list):
            normalized[image] = {"command": [str(v) for v in value], "args": []}
        else:
            normalized[image] = {"command": [str(v) for v in value.get("command") or []],
                                 "args": [str(v) for v in value.get("args") or []]}
    return normalized


def image_repository(image: str) -> str:
    """`registry:5000/team/app:1.2@sha256:...` -> `registry:5000/team/app`."""
    without_digest = image.split("@", 1)[0]
    last_slash = without_digest.rfind("/")
    colon = without_digest.rfind(":")
    return without_digest[:colon] if colon > last_slash else without_digest


def container_argv(container: dict, env: dict[str, str], entrypoints: dict[str, dict[str, list[str]]]) -> list[str]:
    command = container.get("command")
    args = container.get("args")
    if not command:
        image = container.get("image", "")
        mapped = entrypoints.get(image) or entrypoints.get(image_repository(image))
        if mapped is None or not mapped["command"]:
            raise NoCommandError(
                f"container {container['name']!r} has no command, and the ballast node agent runs host "
                f"processes, so image {image!r} cannot supply an entrypoint; set `command`, or map the "
                f"image in the agent's --image-entrypoints file (known: {json.dumps(sorted(entrypoints))})")
        command = mapped["command"]
        if args is None:
            args = mapped["args"]
    return [expand(part, env) for part in [*command, *(args or [])]]
