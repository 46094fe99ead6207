"""Two operator replicas on one leader Lease, as the chart runs them: the standby stays idle
while the leader lives, takes over within the Lease's duration when the leader is SIGKILLed,
and at once when the leader stops on SIGTERM (a rolling update) and releases the Lease. A
standby stops on SIGTERM at once, cleanly."""

from __future__ import annotations

import json
import re
import time
import uuid

from ballast.leadership.election import Timing
from tests.support.kube import Kubectl, wait_for
from tests.support.operator_process import OperatorProcess

TIMING = Timing()
# A standby sees the dead leader's Lease unchanged for lease_seconds (from its last read before
# the kill), takes it at its next look (retry_seconds), starts kopf and reconciles.
SIGKILL_BOUND_SECONDS = TIMING.lease_seconds + 2 * TIMING.retry_seconds + 8
# The stopping leader releases the Lease; the standby takes it at its next look.
SIGTERM_BOUND_SECONDS = TIMING.retry_seconds + 8
# A standby stops within its Lease read under way; not at the end of the kill's grace period.
STANDBY_SIGTERM_BOUND_SECONDS = 5
LEASE_NAMESPACE = "default"  # where OperatorProcess puts the tests' Leases


def model_version(name: str, namespace: str, replicas: int) -> dict:
    """A ModelVersion whose artifact was never written: the operator answers it with
    ArtifactMissing, no pod needed, and each spec change with a new observedGeneration."""
    return {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "ModelVersion",
        "metadata": {"name": name},
        "spec": {
            "model": "failover",
            "artifact": {
                "uri": f"file:///var/lib/ballast/{namespace}/models/failover/never-written/model.skops",
                "sha256": "0" * 64,
            },
            "serving": {"replicas": replicas},
        },
    }


def leads(operator: OperatorProcess) -> bool | None:
    """What the replica's ballast_leader gauge says; None before it exports one."""
    found = re.search(r"^ballast_leader (\S+)$", operator.metrics(), re.M)
    return None if found is None else float(found.group(1)) == 1


def reconciled(operator: OperatorProcess) -> float:
    samples = re.findall(r"^ballast_reconciliations_total\{[^}]*\} (\S+)$", operator.metrics(), re.M)
    return sum(map(float, samples))


def lease_holder(kubectl: Kubectl, lease: str) -> str:
    document = json.loads(kubectl.run("get", "lease", lease, "-n", LEASE_NAMESPACE, "-o", "json").stdout)
    return document["spec"].get("holderIdentity") or ""


def change_and_time_until_acted(k: Kubectl, name: str, replicas: int, timeout: float) -> float:
    """Changes the ModelVersion's spec now; seconds until its status shows that generation."""
    began = time.monotonic()
    patch = json.dumps({"spec": {"serving": {"replicas": replicas}}})
    k.run("patch", "modelversion", name, "--type=merge", "-p", patch)
    generation = k.get_json("modelversion", name)["metadata"]["generation"]
    wait_for(
        lambda: (k.get_json("modelversion", name).get("status") or {}).get("observedGeneration") == generation,
        timeout=timeout,
        interval=0.2,
        message=f"generation {generation} of {name} observed",
    )
    return time.monotonic() - began


def test_a_standby_replica_takes_over_from_a_killed_or_stopped_leader(kubectl: Kubectl, faults, report):
    namespace = faults.namespace("failover")
    k = kubectl.in_namespace(namespace)
    lease = f"ballast-failover-{uuid.uuid4().hex[:8]}"

    def replica(name: str) -> OperatorProcess:
        return faults.operator(name, (namespace,), lease=lease, env={"POD_ID": name})

    try:
        first = replica("replica-a")
        wait_for(lambda: leads(first), timeout=30, interval=0.2, message="replica-a to lead")
        second = replica("replica-b")
        assert leads(second) is False and lease_holder(kubectl, lease) == "replica-a"

        k.apply(model_version("mv", namespace, replicas=1))
        change_and_time_until_acted(k, "mv", 2, timeout=60)
        assert reconciled(first) > 0
        assert reconciled(second) == 0 and leads(second) is False  # live (it answered), not acting

        first.kill()  # SIGKILL: the Lease is neither renewed nor released
        sigkill_seconds = change_and_time_until_acted(k, "mv", 3, timeout=SIGKILL_BOUND_SECONDS + 30)
        assert leads(second) is True and lease_holder(kubectl, lease) == "replica-b"

        third = replica("replica-c")
        assert leads(third) is False
        second.__exit__(None, None, None)  # SIGTERM, as a rolling update or a drain sends
        sigterm_seconds = change_and_time_until_acted(k, "mv", 4, timeout=SIGTERM_BOUND_SECONDS + 30)
        assert leads(third) is True and lease_holder(kubectl, lease) == "replica-c"

        fourth = replica("replica-d")
        assert leads(fourth) is False
        began = time.monotonic()
        fourth.__exit__(None, None, None)  # SIGTERM to a standby: it returns from its wait and exits
        standby_sigterm_seconds = time.monotonic() - began
        assert fourth.exited() == 0, fourth.state()
        assert "replica-d stopped before leading" in fourth.log.read_text()
        assert lease_holder(kubectl, lease) == "replica-c"

        report(
            f"fail-over: leader SIGKILLed -> standby acted on a spec change in {sigkill_seconds:.1f} s "
            f"(bound {SIGKILL_BOUND_SECONDS:.0f} s, Lease {TIMING.lease_seconds} s); leader SIGTERMed -> "
            f"{sigterm_seconds:.1f} s (bound {SIGTERM_BOUND_SECONDS:.0f} s); standby SIGTERMed -> exited in "
            f"{standby_sigterm_seconds:.1f} s (bound {STANDBY_SIGTERM_BOUND_SECONDS} s)"
        )
        for survivor in (second, third):
            assert not survivor.log_problems(), survivor.log.read_text()[-3000:]
        assert sigkill_seconds <= SIGKILL_BOUND_SECONDS
        assert sigterm_seconds <= SIGTERM_BOUND_SECONDS
        assert standby_sigterm_seconds <= STANDBY_SIGTERM_BOUND_SECONDS
    finally:
        kubectl.run("delete", "lease", lease, "-n", LEASE_NAMESPACE, "--ignore-not-found", check=False)
