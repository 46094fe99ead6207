"""Judging a raw table against a Dataset spec: coerce, hash, validate. Pure, no I/O."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd

from ballast.api.dataset import DatasetSchema, DatasetSpec, DatasetValidation
from ballast.data.canonical import canonical_sha256
from ballast.data.coerce import CoercedTable, coerce_table
from ballast.data.validate import validate_table
from ballast.store.artifact_store import canonical_json_bytes


@dataclass(frozen=True)
class Assessment:
    table: CoercedTable
    sha256: str
    """The sha256 of the canonical form: the version's identity."""
    violations: tuple[str, ...]

    @property
    def valid(self) -> bool:
        return not self.violations


def schema_column_names(schema: DatasetSchema) -> list[str]:
    return [column.name for column in schema.columns]


def assess(raw: pd.DataFrame, spec: DatasetSpec) -> Assessment:
    table = coerce_table(raw, spec.schema_)
    return Assessment(
        table=table,
        sha256=canonical_sha256(table, schema_column_names(spec.schema_)),
        violations=tuple(validate_table(table, spec)),
    )


def rules_digest(spec: DatasetSpec) -> str:
    """The sha256 of the schema and validation rules a verdict was reached under.

    The content's sha256 names a version; whether it is valid also depends on the rules,
    which a person may change (loosen minRows, allow nulls). An invalid verdict is therefore
    recorded per rules, so fixing the rules can turn the same content into a valid version
    without rewriting anything.
    """
    rules = {"schema": spec.schema_.to_wire(), "validation": (spec.validation or DatasetValidation()).to_wire()}
    return hashlib.sha256(canonical_json_bytes(rules)).hexdigest()
