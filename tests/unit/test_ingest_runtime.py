"""`ballast ingest` as the ingest Job's container runs it: exit status and termination message."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ballast.runtime.ingest import (
    IngestOptions,
    failure_message,
    fit_termination_message,
    parse_ingest_args,
    run_ingest,
)
from ballast.store import ArtifactStore
from tests.support.kube import REPO
from tests.unit.test_data_canonical import iris_frame, iris_spec
from tests.unit.test_data_sources import http_base, web_root  # noqa: F401 - fixtures

ROWS = json.loads(iris_frame().to_json(orient="records"))


def run(tmp_path: Path, dataset: dict, **overrides: object) -> tuple[int, dict]:
    dataset_file = tmp_path / "dataset.json"
    dataset_file.write_text(json.dumps(dataset))
    termination_log = tmp_path / "termination-log"
    settings = {"store_uri": f"file://{tmp_path / 'store'}", **overrides}
    options = IngestOptions(
        dataset_json_path=str(dataset_file),
        name="iris",
        termination_log=str(termination_log),
        environ={"BALLAST_EGRESS_ALLOW": "127.0.0.1"},  # the test server listens there
        **settings,
    )
    code = run_ingest(options)
    return code, json.loads(termination_log.read_text())


def spec_with(source: dict, **fields) -> dict:
    return {**iris_spec().model_dump(by_alias=True, exclude_none=True, mode="json"), "source": source, **fields}


def test_inline_url_and_pvc_sources_give_one_version(tmp_path: Path, web_root: Path, http_base: str):  # noqa: F811
    iris_frame().to_csv(web_root / "iris.csv", index=False)
    volume = tmp_path / "volume"
    volume.mkdir()
    iris_frame().to_parquet(volume / "iris.parquet", index=False)

    code, inline = run(tmp_path, spec_with({"inline": {"rows": ROWS}}))
    assert code == 0 and inline["ok"] and inline["valid"] and inline["new"] and inline["rows"] == 150
    code, url = run(tmp_path, spec_with({"url": f"{http_base}/iris.csv"}))
    assert code == 0 and url["sha256"] == inline["sha256"] and not url["new"]
    code, pvc = run(
        tmp_path,
        spec_with({"pvc": {"claimName": "data", "path": "iris.parquet"}}, format="parquet"),
        source_root=str(volume),
    )
    assert code == 0 and pvc["sha256"] == inline["sha256"]

    store = ArtifactStore(f"file://{tmp_path / 'store'}")
    assert inline["snapshotUri"].endswith(f"/datasets/iris/{inline['sha256']}/data.parquet")
    assert store.read_json(inline["profileUri"])["rows"] == 150
    assert store.read_json(inline["metadataUri"])["source"] == {"kind": "inline", "rows": 150}
    assert set(inline) == {
        "ok",
        "dataset",
        "sha256",
        "rows",
        "valid",
        "new",
        "createdAt",
        "violations",
        "violationCount",
        "violationsTruncated",
        "snapshotUri",
        "profileUri",
        "metadataUri",
        "profileSha256",
        "metadataSha256",
    }
    # the digests pin the files' bytes, as the operator records them
    assert store.sha256_of(inline["profileUri"]) == inline["profileSha256"]
    assert store.sha256_of(inline["metadataUri"]) == inline["metadataSha256"]


def test_invalid_data_is_a_result_with_every_reason_and_exit_zero(tmp_path: Path):
    rows = [dict(row) for row in ROWS[:5]]
    rows[1]["sepal length (cm)"] = "abc"
    rows[2]["petal width (cm)"] = None
    code, result = run(tmp_path, spec_with({"inline": {"rows": rows}}, validation={"minRows": 10}))
    assert code == 0 and result["ok"] and not result["valid"]
    assert result["violations"] == [
        "the table has 5 rows, fewer than the minimum of 10",
        "column sepal length (cm): 1 value is not a finite number (first at row 2)",
        "column petal width (cm): 1 value is missing but the column is not nullable (first at row 3)",
    ]
    assert result["snapshotUri"] is None and result["profileUri"] is None
    assert "metadata-invalid-" in result["metadataUri"]


def test_a_missing_url_fails_with_a_clear_message(tmp_path: Path, http_base: str):  # noqa: F811
    code, result = run(tmp_path, spec_with({"url": f"{http_base}/nope.csv"}))
    assert code == 2
    assert result == {
        "ok": False,
        "reason": "SourceNotFound",
        "message": f"HTTP 404 from {http_base}/nope.csv",
    }  # the reason phrase is the server's: not shown


def test_a_missing_pvc_file_fails(tmp_path: Path):
    code, result = run(
        tmp_path, spec_with({"pvc": {"claimName": "data", "path": "nope.csv"}}), source_root=str(tmp_path)
    )
    assert code == 2 and result["reason"] == "SourceNotFound"


def test_an_unusable_spec_fails_with_exit_4(tmp_path: Path):
    code, result = run(tmp_path, {"source": {"inline": {"rows": ROWS[:2]}}, "schema": {"columns": []}})
    assert code == 4 and result["reason"] == "InvalidIngestInput" and "columns" in result["message"]


def test_many_violations_are_truncated_to_fit_the_termination_message(tmp_path: Path):
    columns = [{"name": f"a_rather_long_column_name_{i:03d}", "type": "float"} for i in range(200)]
    spec = {"source": {"inline": {"rows": [{c["name"]: "bad" for c in columns}]}}, "schema": {"columns": columns}}
    code, result = run(tmp_path, spec)
    message = (tmp_path / "termination-log").read_bytes()
    assert code == 0 and len(message) <= 4096
    assert result["violationCount"] == 200 and result["violationsTruncated"]
    assert 0 < len(result["violations"]) < 200
    store = ArtifactStore(f"file://{tmp_path / 'store'}")
    assert len(store.read_json(result["metadataUri"])["violations"]) == 200  # the full list is kept


def test_a_long_failure_message_is_shortened():
    text = fit_termination_message(failure_message("SourceError", "x" * 10_000))
    assert len(text.encode()) <= 4096 and json.loads(text)["message"].endswith("...")


def test_flags_and_environment():
    environ = {
        "BALLAST_DATASET_JSON": "{}",
        "BALLAST_DATASET_NAME": "credit",
        "BALLAST_STORE_URI": "s3://b/p",
        "BALLAST_TERMINATION_LOG": "/tmp/t",
        "BALLAST_SOURCE_ROOT": "/mnt/x",
    }
    options = parse_ingest_args(["--name", "other"], environ)
    assert (
        options.name,
        options.store_uri,
        options.termination_log,
        options.source_root,
        options.dataset_json_text,
    ) == ("other", "s3://b/p", "/tmp/t", "/mnt/x", "{}")
    defaults = parse_ingest_args([], {})
    assert (defaults.store_uri, defaults.termination_log) == ("file:///var/lib/ballast", "/dev/termination-log")


def test_the_module_runs_as_a_command_with_the_whole_object_in_the_environment(tmp_path: Path):
    dataset = {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "Dataset",
        "metadata": {"name": "iris-env"},
        "spec": spec_with({"inline": {"rows": ROWS[:20]}}),
    }
    log = tmp_path / "log"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "ballast.runtime.ingest",
            "--store",
            f"file://{tmp_path / 'store'}",
            "--termination-log",
            str(log),
        ],
        env={
            "BALLAST_DATASET_JSON": json.dumps(dataset),
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(REPO / "operator"),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(log.read_text())
    assert result["dataset"] == "iris-env" and result["rows"] == 20 and result["valid"]
    assert json.loads(completed.stdout) == result


@pytest.mark.parametrize("store_uri", ["file://relative", "s3://", "/var/lib/ballast"])
def test_a_bad_store_uri_is_a_usage_error(tmp_path: Path, store_uri: str):
    code, result = run(tmp_path, spec_with({"inline": {"rows": ROWS[:3]}}), store_uri=store_uri)
    assert code == 4 and result["reason"] == "InvalidIngestInput" and "store root" in result["message"]


def test_a_url_the_egress_policy_refuses_fails_the_job_at_once(tmp_path: Path):
    """A refused URL is refused on every retry: exit 4, which the ingest Job's podFailurePolicy
    fails on at once, so the Dataset says EgressDenied without waiting out the back-off."""
    from ballast.build.jobs import INGEST_PERMANENT_EXIT_CODES

    code, result = run(tmp_path, spec_with({"url": "http://169.254.169.254/latest/meta-data/"}))
    assert (code, result["ok"], result["reason"]) == (4, False, "EgressDenied")
    assert code in INGEST_PERMANENT_EXIT_CODES
