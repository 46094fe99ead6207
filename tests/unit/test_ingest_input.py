"""How a Dataset reaches its ingest pod: a Secret mounted as a file, never one environment
variable, which the kernel caps at 128 KiB ("Argument list too long")."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import kopf
import pytest

from ballast import kube
from ballast.api.crd import crd_for
from ballast.api.dataset import INLINE_MAX_BYTES, DatasetSpec
from ballast.api.kinds import DATASET as DATASET_KIND
from ballast.build.ingest_input import INPUT_PATH, SECRET_MAX_BYTES, build_ingest_input, dataset_document
from ballast.build.jobs import build_ingest_job
from ballast.handlers.apply import _create_and_delete_children
from ballast.reasons.dataset import DatasetReason
from ballast.reconcile.dataset import DatasetObservation, reconcile_dataset
from ballast.reconcile.outcome import Outcome
from ballast.runtime.ingest import IngestOptions, UsageError, load_dataset
from ballast.settings import Settings
from tests.unit.test_reconcile_dataset import NOW

KERNEL_ARG_MAX = 128 * 1024
"""MAX_ARG_STRLEN: the longest single argument or environment string execve accepts."""
COLUMNS = 31


def wide_rows(count: int, width: int = 18) -> list[dict]:
    """Rows like the report's: 31 columns of 18-character values, 27 bytes a cell as JSON."""
    return [{f"c{c:02d}": f"{r:08d}-{c:02d}-{'x' * (width - 12)}" for c in range(COLUMNS)} for r in range(count)]


def inline_dataset(rows: list[dict]) -> dict:
    return {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "Dataset",
        "metadata": {"name": "wide", "namespace": "ml", "uid": "u-7", "generation": 1},
        "spec": {
            "source": {"inline": {"rows": rows}},
            "format": "csv",
            "schema": {"columns": [{"name": f"c{c:02d}", "type": "string"} for c in range(COLUMNS)]},
        },
        "status": {},
    }


REPORTED = inline_dataset(wide_rows(284))


def test_the_reported_dataset_is_over_the_kernels_limit_for_one_variable():
    assert 230_000 < len(dataset_document(REPORTED)) < 250_000
    assert len(dataset_document(REPORTED)) > KERNEL_ARG_MAX


def test_no_environment_value_or_argument_of_the_ingest_pod_carries_the_rows():
    [container] = build_ingest_job(REPORTED, job_name="wide-ingest-g1-r0", settings=Settings())["spec"]["template"][
        "spec"
    ]["containers"]
    strings = [e.get("value") or "" for e in container["env"]] + container["args"]
    assert max(len(s.encode()) for s in strings) < 4096


def test_the_dataset_is_a_read_only_file_from_a_secret_of_that_exact_content():
    job = build_ingest_job(REPORTED, job_name="wide-ingest-g1-r0", settings=Settings())
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    secret = build_ingest_input(REPORTED)
    [volume] = [v for v in pod["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]
    [mount] = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True
    assert f"{mount['mountPath']}/{volume['secret']['items'][0]['path']}" == env["BALLAST_DATASET_JSON_PATH"]
    assert env["BALLAST_DATASET_JSON_PATH"] == INPUT_PATH
    [document] = secret["stringData"].values()
    assert hashlib.sha256(document.encode()).hexdigest() == env["BALLAST_DATASET_JSON_SHA256"]
    assert json.loads(document) == {"metadata": {"name": "wide"}, "spec": REPORTED["spec"]}
    assert len(document.encode()) < SECRET_MAX_BYTES
    # owned by the Dataset, with Ballast's labels only, and never changed once created
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "u-7"
    assert secret["immutable"] is True and secret["type"] == "Opaque"


def test_another_spec_gets_another_secret_and_a_refresh_the_same():
    changed = inline_dataset(wide_rows(283))
    assert build_ingest_input(changed)["metadata"]["name"] != build_ingest_input(REPORTED)["metadata"]["name"]
    refreshed = {**REPORTED, "status": {"ingest": {"refresh": 3}}}
    assert build_ingest_input(refreshed) == build_ingest_input(REPORTED)


def test_the_secret_is_created_before_the_ingest_job(monkeypatch):
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(kube, "ensure_claim", lambda manifest: None)
    monkeypatch.setattr(kube, "server_side_apply", lambda manifest, **_: None)
    monkeypatch.setattr(kube, "create_secret_if_absent", lambda m: calls.append((m["kind"], m["metadata"]["name"])))
    monkeypatch.setattr(kube, "create_job", lambda m: calls.append((m["kind"], m["metadata"]["name"])))
    job = build_ingest_job(REPORTED, job_name="wide-ingest-g1-r0", settings=Settings())
    _create_and_delete_children(kopf.Body(REPORTED), Outcome(create_jobs=[job]), Settings())
    assert calls == [("Secret", build_ingest_input(REPORTED)["metadata"]["name"]), ("Job", "wide-ingest-g1-r0")]


def test_the_ingest_pod_reads_the_file_and_refuses_other_bytes(tmp_path: Path):
    secret = build_ingest_input(REPORTED)
    [document] = secret["stringData"].values()
    path = tmp_path / "dataset.json"
    path.write_text(document)
    digest = hashlib.sha256(document.encode()).hexdigest()
    name, spec = load_dataset(IngestOptions(dataset_json_path=str(path), dataset_json_sha256=digest))
    assert name == "wide" and spec == DatasetSpec.model_validate(REPORTED["spec"])
    assert len(spec.source.inline.rows) == 284
    # a Secret of that name someone else created first, with other content
    path.write_text(document.replace("c00", "c99", 1))
    with pytest.raises(UsageError, match="not the spec the operator checked"):
        load_dataset(IngestOptions(dataset_json_path=str(path), dataset_json_sha256=digest))


def test_inline_rows_too_large_for_the_secret_are_refused_before_any_job_naming_the_field():
    too_large = inline_dataset(wide_rows(1000, width=18))
    assert len(dataset_document(too_large)) > INLINE_MAX_BYTES
    outcome = reconcile_dataset(DatasetObservation(body=too_large, now=NOW), Settings())
    assert outcome.create_jobs == []
    ready = next(c for c in outcome.status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", DatasetReason.INLINE_DATA_TOO_LARGE)
    assert ready["message"].startswith("spec.source.inline.rows:")
    assert [(e.type, e.reason) for e in outcome.events] == [("Warning", "InlineDataTooLarge")]
    assert outcome.status["ingest"]["succeeded"] is False


ETCD_MAX_OBJECT_BYTES = 1536 * 1024
"""etcd's default --max-request-bytes: no object larger is stored."""


def test_the_largest_inline_spec_the_operator_accepts_fits_in_a_secret_and_twice_in_etcd():
    """The API server counts a Secret's data as bytes after base64 decoding: stringData's size.
    The Dataset holds its spec twice (kopf's diff base in status.kopf), beside its status."""
    assert INLINE_MAX_BYTES <= SECRET_MAX_BYTES
    assert 2 * INLINE_MAX_BYTES + 256 * 1024 <= ETCD_MAX_OBJECT_BYTES
    assert len(base64.b64decode(base64.b64encode(b"x" * INLINE_MAX_BYTES))) <= SECRET_MAX_BYTES


def test_the_crd_bounds_the_rows_and_their_columns():
    schema = crd_for(DATASET_KIND)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    rows = schema["properties"]["spec"]["properties"]["source"]["properties"]["inline"]["properties"]["rows"]
    assert rows["maxItems"] == 1000
    assert rows["items"]["maxProperties"] == 256
