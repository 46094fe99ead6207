"""The operator under fire: SIGKILLed at random moments of its reconciliation a hundred
times, and cut off from a restarting kube-apiserver and etcd. Each time it must end where an
operator left alone ends, without duplicate, orphaned or stuck objects.

The control-plane restart is the last test of this file, and runs first in the session
(conftest.FIRST_IN_SESSION): before any operator of the session's own exists to log the
outage, and before any other fault test has work in flight on the shared cluster.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections import Counter
from pathlib import Path

import pytest

from ballast.audit.chain import verify
from ballast.build.serving import serving_deployment_name
from ballast.reconcile.durations import parse_time
from tests.faults.children import CreationRecorder, children_by_kind, inventory, orphans, replica_sets_per_deployment
from tests.faults.workload import KINDS, canonical, drift_traffic, waves
from tests.support.ballast_objects import (
    condition,
    dataset,
    iris_rows,
    training_run,
    wait_for_condition,
    wait_for_stage,
)
from tests.support.faults import ForkedOperator, restart_control_plane
from tests.support.kube import Kubectl, shared_store_dir, wait_for

KILLS = int(os.environ.get("BALLAST_FAULT_KILLS", "100"))
KILL_INTERVAL_SECONDS = (0.3, 2.0)
# Each wave is applied just before the kill at this share of the storm: work keeps arriving.
WAVE_AT = (0.0, 0.2, 0.4, 0.6)
CONVERGE_TIMEOUT = 240


BALLAST_OBJECTS = ",".join(kind.resource for kind in KINDS.values())
ONCE_PER_DECISION = ("Trained", "GateFailed", "Promoted", "RolledBack", "DriftDetected")
"""Audit reasons a run of the workload records a fixed number of times, however often it is killed."""


def audit_trail(namespace: str) -> list[dict]:
    """Every entry of the namespace's audit logs, each log's chain verified whole."""
    entries = []
    for log in sorted((shared_store_dir() / "ballast.audit" / namespace).rglob("*.jsonl")):
        verified = verify(log.read_bytes())
        assert verified.ok, f"{log} is broken at line {verified.bad_line}: {verified.problem}"
        entries += [entry.model_dump(by_alias=True) for entry in verified.entries]
    return entries


def decisions_recorded(entries: list[dict]) -> Counter:
    return Counter(
        (entry["kind"], canonical(entry["name"]), entry["reason"])
        for entry in entries
        if entry["reason"] in ONCE_PER_DECISION
    )


def outcomes(k: Kubectl) -> dict[tuple[str, str], dict | None]:
    """The outcome of every object of every kind in KINDS, or None for one not settled yet."""
    return {
        (d["kind"], canonical(d["metadata"]["name"])): KINDS[d["kind"]].outcome(d)
        if KINDS[d["kind"]].settled(d)
        else None
        for d in k.get_json(BALLAST_OBJECTS)["items"]
    }


def children(k: Kubectl) -> dict[str, list[str]]:
    return {kind: sorted(map(canonical, names)) for kind, names in children_by_kind(k).items()}


def all_settled(k: Kubectl, applied: set[tuple[str, str]]) -> dict | None:
    """Every outcome, once every applied object and every ModelVersion a run names has settled."""
    found = outcomes(k)
    registered = {("ModelVersion", o["modelVersion"]) for o in found.values() if o and o.get("modelVersion")}
    return found if (applied | registered) <= set(found) and None not in found.values() else None


def unsettled(k: Kubectl) -> dict:
    """For a failure message: the status of every object not settled, less the bulky parts."""
    return {
        f"{d['kind']}/{d['metadata']['name']}": {
            key: value
            for key, value in (d.get("status") or {}).items()
            if key not in ("kopf", "reproducibility", "metrics")
        }
        for d in k.get_json(BALLAST_OBJECTS)["items"]
        if not KINDS[d["kind"]].settled(d)
    }


def kill_storm(storm: ForkedOperator, rng: random.Random, wave_targets: list[Kubectl]) -> float:
    """KILLS SIGKILLs at random moments, each followed at once by a restart, except the last;
    the waves of the workload are applied along the way. Returns how long it took."""
    began = time.monotonic()
    kills_with_a_wave = {int(share * KILLS): index for index, share in enumerate(WAVE_AT)}
    waves_of = {k.namespace: waves(k.namespace) for k in wave_targets}
    for kill in range(KILLS):
        if kill in kills_with_a_wave:
            for k in wave_targets:
                k.apply({"apiVersion": "v1", "kind": "List", "items": waves_of[k.namespace][kills_with_a_wave[kill]]})
        time.sleep(rng.uniform(*KILL_INTERVAL_SECONDS))
        storm.kill()
        if kill < KILLS - 1:
            storm.start()
    return time.monotonic() - began


def test_sigkilled_a_hundred_times_the_operator_converges_as_if_left_alone(
    kubectl: Kubectl, api, faults, tmp_path: Path, report
):
    seed = int(os.environ.get("BALLAST_FAULT_SEED", random.randrange(1 << 32)))
    storm_ns, calm_ns = faults.namespace("storm"), faults.namespace("calm")
    storm_k, calm_k = kubectl.in_namespace(storm_ns), kubectl.in_namespace(calm_ns)
    store = {"store_dir": shared_store_dir()}
    # the reference: the same workload at the same moments, under an operator left alone
    calm = faults.operator("calm", (calm_ns,), **store)
    applied = {(o["kind"], o["metadata"]["name"]) for wave in waves(storm_ns) for o in wave}

    storm = ForkedOperator(kubectl.kubeconfig, tmp_path / "storm.log", namespaces=(storm_ns,), **store)
    with (
        CreationRecorder(api, storm_ns) as recorder,
        CreationRecorder(api, calm_ns) as calm_recorder,
        drift_traffic(storm_k),
        drift_traffic(calm_k),
    ):
        with storm:
            storm_seconds = kill_storm(storm, random.Random(seed), [storm_k, calm_k])
            storm_ended = time.time()
            in_flight = sum(outcome is None for outcome in outcomes(storm_k).values())

        # The last restart is a plain cold start, left alone from now on.
        final_began = time.monotonic()
        final = faults.operator("after-storm", (storm_ns,), **store)
        try:
            settled = wait_for(
                lambda: all_settled(storm_k, applied),
                timeout=CONVERGE_TIMEOUT,
                interval=0.5,
                message=f"the storm's objects to settle (seed {seed})",
            )
        except AssertionError as error:
            raise AssertionError(
                f"{error}; unsettled: {unsettled(storm_k)}; the operator's log ends:\n"
                + "\n".join(final.log.read_text().splitlines()[-40:])
            ) from None
        converge_seconds = time.monotonic() - final_began
        try:
            reference = wait_for(
                lambda: all_settled(calm_k, applied),
                timeout=CONVERGE_TIMEOUT,
                interval=1,
                message="the undisturbed run to settle",
            )
        except AssertionError as error:
            raise AssertionError(
                f"{error}; unsettled: {unsettled(calm_k)}; its operator's problems: {calm.log_problems()[:5]}"
            ) from None
        differing = {
            key: {"after the storm": settled.get(key), "undisturbed": reference.get(key)}
            for key in set(settled) | set(reference)
            if settled.get(key) != reference.get(key)
        }
        assert not differing, f"the storm (seed {seed}) ended elsewhere than the undisturbed run: {differing}"
        try:  # the serving pods, and the Jobs of finished ingests, take a moment to follow
            wait_for(
                lambda: children(storm_k) == children(calm_k),
                timeout=60,
                interval=1,
                message="the same children as the undisturbed run",
            )
            wait_for(lambda: not orphans(inventory(storm_k)), timeout=60, interval=1, message="no orphaned children")
        except AssertionError as error:
            raise AssertionError(
                f"{error}; storm {children(storm_k)}, undisturbed {children(calm_k)},"
                f" orphans {orphans(inventory(storm_k))}"
            ) from None

    [policy] = storm_k.get_json("driftpolicies")["items"]
    [firing] = policy["status"]["firings"]  # the outcomes compared equal: one firing in both
    fired = parse_time(firing["time"]).timestamp() - storm_ended

    storm_items, calm_items = inventory(storm_k), inventory(calm_k)
    assert replica_sets_per_deployment(storm_items) == replica_sets_per_deployment(calm_items)
    assert all(count == 1 for count in replica_sets_per_deployment(storm_items).values())
    assert not recorder.errors and not calm_recorder.errors, recorder.errors + calm_recorder.errors
    # Every child the storm ever had, the undisturbed run had too.
    for kind in ("Job", "Deployment", "ModelVersion"):
        assert set(map(canonical, recorder.names(kind))) == set(map(canonical, calm_recorder.names(kind))), kind
    # Deployments, ModelVersions and training Jobs are never deleted by Ballast: a second uid
    # under one name is a duplicate. A finished ingest Job is deleted before the status that
    # records its result is written; a kill between the two makes the next operator run that
    # ingest again (same name, same result). Counted and reported, not failed on.
    recreated = recorder.created_more_than_once()
    ingest_jobs = {f"Job/{name}" for name in recorder.names("Job") if "-ingest-" in name}
    assert set(recreated) <= ingest_jobs, f"children deleted and created again during the storm: {recreated}"
    assert final.log_problems() == [], "the operator's log after the last restart:\n" + "\n".join(final.log_problems())
    assert calm.log_problems() == []
    # The audit trail: each chain whole, no decision doubled (one id once) or lost (the same
    # decisions, as often, as the undisturbed run's) across the kills.
    storm_trail, calm_trail = audit_trail(storm_ns), audit_trail(calm_ns)
    assert len({entry["id"] for entry in storm_trail}) == len(storm_trail)
    assert decisions_recorded(storm_trail) == decisions_recorded(calm_trail), (storm_trail, calm_trail)

    deletion_began = time.monotonic()
    storm_k.run("delete", BALLAST_OBJECTS, "--all", "--wait=false")
    wait_for(
        lambda: not storm_k.get_json(BALLAST_OBJECTS)["items"],
        timeout=60,
        interval=0.5,
        message="every Ballast object gone (no finalizer left stuck)",
    )
    wait_for(
        lambda: not [item for item in inventory(storm_k) if item["kind"] != "PersistentVolumeClaim"],
        timeout=90,
        interval=1,
        message="every child collected with its owner",
    )
    deletion_seconds = time.monotonic() - deletion_began

    tracebacks = [line for line in storm.log_problems() if "Traceback" in line]
    report(
        f"kill storm: {KILLS} SIGKILLs in {storm_seconds:.0f} s (seed {seed}); restart to healthy "
        f"mean {statistics.mean(storm.restart_seconds):.2f} s, max {max(storm.restart_seconds):.2f} s; "
        f"tracebacks in the storm's own log: {len(tracebacks)}"
    )
    report(
        f"kill storm: converged {converge_seconds:.1f} s after the last (cold) restart; {len(reference)} objects "
        f"({in_flight} still in flight at the last kill), {len(recorder.names('Job'))} Jobs ever created; "
        f"ingest Jobs run again because a kill lost their result: {sorted(recreated) or 'none'}; "
        f"deleted with their children in {deletion_seconds:.1f} s"
    )
    report(
        f"kill storm: the DriftPolicy fired once, {abs(fired):.0f} s {'before' if fired < 0 else 'after'} the last "
        f"kill; its retrain {firing['trainingRun']} ended {firing['outcome']}"
    )


def _operators_of_this_session() -> list[int]:
    """`ballast operator` processes that this pytest process started and still runs."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if parent == os.getpid() and b"operator" in command and any(part.endswith(b"ballast") for part in command):
            found.append(int(entry.name))
    return found


def test_kube_apiserver_and_etcd_restart_while_the_operator_works(kubectl: Kubectl, faults, report):
    others = _operators_of_this_session()
    if others:
        pytest.skip(
            f"this session runs another operator (pids {others}, e.g. conftest's ballast_operator): kopf "
            "would log the outage as ERROR lines and fail that operator's log check; run the fault suite "
            "in a session of its own (make test-faults)"
        )
    namespace = faults.namespace("apiserver")
    k = kubectl.in_namespace(namespace)
    # One operator, not a pair: with leader election an outage longer than its renew deadline
    # makes the leader exit for kubelet to restart it (as restart_control_plane sees the
    # controller manager do), and this test watches one process ride the outage out.
    operator = faults.operator(
        "apiserver", (namespace,), store_dir=shared_store_dir(), env={"BALLAST_LEADER_ELECTION": "false"}
    )
    k.apply(dataset("iris", {"inline": {"rows": iris_rows()}}))
    run = training_run(
        "served", "iris", model="iris-restart", estimator="sklearn.tree.DecisionTreeClassifier", params={"max_depth": 3}
    )
    run["spec"]["modelVersionTemplate"] = {"serving": {"replicas": 1}, "rollout": {"strategy": "Immediate"}}
    k.apply(run)
    # mid-flight: the Dataset is done and the training Job exists
    wait_for(
        lambda: k.get_json("jobs", "-l", "app.kubernetes.io/instance=served")["items"],
        timeout=240,
        message="the training Job",
    )

    restart = restart_control_plane(kubectl)
    reconnect_began = time.monotonic()
    # a new object after the restart: the operator's watches must be back to see it
    k.apply(
        {
            "apiVersion": "ballast.dev/v1alpha1",
            "kind": "ModelVersion",
            "metadata": {"name": "after-restart"},
            "spec": {
                "model": "iris-absent",
                "artifact": {
                    "uri": f"file:///var/lib/ballast/{namespace}/models/iris-absent/never-written/model.skops",
                    "sha256": "0" * 64,
                },
            },
        }
    )
    late = wait_for_condition(k, "modelversion", "after-restart", "Ready", statuses=("False",), timeout=120)
    reconnect_seconds = time.monotonic() - reconnect_began
    assert condition(late, "Ready")["reason"] == "ArtifactMissing", condition(late, "Ready")

    finished = wait_for_condition(k, "trainingrun", "served", "Succeeded", timeout=180)
    assert condition(finished, "Succeeded")["status"] == "True", condition(finished, "Succeeded")
    version = finished["status"]["modelVersion"]
    wait_for_stage(k, version, "Production", timeout=120)
    converge_seconds = time.monotonic() - reconnect_began
    operator.metrics()  # still up: it answers on its metrics port
    assert len(k.get_json("jobs")["items"]) == 1  # the ingest Job is collected, the training Job stays
    assert [d["metadata"]["name"] for d in k.get_json("deployments")["items"]] == [serving_deployment_name(version)]
    assert len(k.get_json("modelversions")["items"]) == 2
    assert not orphans(inventory(k))
    errors = [line for line in operator.log.read_text().splitlines() if " ERROR " in line]
    # kopf retries its own requests; a handler of Ballast's that hit the outage waits out kopf's
    # default back-off (60 s) before it runs again
    handler_failures = [line for line in errors if "failed with an exception" in line]
    report(
        f"control plane: {'+'.join(restart.components)} SIGKILLed and restarted, API unavailable "
        f"{restart.unavailable_seconds:.1f} s"
        + (
            f", {'+'.join(restart.restarted_again)} lost the lease and was started again"
            if restart.restarted_again
            else ""
        )
    )
    report(
        f"control plane: the operator saw a new object {reconnect_seconds:.1f} s after the API was back and the "
        f"in-flight run was served {converge_seconds:.1f} s after; {len(errors)} ERROR lines during the outage, "
        f"{len(handler_failures)} of them handler failures"
    )
