"""ballast.client against the real API server and the CRDs: apply, create, get, list, watch,
wait_for and delete on typed objects, and the exceptions the server's refusals become. Status is
written through the status subresource, as the operator writes it, so waiting is tested without
an operator; tests/e2e/test_notebook.py waits on the operator's own work."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from ballast.api.dataset import Column, DatasetSchema, DatasetSource, DatasetSpec, InlineSource
from ballast.client import (
    FIELD_MANAGER,
    AlreadyExists,
    Client,
    ConfigError,
    Dataset,
    Invalid,
    ModelVersion,
    NotFound,
    ObjectMeta,
    Stage,
    WaitFailed,
    WaitTimeout,
)
from tests.support.kube import Kubectl

NOW = "2026-01-01T00:00:00Z"


@pytest.fixture
def client(kubeconfig: Path, crds, unwatched_namespace: str) -> Client:
    return Client(unwatched_namespace, kubeconfig=str(kubeconfig))


@pytest.fixture
def k(kubectl: Kubectl, unwatched_namespace: str) -> Kubectl:
    return kubectl.in_namespace(unwatched_namespace)


def a_dataset(name: str = "iris", rows: int = 1) -> Dataset:
    return Dataset(
        metadata=ObjectMeta(name=name, labels={"team": "ml"}),
        spec=DatasetSpec(
            source=DatasetSource(inline=InlineSource(rows=[{"x": float(i), "y": i % 2} for i in range(rows)])),
            schema=DatasetSchema(
                columns=[Column(name="x", type="float"), Column(name="y", type="integer")], target="y"
            ),
        ),
    )


def a_version(name: str = "iris-0123") -> ModelVersion:
    return ModelVersion.model_validate(
        {
            "metadata": {"name": name},
            "spec": {"model": "iris", "artifact": {"uri": "file:///store/iris/model.skops", "sha256": "a" * 64}},
        }
    )


def write_status(k: Kubectl, resource: str, name: str, status: dict) -> None:
    """As the operator does: a merge patch of the status subresource."""
    import json

    k.run("patch", resource, name, "--subresource=status", "--type=merge", "-p", json.dumps({"status": status}))


def condition(type: str, status: str, reason: str = "Because", message: str = "") -> dict:
    return {"type": type, "status": status, "reason": reason, "message": message, "lastTransitionTime": NOW}


def test_apply_creates_then_updates_and_owns_only_the_declared_fields(client: Client, k: Kubectl):
    created = client.apply(a_dataset(rows=1))
    assert created.metadata.uid and created.metadata.generation == 1
    assert created.spec.format == "csv"  # the API server's default, which apply did not send
    updated = client.apply(a_dataset(rows=3))
    assert updated.metadata.uid == created.metadata.uid and updated.metadata.generation == 2
    assert len(updated.spec.source.inline.rows) == 3
    managers = {
        entry["manager"]
        for entry in k.get_json("dataset", "iris", "--show-managed-fields")["metadata"]["managedFields"]
    }
    assert managers == {FIELD_MANAGER}
    # the same declaration again changes nothing
    assert client.apply(a_dataset(rows=3)).metadata.generation == 2


def test_get_list_and_delete(client: Client):
    client.apply(a_dataset("one"))
    client.apply(a_dataset("two"))
    assert client.get(Dataset, "one").metadata.labels == {"team": "ml"}
    assert sorted(d.name for d in client.list(Dataset, label_selector="team=ml")) == ["one", "two"]
    client.delete(Dataset, "one")
    with pytest.raises(NotFound, match="Dataset one in namespace .* not found"):
        client.get(Dataset, "one")


def test_create_refuses_a_taken_name(client: Client):
    client.create(a_dataset())
    with pytest.raises(AlreadyExists):
        client.create(a_dataset())


def test_the_crds_schema_refusal_is_invalid_with_the_fields_cause(client: Client):
    # built past the model's own validation: the API server's schema is the judge here
    bad = a_dataset()
    bad.spec.version_history_limit = 1000  # the CRD allows at most 100
    with pytest.raises(Invalid) as refused:
        client.apply(bad)
    assert any("versionHistoryLimit" in cause for cause in refused.value.causes), refused.value.causes


def test_watch_sees_the_objects_changes(client: Client, k: Kubectl):
    client.apply(a_version())
    seen = []
    for event in client.watch(ModelVersion, "iris-0123", timeout=30):
        seen.append((event.type, event.object.status.stage if event.object.status else None))
        if event.type == "ADDED":
            write_status(k, "modelversion", "iris-0123", {"stage": "Candidate"})
        else:
            break
    assert seen == [("ADDED", None), ("MODIFIED", "Candidate")]


def test_wait_for_returns_once_the_stage_is_reached(client: Client, k: Kubectl):
    client.apply(a_version())

    def promote_later():
        time.sleep(2)
        write_status(k, "modelversion", "iris-0123", {"stage": "Canary", "conditions": [condition("Ready", "False")]})
        time.sleep(1)
        write_status(
            k, "modelversion", "iris-0123", {"stage": "Production", "conditions": [condition("Ready", "True")]}
        )

    writer = threading.Thread(target=promote_later)
    writer.start()
    started = time.monotonic()
    version = client.wait_for(ModelVersion, "iris-0123", stage=Stage.PRODUCTION, timeout=60)
    writer.join()
    assert version.status.stage == Stage.PRODUCTION and time.monotonic() - started < 30


def test_wait_for_fails_at_once_on_a_terminal_failure(client: Client, k: Kubectl):
    client.apply(a_version())
    write_status(
        k,
        "modelversion",
        "iris-0123",
        {"stage": "Failed", "conditions": [condition("Ready", "False", "CanaryFailed", "error rate 0.4 > 0.05")]},
    )
    started = time.monotonic()
    with pytest.raises(WaitFailed, match="CanaryFailed") as failed:
        client.wait_for(ModelVersion, "iris-0123", stage="Production", timeout=60)
    assert failed.value.last.status.stage == Stage.FAILED and time.monotonic() - started < 10


def test_wait_for_times_out_with_the_object_as_last_seen(client: Client):
    client.apply(a_version())
    with pytest.raises(WaitTimeout) as timed_out:
        client.wait_for(ModelVersion, "iris-0123", stage=Stage.PRODUCTION, timeout=3)
    assert timed_out.value.last.name == "iris-0123"


def test_no_kubeconfig_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ConfigError, match="no usable kubeconfig"):
        Client(kubeconfig=str(tmp_path / "missing"))
