"""What the runner does before a reconcile: objects an older Ballast handled lose kopf's
finalizer and status.kopf once; objects being deleted are not reconciled."""

from __future__ import annotations

from ballast.handlers import runner


def legacy_dataset() -> dict:
    return {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "Dataset",
        "metadata": {
            "name": "d",
            "namespace": "n",
            "resourceVersion": "7",
            "finalizers": ["example.com/keep", "ballast.dev/finalizer"],
        },
        "spec": {},
        "status": {"kopf": {"diffbase": "{}"}, "latestVersion": "abc"},
    }


def test_kopfs_finalizer_and_bookkeeping_are_taken_off_and_others_kept(monkeypatch):
    writes = []

    def set_finalizers(plural, namespace, name, finalizers, resource_version):
        writes.append(("finalizers", plural, finalizers, resource_version))
        return {**legacy_dataset(), "metadata": {**legacy_dataset()["metadata"], "finalizers": finalizers}}

    monkeypatch.setattr(runner.kube, "set_finalizers", set_finalizers)
    monkeypatch.setattr(runner.kube, "patch_status", lambda *args: writes.append(("status", *args)))
    cleaned = runner._without_kopf_leftovers("datasets", legacy_dataset())
    assert writes == [
        ("finalizers", "datasets", ["example.com/keep"], "7"),
        ("status", "datasets", "n", "d", {"kopf": None}),
    ]
    assert cleaned["metadata"]["finalizers"] == ["example.com/keep"]
    assert cleaned["status"] == {"latestVersion": "abc"}


def test_an_object_without_leftovers_is_not_written(monkeypatch):
    monkeypatch.setattr(runner.kube, "set_finalizers", lambda *a: (_ for _ in ()).throw(AssertionError(a)))
    monkeypatch.setattr(runner.kube, "patch_status", lambda *a: (_ for _ in ()).throw(AssertionError(a)))
    clean = {"metadata": {"name": "d", "namespace": "n", "resourceVersion": "1"}, "status": {"x": 1}}
    assert runner._without_kopf_leftovers("datasets", clean) == clean


def test_a_retry_waits_longer_after_each_failure_up_to_a_minute():
    delays = [runner.retry_delay(n) for n in range(1, 10)]
    assert delays[0] == runner.FIRST_RETRY_SECONDS
    assert delays == sorted(delays)
    assert delays[-1] == runner.LAST_RETRY_SECONDS


def test_a_reconcile_starts_from_the_queuing_events_body_and_reads_the_object_after_its_own_write(monkeypatch):
    from ballast.latest_bodies import LatestBodies
    from ballast.reconcile.outcome import Outcome
    from ballast.wakeups import ObjectKey
    from ballast.workqueue import WorkQueue

    key = ObjectKey("Dataset", "n", "d")
    event_body = {**legacy_dataset(), "metadata": {"name": "d", "namespace": "n", "resourceVersion": "8"}, "status": {}}
    read_body = {**event_body, "metadata": {**event_body["metadata"], "resourceVersion": "10"}}
    reads, reconciled = [], []

    def read(plural, namespace, name):
        reads.append(name)
        return read_body

    def reconcile(body, *, memo, indices, reporter, status_written):
        reconciled.append(body.metadata["resourceVersion"])
        status_written("Dataset", "n", "d", "9")  # its status write
        return Outcome()

    monkeypatch.setattr(runner.kube, "read_custom_object", read)
    monkeypatch.setattr(runner, "TIMED", {"Dataset": reconcile})
    bodies: LatestBodies[ObjectKey] = LatestBodies()
    worker = runner.Runner(WorkQueue(), {}, reporter="test", bodies=bodies)
    bodies.observe(key, event_body, queued=True)
    worker._reconcile(key)
    assert (reads, reconciled) == ([], ["8"]), "the event's body, no GET"
    bodies.observe(key, {**event_body, "metadata": {**event_body["metadata"], "resourceVersion": "8"}}, queued=True)
    worker._reconcile(key)
    assert (reads, reconciled) == (["d"], ["8", "10"]), "a body from before its own write is read afresh"
