"""Row 12 of issue 12: what live objects reference, `ballast gc` (retention, dry run first) and
`ballast erase dataset`, against a file:// store in tmp_path and object dicts (no cluster)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from ballast import cli
from ballast.api.annotations import TRAINING_SPEC_ANNOTATION
from ballast.commands import api, gc
from ballast.commands import erase as erasing
from ballast.lifecycle.erasure import plan_erasure
from ballast.lifecycle.objects import live_objects
from ballast.lifecycle.references import VersionDirectory, referenced_directories
from ballast.lifecycle.retention import (
    AGE_UNKNOWN,
    RECENT_VERSION,
    REFERENCED,
    TOO_YOUNG,
    UNREFERENCED,
    Retention,
    plan_gc,
    stored_versions,
)
from ballast.store import ArtifactStore
from ballast.store.objects import StoredObject

NOW = datetime(2026, 6, 1, tzinfo=UTC)
D = [f"{i:x}" * 64 for i in range(1, 8)]  # dataset versions, D[0] the oldest
M = ["a" * 64, "b" * 64, "c" * 64]  # model artifacts


def dataset(name, versions):
    return {
        "metadata": {"name": name},
        "spec": {},
        "status": {
            "latestVersion": versions[0] if versions else None,
            "versions": [
                {"sha256": v, "valid": True, "snapshotUri": f"{BASE}/datasets/{name}/{v}/data.parquet"}
                for v in versions
            ],
        },
    }


def run(name, version, artifact=None, pinned_in_spec=False, model_version=None):
    spec = {"model": "credit", "datasetRef": {"name": "credit", **({"version": version} if pinned_in_spec else {})}}
    status = {} if pinned_in_spec else {"datasetVersion": version}
    if artifact:
        status["artifact"] = {"uri": f"{BASE}/models/credit/{artifact}/model.skops", "sha256": artifact}
    if model_version:
        status["modelVersion"] = model_version
    return {"metadata": {"name": name}, "spec": spec, "status": status}


def model_version(name, artifact, dataset_version, stage=None, run_name=None, recorded_only=False):
    spec = {"model": "credit", "artifact": {"uri": f"{BASE}/models/credit/{artifact}/model.skops", "sha256": artifact}}
    annotations = {}
    if recorded_only:
        annotations[TRAINING_SPEC_ANNOTATION] = json.dumps(
            {"datasetRef": {"name": "credit", "version": dataset_version}}
        )
    else:
        spec["source"] = {
            "dataset": {"name": "credit", "version": dataset_version},
            **({"trainingRun": run_name} if run_name else {}),
        }
    return {
        "metadata": {"name": name, "annotations": annotations},
        "spec": spec,
        "status": {"stage": stage} if stage else {},
    }


def policy(name, run_name, version_name):
    return {
        "metadata": {"name": name},
        "status": {
            "firings": [
                {
                    "time": "2026-05-01T00:00:00Z",
                    "reason": "FeatureDrift",
                    "action": "retrain",
                    "trainingRun": run_name,
                    "modelVersion": version_name,
                }
            ]
        },
    }


BASE = "file:///store/ml"
"""The namespace's store root the objects' URIs were written against (set by the store fixture)."""


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    global BASE
    BASE = f"file://{tmp_path}/store/ml"
    return ArtifactStore(f"file://{tmp_path}/store/ml")


def put(store: ArtifactStore, key: str, days_old: float, data: bytes = b"x") -> None:
    store.write_bytes_once(key, data)
    path = os.path.join(store.root.path, *key.split("/"))
    stamp = (NOW - timedelta(days=days_old)).timestamp()
    os.utime(path, (stamp, stamp))


def fill(store: ArtifactStore) -> None:
    """Seven versions of Dataset credit (D[0] oldest, 70 days; D[6] 10 days) and three models."""
    for age, version in zip(range(70, 0, -10), D):
        put(store, f"datasets/credit/{version}/data.parquet", age)
        put(store, f"datasets/credit/{version}/metadata.json", age)
    for age, artifact in zip((60, 40, 20), M):
        put(store, f"models/credit/{artifact}/model.skops", age)
        put(store, f"models/credit/{artifact}/metadata.json", age)
    put(store, "datasets/gone/" + D[0] + "/metadata.json", 90)  # its Dataset was deleted
    put(store, "README", 90)  # not a version directory: never gc's


def objects():
    """Status lists D[5], D[6]; run-old trained M[0] on D[0] (its ModelVersion was deleted, a
    firing still names the run); mv-b (Production) came from D[1]; run-pinned waits for D[2]."""
    return live_objects(
        datasets=[dataset("credit", [D[6], D[5]])],
        runs=[run("run-old", D[0], artifact=M[0]), run("run-pinned", D[2], pinned_in_spec=True)],
        model_versions=[model_version("mv-b", M[1], D[1], stage="Production", recorded_only=True)],
        drift_policies=[policy("drift", "run-old", "mv-b")],
    )


def test_references_follow_every_kind_to_version_directories(store):
    references = referenced_directories(objects(), store.root)
    data = {d.sha256: who for d, who in references.referrers.items() if d.kind == "datasets"}
    models = {d.sha256: who for d, who in references.referrers.items() if d.kind == "models"}
    assert set(data) == {D[0], D[1], D[2], D[5], D[6]}
    assert data[D[6]] == ("Dataset credit",)
    assert data[D[0]] == ("TrainingRun run-old", "DriftPolicy drift (firing at 2026-05-01T00:00:00Z)")
    assert data[D[1]] == ("ModelVersion mv-b",)  # from the recorded training spec
    assert data[D[2]] == ("TrainingRun run-pinned",)
    assert set(models) == {M[0], M[1]}
    assert references.outside == ()
    assert VersionDirectory("models", "credit", M[2]) not in references


def test_a_uri_outside_the_namespace_store_is_reported_not_resolved(store):
    foreign = live_objects([], [], [model_version("x", M[2], D[0])], [])
    other_store = ArtifactStore("file:///elsewhere/ml")
    assert referenced_directories(foreign, other_store.root).outside == (f"{BASE}/models/credit/{M[2]}/model.skops",)


def test_gc_deletes_only_unreferenced_versions_beyond_the_newest(store):
    fill(store)
    decisions, references = gc.plan(store, gc.list_versions(store), objects(), Retention(keep_versions=2), NOW)
    verdict = {(d.version.directory.name, d.version.directory.sha256): d.reason for d in decisions}
    assert verdict == {
        ("credit", D[6]): REFERENCED,
        ("credit", D[5]): REFERENCED,
        ("credit", D[4]): UNREFERENCED,
        ("credit", D[3]): UNREFERENCED,
        ("credit", D[2]): REFERENCED,
        ("credit", D[1]): REFERENCED,
        ("credit", D[0]): REFERENCED,
        ("gone", D[0]): RECENT_VERSION,
        ("credit", M[2]): RECENT_VERSION,
        ("credit", M[1]): REFERENCED,
        ("credit", M[0]): REFERENCED,
    }
    text = gc.report(decisions, references, applied=False)
    assert f"datasets/credit/{D[4]}" in text and "would delete 2 of 11 versions" in text and "dry run" in text
    assert len(store.list()) == 22  # a dry run deletes nothing
    deleted = gc.apply_plan(store, decisions, references)
    assert deleted == [f"datasets/credit/{D[3]}", f"datasets/credit/{D[4]}"]
    remaining = {o.key.rsplit("/", 1)[0] for o in store.list()}
    assert f"datasets/credit/{D[3]}" not in remaining and f"datasets/credit/{D[2]}" in remaining
    assert "README" in {o.key for o in store.list()}


def test_older_than_keeps_what_is_younger_and_what_has_no_time():
    young = StoredObject(f"datasets/credit/{D[0]}/metadata.json", 1, NOW - timedelta(days=5))
    old = StoredObject(f"datasets/credit/{D[1]}/metadata.json", 1, NOW - timedelta(days=50))
    timeless = StoredObject(f"datasets/credit/{D[2]}/metadata.json", 1, None)
    newest = StoredObject(f"datasets/credit/{D[3]}/metadata.json", 1, NOW)
    versions = stored_versions([young, old, timeless, newest])
    nothing = referenced_directories(live_objects([], [], [], []), ArtifactStore("file:///s").root)
    decisions = plan_gc(versions, nothing, Retention(keep_versions=1, older_than=timedelta(days=30)), NOW)
    reasons = {d.version.directory.sha256: d.reason for d in decisions}
    # a version whose time is unknown counts as the newest (so it takes the one slot kept)
    assert reasons == {D[2]: RECENT_VERSION, D[3]: TOO_YOUNG, D[0]: TOO_YOUNG, D[1]: UNREFERENCED}
    decisions = plan_gc(
        stored_versions([timeless, newest, old]),
        nothing,
        Retention(keep_versions=2, older_than=timedelta(days=30)),
        NOW,
    )
    assert [d.reason for d in decisions if d.version.directory.sha256 == D[1]] == [UNREFERENCED]
    with pytest.raises(ValueError):
        Retention(keep_versions=0)
    also_timeless = StoredObject(f"datasets/credit/{D[4]}/metadata.json", 1, None)
    decisions = plan_gc(
        stored_versions([timeless, also_timeless]),
        nothing,
        Retention(keep_versions=1, older_than=timedelta(days=30)),
        NOW,
    )
    assert sorted(d.reason for d in decisions) == [AGE_UNKNOWN, RECENT_VERSION]


def test_gc_refuses_to_apply_when_recorded_uris_are_outside_the_store_it_was_given(tmp_path):
    elsewhere = ArtifactStore(f"file://{tmp_path}/other/ml")
    put(elsewhere, f"datasets/credit/{D[0]}/metadata.json", 90)
    put(elsewhere, f"datasets/credit/{D[1]}/metadata.json", 80)
    decisions, references = gc.plan(elsewhere, gc.list_versions(elsewhere), objects(), Retention(keep_versions=1), NOW)
    assert references.outside
    with pytest.raises(gc.GcRefused):
        gc.apply_plan(elsewhere, decisions, references)
    assert len(elsewhere.list()) == 2


def test_erasure_lists_what_it_invalidates_and_refuses_a_production_model_unless_forced(store):
    fill(store)
    live = live_objects(
        datasets=[dataset("credit", [D[6], D[1]])],
        runs=[run("run-b", D[1], artifact=M[1], model_version="mv-b")],
        model_versions=[
            model_version("mv-b", M[1], D[1], stage="Production", run_name="run-b"),
            model_version("mv-c", M[2], D[6], stage="Staging"),
        ],
        drift_policies=[policy("drift", "run-b", "mv-a")],
    )
    plan = plan_erasure(live, "credit", D[1])
    assert [r.name for r in plan.runs] == ["run-b"] and [v.name for v in plan.model_versions] == ["mv-b"]
    assert [f.policy for f in plan.firings] == ["drift"] and plan.listed_by_dataset
    assert "mv-b in Production" in plan.refusal
    with pytest.raises(ValueError):
        erasing.erase(store, plan)
    text = erasing.report(plan, erasing.stored_version_of(store, plan), applied=False)
    assert "TrainingRun run-b" in text and "ModelVersion mv-b (stage Production)" in text and "refused:" in text
    forced = plan_erasure(live, "credit", D[1], force=True)
    assert forced.refusal is None
    assert erasing.erase(store, forced) == 2
    assert not any(o.key.startswith(f"datasets/credit/{D[1]}/") for o in store.list())
    assert store.exists(f"models/credit/{M[1]}/model.skops")  # the model stays: listed, not deleted
    with pytest.raises(ValueError):
        plan_erasure(live, "credit", "not-a-sha")


def test_the_commands_dry_run_by_default_and_delete_with_apply(store, monkeypatch):
    fill(store)
    lists = {
        "datasets": [dataset("credit", [D[6], D[5]])],
        "trainingruns": [],
        "modelversions": [],
        "driftpolicies": [],
    }
    monkeypatch.setattr(api, "connect", lambda target: api.Cluster(None, target.namespace or "default"))
    monkeypatch.setattr(api, "list_all", lambda _api, _ns, plural: lists[plural])
    root = store.root.path.rsplit("/", 1)[0]
    runner = CliRunner()
    dry = runner.invoke(
        cli.main, ["gc", "-n", "ml", "--store", f"file://{root}", "--keep-versions", "2", "--older-than", "25d"]
    )
    assert dry.exit_code == 0, dry.output
    assert "would delete 6 of 11 versions" in dry.output and len(store.list()) == 22
    applied = runner.invoke(
        cli.main,
        ["gc", "-n", "ml", "--store", f"file://{root}", "--keep-versions", "2", "--older-than", "25d", "--apply"],
    )
    assert applied.exit_code == 0 and "deleted 6 of 11" in applied.output
    assert {o.key.rsplit("/", 1)[0] for o in store.list() if "/" in o.key} == {
        f"datasets/credit/{D[6]}",
        f"datasets/credit/{D[5]}",
        f"datasets/gone/{D[0]}",
        f"models/credit/{M[2]}",
        f"models/credit/{M[1]}",
    }
    refused = runner.invoke(
        cli.main, ["erase", "dataset", "credit", "--version", D[6], "-n", "ml", "--store", f"file://{root}"]
    )
    assert refused.exit_code == 0 and "dry run" in refused.output
    erased = runner.invoke(
        cli.main, ["erase", "dataset", "credit", "--version", D[6], "-n", "ml", "--store", f"file://{root}", "--apply"]
    )
    assert erased.exit_code == 0 and f"erased datasets/credit/{D[6]}" in erased.output
    assert not any(o.key.startswith(f"datasets/credit/{D[6]}") for o in store.list())
    # each deletion is in the audit trail of its Dataset or model, outside the namespace's part
    trail = runner.invoke(
        cli.main, ["audit", "credit", "--dataset", "-n", "ml", "--store", f"file://{root}", "-o", "json"]
    )
    assert trail.exit_code == 0, trail.output
    recorded = [(e["reason"], e["name"]) for e in json.loads(trail.output)["items"]]
    assert ("Erased", f"datasets/credit/{D[6]}") in recorded and len(recorded) == 6
    models = runner.invoke(cli.main, ["audit", "credit", "-n", "ml", "--store", f"file://{root}", "-o", "json"])
    assert [e["name"] for e in json.loads(models.output)["items"]] == [f"models/credit/{M[0]}"]


def test_gc_all_namespaces_collects_each_namespace_of_the_store_on_its_own(tmp_path, monkeypatch):
    """Namespaces come from the store's top level; each is planned against its own part and its
    own objects, and a refusal in one stops only that one (the command then exits 1)."""
    root = tmp_path / "store"
    ml, other = ArtifactStore(f"file://{root}/ml"), ArtifactStore(f"file://{root}/team-b")
    for store, days in ((ml, 0), (other, 0)):
        for age, version in zip(range(70, 30, -10), D):
            put(store, f"datasets/credit/{version}/metadata.json", age + days)
    (root / "lost+found").mkdir()
    own = {"ml": f"file://{root}/ml", "team-b": f"file://{root}/team-b"}

    def listing(pointing_at: dict[str, str]):
        def list_all(_api, namespace, plural):
            if plural != "datasets":
                return []
            base = pointing_at[namespace]
            return [
                {
                    "metadata": {"name": "credit"},
                    "status": {
                        "latestVersion": D[3],
                        "versions": [{"sha256": D[3], "snapshotUri": f"{base}/datasets/credit/{D[3]}/data.parquet"}],
                    },
                }
            ]

        return list_all

    monkeypatch.setattr(api, "connect", lambda target: api.Cluster(None, target.namespace or "default"))
    monkeypatch.setattr(api, "list_all", listing(own))
    runner = CliRunner()
    args = ["gc", "-A", "--store", f"file://{root}", "--keep-versions", "1"]
    dry = runner.invoke(cli.main, args)
    assert dry.exit_code == 0, dry.output
    assert "2 namespaces in" in dry.output and "ml, team-b" in dry.output and "lost+found" not in dry.output
    assert dry.output.count("would delete 3 of 4 versions") == 2
    assert len(ml.list()) == len(other.list()) == 4

    # team-b's Dataset records a URI in ml's part: team-b is refused, ml is collected
    monkeypatch.setattr(api, "list_all", listing({"ml": own["ml"], "team-b": own["ml"]}))
    applied = runner.invoke(cli.main, [*args, "--apply"])
    assert applied.exit_code == 1
    ml_report, team_b_report = applied.output.split("namespace ml:\n")[1].split("namespace team-b:\n")
    assert "\ndeleted 3 of 4 versions" in ml_report and "refused" not in ml_report
    assert "would delete 3 of 4 versions" in team_b_report and "refused:" in team_b_report
    assert "in 1 namespaces: team-b" in team_b_report
    assert [o.key for o in ml.list()] == [f"datasets/credit/{D[3]}/metadata.json"]
    assert len(other.list()) == 4  # nothing of team-b's, and team-b's objects kept nothing of ml's

    both = runner.invoke(cli.main, [*args, "-n", "ml"])
    assert both.exit_code == 2 and "exclude each other" in both.output


def test_gc_goes_on_when_one_namespace_cannot_be_read(tmp_path, monkeypatch):
    from kubernetes.client.exceptions import ApiException

    root = tmp_path / "store"
    for namespace in ("denied", "ml"):
        put(ArtifactStore(f"file://{root}/{namespace}"), f"datasets/credit/{D[0]}/metadata.json", 40)
        put(ArtifactStore(f"file://{root}/{namespace}"), f"datasets/credit/{D[1]}/metadata.json", 30)

    def list_all(_api, namespace, plural):
        if namespace == "denied":
            raise ApiException(status=403, reason="Forbidden")
        return []

    monkeypatch.setattr(api, "connect", lambda target: api.Cluster(None, target.namespace or "default"))
    monkeypatch.setattr(api, "list_all", list_all)
    result = CliRunner().invoke(cli.main, ["gc", "-A", "--store", f"file://{root}", "--keep-versions", "1", "--apply"])
    assert result.exit_code == 1
    assert "namespace denied: not collected: the API answered 403 Forbidden" in result.output
    assert "deleted 1 of 2 versions" in result.output
    # what could not be read is never taken for "nothing references it"
    assert len(ArtifactStore(f"file://{root}/denied").list()) == 2
    assert len(ArtifactStore(f"file://{root}/ml").list()) == 1
