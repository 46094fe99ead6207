"""The artifact store failing under Ballast: full, read-only, or robbed of an artifact behind
Ballast's back. Each is a condition with a clear reason, and nothing half-written ever
becomes a version.

The pods of each namespace here mount a store directory of this test's own (a small tmpfs,
a full one, a read-only bind mount) through a PersistentVolume bound in advance to the claim
Ballast uses; the operator sees the small one, where the ModelVersion lives.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

from tests.support.ballast_objects import condition, dataset, iris_rows, training_run, wait_for_condition
from tests.support.faults import fill_up, read_only_store, small_store, static_store_claim, store_directory
from tests.support.kube import Kubectl, wait_for

STORE_MOUNT = "file:///var/lib/ballast/"


def _local(store: Path, uri: str) -> Path:
    return store / uri.removeprefix(STORE_MOUNT)


def _files(store: Path) -> list[str]:
    return sorted(str(path.relative_to(store)) for path in store.rglob("*") if path.is_file())


def _refused(k: Kubectl, name: str) -> dict:
    """The Dataset once Ready is False: the ingest Job retries twice (the store may come back)
    before the Dataset says why."""
    return wait_for_condition(k, "dataset", name, "Ready", statuses=("False",), timeout=180)


def test_a_full_or_read_only_store_and_lost_artifacts_are_clear_conditions_and_never_versions(
    kubectl: Kubectl, faults, tmp_path: Path, report
):
    with ExitStack() as stack:
        namespaces = {role: faults.namespace(f"store-{role}") for role in ("small", "full", "read-only")}
        stores = {
            "small": stack.enter_context(small_store(tmp_path / "small", "4m")),
            "full": stack.enter_context(small_store(tmp_path / "full", "1m")),
            "read-only": stack.enter_context(read_only_store(tmp_path / "read-only", (namespaces["read-only"],))),
        }
        # Stores that filled up or turned read-only after use: the namespace's directory exists.
        store_directory(stores["full"], namespaces["full"])
        fill_up(stores["full"])
        for role, namespace in namespaces.items():
            for manifest in static_store_claim(namespace, stores[role]):
                kubectl.apply(manifest)
            stack.callback(kubectl.run, "delete", "persistentvolume", f"{namespace}-store", "--wait=false", check=False)
        faults.operator("store", tuple(namespaces.values()), store_dir=stores["small"])
        _run({role: kubectl.in_namespace(namespace) for role, namespace in namespaces.items()}, stores, report)


def _run(k: dict[str, Kubectl], stores: dict[str, Path], report) -> None:
    rows = iris_rows()
    # The ingests into the full and the read-only store go first: they take longest to give up.
    k["full"].apply(dataset("iris", {"inline": {"rows": rows}}))
    k["read-only"].apply(dataset("iris", {"inline": {"rows": rows}}))
    # While the small store has room: two valid versions and a registered model.
    small, store = k["small"], stores["small"]
    small.apply(dataset("iris", {"inline": {"rows": rows}}))
    small.apply(dataset("iris-b", {"inline": {"rows": rows[:140]}}))
    small.apply(training_run("keeper", "iris", model="iris-store"))
    for name in ("iris", "iris-b"):
        assert condition(wait_for_condition(small, "dataset", name, "Ready", timeout=180), "Ready")["status"] == "True"
    kept = wait_for_condition(small, "trainingrun", "keeper", "Succeeded", timeout=180)
    assert condition(kept, "Succeeded")["status"] == "True", condition(kept, "Succeeded")
    version = kept["status"]["modelVersion"]
    assert (
        condition(wait_for_condition(small, "modelversion", version, "Ready", timeout=60), "Ready")["status"] == "True"
    )

    # Behind Ballast's back: the model file and the first dataset's snapshot go; then the
    # small store fills up too.
    _local(store, kept["status"]["artifact"]["uri"]).unlink()
    _local(store, small.get_json("dataset", "iris")["status"]["versions"][0]["snapshotUri"]).unlink()
    lost_at = time.monotonic()
    filler_bytes = fill_up(store)
    small.apply(training_run("on-lost-data", "iris", model="iris-store", params={"C": 0.5}))
    when_full = training_run("when-full", "iris-b", model="iris-store")
    when_full["spec"]["backoffLimit"] = 0
    small.apply(when_full)

    missing = wait_for(
        lambda: (lambda d: d if condition(d, "Ready").get("reason") == "ArtifactMissing" else None)(
            small.get_json("modelversion", version)
        ),
        timeout=60,
        message="the ModelVersion to notice its artifact is gone",
    )
    noticed_seconds = time.monotonic() - lost_at
    assert condition(missing, "Ready")["status"] == "False"
    assert condition(missing, "ArtifactVerified")["status"] == "False"

    lost = condition(wait_for_condition(small, "trainingrun", "on-lost-data", "Succeeded", timeout=120), "Succeeded")
    assert (lost["status"], lost["reason"]) == ("False", "InvalidData"), lost
    assert "ArtifactMissing" in lost["message"], lost

    full = condition(wait_for_condition(small, "trainingrun", "when-full", "Succeeded", timeout=120), "Succeeded")
    assert (full["status"], full["reason"]) == ("False", "StoreUnavailable"), full
    assert "No space left on device" in full["message"], full

    for role, words in (("full", "No space left on device"), ("read-only", "Read-only file system")):
        refused = _refused(k[role], "iris")
        ready = condition(refused, "Ready")
        assert ready["reason"] == "StoreUnavailable" and words in ready["message"], (role, ready)
        assert "latestVersion" not in refused["status"] and not refused["status"].get("versions"), refused["status"]

    # Nothing half-written anywhere, and nothing became a version.
    assert [name for name in _files(store) if "partial" in name or name.startswith(".")] == [], _files(store)
    assert not list(store.rglob("model.skops")), _files(store)
    assert _files(stores["full"]) == ["filler"]
    assert _files(stores["read-only"]) == []
    assert [v["metadata"]["name"] for v in small.get_json("modelversions")["items"]] == [version]
    for name in ("on-lost-data", "when-full"):
        assert "modelVersion" not in small.get_json("trainingrun", name)["status"]
    report(
        f"store: a deleted model noticed in {noticed_seconds:.1f} s (ArtifactMissing), a run on a deleted "
        f"snapshot refused (InvalidData); a full store ({filler_bytes // 1024} KiB of filler) and a read-only "
        "one refused with StoreUnavailable; no partial file, no version, no ModelVersion from any of them"
    )
