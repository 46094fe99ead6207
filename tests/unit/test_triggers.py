"""Which watch events queue which reconciles (ballast.handlers.triggers)."""

from __future__ import annotations

import kopf
import pytest

from ballast.handlers import triggers
from ballast.reconcile.serving import Sibling
from ballast.wakeups import ObjectKey
from ballast.workqueue import WorkQueue


class Index(dict):
    """What a kopf index answers: a store of values per key."""

    def get(self, key, default=()):
        return super().get(key, default)


INDICES = {
    "runs_by_dataset": Index({("ml", "credit"): ["run-1", "run-2"]}),
    "policies_by_dataset": Index({("ml", "credit"): ["watch"]}),
    "policies_by_model": Index({("ml", "m"): ["watch"]}),
    "model_versions": Index({("ml", "m"): [Sibling("v1", "Production", None), Sibling("v2", "Candidate", None)]}),
}


@pytest.fixture
def queued(monkeypatch):
    queue: WorkQueue[ObjectKey] = WorkQueue()
    monkeypatch.setattr(triggers, "QUEUE", queue)
    monkeypatch.setattr(triggers, "SEEN", triggers.SeenObjects())

    def drain() -> set[ObjectKey]:
        keys = set()
        while len(queue):
            key = queue.take()
            keys.add(key)
            queue.done(key)
        return keys

    return drain


def version(generation=1, stage="Candidate", annotations=None, ready=0, traffic=0):
    return kopf.Body(
        {
            "apiVersion": "ballast.dev/v1alpha1",
            "kind": "ModelVersion",
            "metadata": {"name": "v2", "namespace": "ml", "generation": generation, "annotations": annotations or {}},
            "spec": {"model": "m"},
            "status": {"stage": stage, "readyReplicas": ready, "trafficPercent": traffic},
        }
    )


def test_a_first_event_queues_the_object_and_the_objects_that_read_it(queued):
    triggers.own_event("ModelVersion", None, version(), INDICES)
    assert queued() == {
        ObjectKey("ModelVersion", "ml", "v2"),
        ObjectKey("ModelVersion", "ml", "v1"),
        ObjectKey("DriftPolicy", "ml", "watch"),
    }


def test_its_own_status_write_queues_nothing(queued):
    triggers.own_event("ModelVersion", None, version(), INDICES)
    queued()
    triggers.own_event("ModelVersion", "MODIFIED", version(traffic=100), INDICES)  # not read by others
    assert queued() == set()


def test_a_spec_or_annotation_change_queues_the_object_a_stage_change_its_readers(queued):
    triggers.own_event("ModelVersion", None, version(), INDICES)
    queued()
    triggers.own_event("ModelVersion", "MODIFIED", version(generation=2), INDICES)
    assert queued() == {ObjectKey("ModelVersion", "ml", "v2")}
    triggers.own_event("ModelVersion", "MODIFIED", version(generation=2, annotations={"r": "now"}), INDICES)
    assert queued() == {ObjectKey("ModelVersion", "ml", "v2")}
    triggers.own_event(
        "ModelVersion", "MODIFIED", version(generation=2, annotations={"r": "now"}, stage="Canary"), INDICES
    )
    assert queued() == {ObjectKey("ModelVersion", "ml", "v1"), ObjectKey("DriftPolicy", "ml", "watch")}


def test_a_datasets_new_version_wakes_its_runs_and_policies(queued):
    dataset = {"apiVersion": "ballast.dev/v1alpha1", "kind": "Dataset", "spec": {"source": {}}}
    first = kopf.Body({**dataset, "metadata": {"name": "credit", "namespace": "ml", "generation": 1}, "status": {}})
    triggers.own_event("Dataset", None, first, INDICES)
    queued()
    newer = kopf.Body(
        {**dataset, "metadata": {"name": "credit", "namespace": "ml", "generation": 1}, "status": {"latest": "b"}}
    )
    triggers.own_event("Dataset", "MODIFIED", newer, INDICES)
    assert queued() == {
        ObjectKey("TrainingRun", "ml", "run-1"),
        ObjectKey("TrainingRun", "ml", "run-2"),
        ObjectKey("DriftPolicy", "ml", "watch"),
    }


def test_a_deleted_object_is_forgotten_and_its_readers_woken(queued):
    triggers.own_event("ModelVersion", None, version(), INDICES)
    queued()
    triggers.QUEUE.add(ObjectKey("ModelVersion", "ml", "v2"), after=60)
    triggers.own_event("ModelVersion", "DELETED", version(), INDICES)
    assert queued() == {ObjectKey("ModelVersion", "ml", "v1"), ObjectKey("DriftPolicy", "ml", "watch")}
    assert triggers.QUEUE.next_due_in(ObjectKey("ModelVersion", "ml", "v2")) is None
    triggers.own_event("ModelVersion", "MODIFIED", version(), INDICES)
    assert ObjectKey("ModelVersion", "ml", "v2") in queued(), "seen again after deletion: a new object"


def test_a_childs_event_queues_its_owner(queued):
    job = kopf.Body(
        {
            "metadata": {
                "name": "credit-ingest-1-0",
                "namespace": "ml",
                "labels": {"app.kubernetes.io/component": "ingest", "app.kubernetes.io/instance": "credit"},
            }
        }
    )
    triggers.child_event(job)
    assert queued() == {ObjectKey("Dataset", "ml", "credit")}
