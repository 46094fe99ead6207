"""Pod phase and conditions from container statuses: pure functions mirroring the kubelet's
getPhase and status generation, so Jobs, ReplicaSets and EndpointSlices see what they expect."""

from __future__ import annotations

MANAGED_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready", "PodScheduled")


def is_sidecar(container: dict) -> bool:
    """A native sidecar: an init container with restartPolicy Always."""
    return container.get("restartPolicy") == "Always"


def pod_phase(spec: dict, init_statuses: list[dict], statuses: list[dict]) -> str:
    """The kubelet's getPhase for a pod that is not being deleted."""
    by_name = {s["name"]: s for s in statuses}
    init_by_name = {s["name"]: s for s in init_statuses}
    restart_policy = spec.get("restartPolicy", "Always")

    pending_init = failed_init = 0
    for container in spec.get("initContainers") or []:
        if is_sidecar(container):
            continue
        status = init_by_name.get(container["name"])
        state = (status or {}).get("state", {})
        last = (status or {}).get("lastState", {}).get("terminated")
        if status is None or "running" in state:
            pending_init += 1
        elif "terminated" in state:
            failed_init += state["terminated"].get("exitCode", 0) != 0
        elif last is not None:
            failed_init += last.get("exitCode", 0) != 0
        else:
            pending_init += 1

    running = waiting = stopped = succeeded = unknown = 0
    for container in spec.get("containers") or []:
        status = by_name.get(container["name"])
        if status is None:
            unknown += 1
            continue
        state = status.get("state", {})
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"].get("exitCode", 0) == 0
        elif "waiting" in state:
            if status.get("lastState", {}).get("terminated") is not None:
                stopped += 1
            else:
                waiting += 1
        else:
            unknown += 1

    if failed_init and restart_policy == "Never":
        return "Failed"
    if pending_init or failed_init:
        return "Pending"
    if waiting:
        return "Pending"
    if running and not unknown:
        return "Running"
    if not running and stopped and not unknown:
        if restart_policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if restart_policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def terminal_phase_after_stop(statuses: list[dict]) -> str:
    """The phase of a pod whose containers were all stopped for deletion (kubelet >= 1.27 marks
    it terminal before removing it): Succeeded only if every container exited 0."""
    codes = [s.get("state", {}).get("terminated", {}).get("exitCode", 1) for s in statuses]
    return "Succeeded" if codes and all(code == 0 for code in codes) else "Failed"


def _condition(kind: str, ok: bool, reason: str = "", message: str = "") -> dict:
    condition = {"type": kind, "status": "True" if ok else "False"}
    if not ok and reason:
        condition["reason"] = reason
    if not ok and message:
        condition["message"] = message
    return condition


def pod_conditions(spec: dict, phase: str, sandbox_ready: bool, init_statuses: list[dict],
                   statuses: list[dict], existing: list[dict]) -> list[dict]:
    """Our conditions, plus any another component set (readiness gates, DisruptionTarget...)."""
    init_by_name = {s["name"]: s for s in init_statuses}
    incomplete = []
    for container in spec.get("initContainers") or []:
        status = init_by_name.get(container["name"], {})
        if is_sidecar(container):
            if not status.get("started"):
                incomplete.append(container["name"])
        elif status.get("state", {}).get("terminated", {}).get("exitCode") != 0:
            incomplete.append(container["name"])
    terminal = phase in ("Succeeded", "Failed")
    initialized = not incomplete
    unready = [s["name"] for s in statuses if not s.get("ready")]
    unready += [s["name"] for s in init_statuses
                if is_sidecar(_container(spec, s["name"], init=True)) and not s.get("ready")]
    known = {s["name"] for s in statuses}
    unready += [c["name"] for c in spec.get("containers") or [] if c["name"] not in known]
    containers_ready = not unready and not terminal

    gates = [g["conditionType"] for g in spec.get("readinessGates") or []]
    existing_by_type = {c["type"]: c for c in existing}
    open_gates = [g for g in gates if existing_by_type.get(g, {}).get("status") != "True"]

    if terminal:
        ready = _condition("Ready", False, "PodCompleted")
        containers_ready_condition = _condition("ContainersReady", False, "PodCompleted")
    else:
        message = f"containers with unready status: [{' '.join(unready)}]"
        containers_ready_condition = _condition("ContainersReady", containers_ready, "ContainersNotReady", message)
        if not containers_ready:
            ready = _condition("Ready", False, "ContainersNotReady", message)
        elif open_gates:
            message = f"corresponding condition of pod readiness gate {open_gates[0]!r} does not exist or is not True"
            ready = _condition("Ready", False, "ReadinessGatesNotReady", message)
        else:
            ready = _condition("Ready", True)

    ours = [
        _condition("PodReadyToStartContainers", sandbox_ready and not terminal),
        _condition("Initialized", initialized, "ContainersNotInitialized",
                   f"containers with incomplete status: [{' '.join(incomplete)}]"),
        ready,
        containers_ready_condition,
        _condition("PodScheduled", True),
    ]
    others = [c for c in existing if c["type"] not in MANAGED_CONDITIONS]
    return ours + others


def _container(spec: dict, name: str, *, init: bool) -> dict:
    key = "initContainers" if init else "containers"
    return next((c for c in spec.get(key) or [] if c["name"] == name), {})


def keep_transition_times(conditions: list[dict], previous: list[dict], now: str) -> list[dict]:
    """lastTransitionTime changes only when a condition's status flips."""
    before = {c["type"]: c for c in previous}
    for condition in conditions:
        old = before.get(condition["type"])
        if old and old.get("status") == condition["status"] and old.get("lastTransitionTime"):
            condition["lastTransitionTime"] = old["lastTransitionTime"]
        elif "lastTransitionTime" not in condition:
            condition["lastTransitionTime"] = now
        condition.setdefault("lastProbeTime", None)
    return conditions
