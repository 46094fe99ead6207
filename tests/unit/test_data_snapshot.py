"""Snapshots in the store: written once, read back only when valid and unaltered."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from ballast.api.dataset import DatasetSpec
from ballast.data.assess import assess
from ballast.data.errors import InvalidDatasetVersion
from ballast.data.snapshot import ingest_table, read_snapshot
from ballast.data.tables import read_csv_raw
from ballast.store import ArtifactNotFound, ArtifactStore, DigestMismatch
from tests.unit.test_data_canonical import as_csv, as_inline, iris_frame, iris_spec

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(f"file://{tmp_path}")


def test_a_valid_version_is_written_and_read_back_verified(store: ArtifactStore, tmp_path: Path):
    spec = iris_spec()
    record = ingest_table(store, "iris", spec, as_csv(iris_frame()), {"kind": "url"}, T0)
    assert record.valid and record.new and record.rows == 150 and record.violations == ()
    base = tmp_path / "datasets" / "iris" / record.sha256
    assert sorted(p.name for p in base.iterdir()) == ["data.parquet", "metadata.json", "profile.json"]
    assert record.snapshot_uri == f"file://{base}/data.parquet"
    metadata = json.loads((base / "metadata.json").read_text())
    assert metadata["valid"] is True and metadata["sha256"] == record.sha256 and metadata["createdAt"] == T0
    assert metadata["columns"][-1] == {"name": "species", "type": "category"}
    assert json.loads((base / "profile.json").read_text())["rows"] == 150

    frame = read_snapshot(store, record.snapshot_uri, record.sha256, spec.schema_)
    expected = iris_frame()
    assert list(frame.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(frame.drop(columns="species"), expected.drop(columns="species"))
    assert frame["species"].astype(str).tolist() == expected["species"].tolist()
    assert str(frame["species"].dtype) == "category"
    # The recorded schema is used when none is passed.
    assert read_snapshot(store, record.snapshot_uri, record.sha256).shape == (150, 5)


def test_unchanged_content_from_another_source_is_the_same_version(store: ArtifactStore):
    spec = iris_spec()
    first = ingest_table(store, "iris", spec, as_csv(iris_frame()), {"kind": "url"}, T0)
    second = ingest_table(store, "iris", spec, as_inline(iris_frame()), {"kind": "inline"}, T1)
    assert second.sha256 == first.sha256 and not second.new
    assert second.created_at == T0  # the first record stands


def test_a_wrong_expected_sha_is_refused(store: ArtifactStore):
    record = ingest_table(store, "iris", iris_spec(), as_csv(iris_frame()), {}, T0)
    with pytest.raises(DigestMismatch):
        read_snapshot(store, record.snapshot_uri, "0" * 64)


def test_an_altered_snapshot_is_refused(store: ArtifactStore, tmp_path: Path):
    record = ingest_table(store, "iris", iris_spec(), as_csv(iris_frame()), {}, T0)
    path = Path(record.snapshot_uri.removeprefix("file://"))
    tampered = iris_frame()
    tampered.loc[0, "sepal length (cm)"] = 99.0
    buffer = io.BytesIO()
    tampered.to_parquet(buffer, index=False)
    path.chmod(0o644)
    path.write_bytes(buffer.getvalue())
    with pytest.raises(DigestMismatch) as caught:
        read_snapshot(store, record.snapshot_uri, record.sha256)
    assert caught.value.expected == record.sha256 and caught.value.actual != record.sha256


def test_a_re_encoded_but_equal_snapshot_still_verifies(store: ArtifactStore):
    """The digest is of the content, not of the Parquet bytes."""
    record = ingest_table(store, "iris", iris_spec(), as_csv(iris_frame()), {}, T0)
    path = Path(record.snapshot_uri.removeprefix("file://"))
    table = pq.read_table(path)
    path.chmod(0o644)
    pq.write_table(table, path, compression="gzip", row_group_size=7)
    assert read_snapshot(store, record.snapshot_uri, record.sha256).shape == (150, 5)


def test_an_invalid_version_is_recorded_but_never_handed_out(store: ArtifactStore, tmp_path: Path):
    spec = DatasetSpec.model_validate(
        {
            "source": {"url": "http://x"},
            "schema": {"columns": [{"name": "x", "type": "float"}]},
            "validation": {"minRows": 3},
        }
    )
    record = ingest_table(store, "bad", spec, read_csv_raw(b"x\nabc\n2\n"), {"kind": "url"}, T0)
    assert not record.valid and record.snapshot_uri is None and record.profile_uri is None
    assert record.violations == (
        "the table has 2 rows, fewer than the minimum of 3",
        "column x: 1 value is not a finite number (first at row 1)",
    )
    base = tmp_path / "datasets" / "bad" / record.sha256
    files = sorted(p.name for p in base.iterdir())
    assert len(files) == 1 and files[0].startswith("metadata-invalid-")
    metadata = json.loads((base / files[0]).read_text())
    assert metadata["valid"] is False and metadata["violations"] == list(record.violations)
    assert record.metadata_uri == f"file://{base / files[0]}"
    with pytest.raises(ArtifactNotFound, match="invalid has no snapshot"):
        read_snapshot(store, f"file://{base}/data.parquet", record.sha256)


def test_a_metadata_marked_invalid_is_refused(store: ArtifactStore):
    record = ingest_table(store, "iris", iris_spec(), as_csv(iris_frame()), {}, T0)
    sneaky = ArtifactStore(store.uri)
    key = f"datasets/other/{record.sha256}"
    sneaky.write_bytes_once(f"{key}/data.parquet", store.read_bytes(record.snapshot_uri))
    sneaky.write_json_once(
        f"{key}/metadata.json", {"valid": False, "violations": ["column x: broken"], "sha256": record.sha256}
    )
    with pytest.raises(InvalidDatasetVersion, match="column x: broken"):
        read_snapshot(store, f"{key}/data.parquet", record.sha256)


def test_fixing_the_rules_turns_the_same_content_into_a_valid_version(store: ArtifactStore):
    strict = DatasetSpec.model_validate(
        {
            "source": {"url": "http://x"},
            "schema": {"columns": [{"name": "x", "type": "float"}]},
            "validation": {"minRows": 5},
        }
    )
    loose = strict.model_copy(update={"validation": None})
    raw = read_csv_raw(b"x\n1\n2\n")
    rejected = ingest_table(store, "d", strict, raw, {}, T0)
    accepted = ingest_table(store, "d", loose, raw, {}, T1)
    assert rejected.sha256 == accepted.sha256
    assert not rejected.valid and accepted.valid and accepted.new
    assert read_snapshot(store, accepted.snapshot_uri, accepted.sha256)["x"].tolist() == [1.0, 2.0]


def test_the_snapshot_holds_the_coerced_types(store: ArtifactStore):
    spec = DatasetSpec.model_validate(
        {
            "source": {"url": "http://x"},
            "schema": {
                "columns": [
                    {"name": "n", "type": "integer", "nullable": True},
                    {"name": "b", "type": "boolean"},
                    {"name": "s", "type": "string", "nullable": True},
                ]
            },
        }
    )
    record = ingest_table(store, "t", spec, read_csv_raw(b"n,b,s\n1,true,a\n,0,\n"), {}, T0)
    frame = read_snapshot(store, record.snapshot_uri, record.sha256)
    assert [str(t) for t in frame.dtypes] == ["Int64", "boolean", "str"]
    assert frame["n"].isna().tolist() == [False, True] and frame["s"].isna().tolist() == [False, True]
    assert assess(read_csv_raw(b"n,b,s\n1,true,a\n,0,\n"), spec).sha256 == record.sha256
