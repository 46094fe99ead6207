"""Runs one pod from binding to deletion, in its own thread.

The loop is level-based, like the kubelet's pod workers: each pass looks at the latest pod
object and at the processes, moves every container one step (start, notice an exit, restart
after back-off, kill on a failed liveness probe), and posts status when it changed.
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .commands import NoCommandError, container_argv
from .containers import ContainerRecord, restart_delay, should_restart, termination_message
from .context import NodeContext
from .environment import ContainerConfigError, api_server_variables, container_environment
from .iproute import IpCommandError
from .kubeapi import MERGE_PATCH, is_not_found, now_rfc3339
from .podips import PodCIDRExhausted
from .podstatus import is_sidecar, keep_transition_times, pod_conditions, pod_phase, terminal_phase_after_stop
from .probes import ProbeRunner, ProbeTarget, run_probe_once
from .processes import ContainerProcess
from .sandbox import RunAs, container_mounts, exec_in_container_argv, launch_argv
from .volumes import PodVolumes, VolumeError

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25  # how soon a container's exit is noticed
RETRY_SECONDS = 2.0  # how soon a missing ConfigMap/Secret/PVC is looked for again
VOLUME_REFRESH_SECONDS = 30.0  # ConfigMap/Secret/downwardAPI propagation delay (kubelet: ~60s)
MIN_GRACE_SECONDS = 2.0  # kubelet's minimumGracePeriodInSeconds for force deletions
SHUTDOWN_GRACE_CAP_SECONDS = 10.0  # when the agent itself stops, nobody waits 30s per pod


class PodWorker:
    def __init__(self, pod: dict, node: NodeContext):
        self._node = node
        self._pod = pod
        self.uid = pod["metadata"]["uid"]
        self._key = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
        self._wake = threading.Event()
        self._shutdown = threading.Event()
        self._removed = threading.Event()
        self.done = threading.Event()
        self._pod_dir = node.config.pods_dir / self.uid
        meta = pod["metadata"]
        self._log_dir = node.config.log_dir / f"{meta['namespace']}_{meta['name']}_{self.uid}"
        self._volumes = PodVolumes(pod, self._pod_dir, node.store, node.tokens, node.config.capacity)
        self._volume_paths: dict[str, Path] | None = None
        self._sandbox_error: str | None = None  # why the pod's network or volumes are not ready
        self._next_volume_refresh = 0.0
        self._pod_ip: str | None = None
        self._netns: str | None = None  # the pod's network namespace, while it has one
        self._start_time = pod.get("status", {}).get("startTime") or now_rfc3339()
        self._terminal = False
        self._final_phase: str | None = None  # set when deletion stopped the containers
        self._last_posted: dict | None = None
        self._failures = 0  # consecutive failed passes, for back-off
        spec = pod["spec"]
        init_waiting = {"waiting": {"reason": "PodInitializing"}} if spec.get("initContainers") else None
        self._init = [ContainerRecord(c, True, {"waiting": {"reason": "PodInitializing"}})
                      for c in spec.get("initContainers") or []]
        self._main = [ContainerRecord(c, False, init_waiting or {"waiting": {"reason": "ContainerCreating"}})
                      for c in spec.get("containers") or []]
        self._thread = threading.Thread(target=self._run, name=f"pod-{self._key}", daemon=True)

    # --- called from the agent's threads -------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def update(self, pod: dict) -> None:
        self._pod = pod
        self._wake.set()

    def removed(self) -> None:
        """The pod object is gone from the API (force-deleted, or deleted after we stopped it)."""
        self._removed.set()
        self._wake.set()

    @property
    def is_removed(self) -> bool:
        return self._removed.is_set()

    def shutdown(self) -> None:
        """The agent is stopping: stop the processes, leave the pod object alone."""
        self._shutdown.set()
        self._wake.set()

    def matches(self, namespace: str, name: str) -> bool:
        meta = self._pod["metadata"]
        return meta["namespace"] == namespace and meta["name"] == name

    def log_file_for(self, container: str, previous: bool) -> Path | None:
        record = next((r for r in self._init + self._main if r.name == container), None)
        if record is None or record.attempt == 0:
            return None
        attempt = record.attempt - 1 if previous else record.attempt
        return self._log_dir / f"{container}.{attempt}.log" if attempt > 0 else None

    def is_running(self, container: str) -> bool:
        return any(r.name == container and r.running for r in self._init + self._main)

    # --- the pod's own thread ----------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._recover_previous_status()
            while not self._one_pass():
                self._wake.wait(self._poll_interval())
                self._wake.clear()
        finally:
            self.done.set()

    def _one_pass(self) -> bool:
        """Moves the pod one step; True once the worker has nothing left to do."""
        pod = self._pod
        try:
            if self._shutdown.is_set():
                self._stop_all(min(self._grace_seconds(pod), SHUTDOWN_GRACE_CAP_SECONDS))
                self._release_network()
                self._post_status()  # not ready any more, so Services stop sending traffic here
                return True
            if self._removed.is_set():
                self._stop_all(MIN_GRACE_SECONDS)
                self._clean_up()
                return True
            if pod["metadata"].get("deletionTimestamp"):
                self._terminate_and_delete(pod)
                return True
            if not self._terminal:
                if self._volume_paths is None:
                    self._set_up_sandbox()
                if self._volume_paths is not None:
                    self._step()
                    self._refresh_volumes()
            self._post_status()
            self._failures = 0
        except Exception as error:
            # API errors and the like are retried, like every kubelet sync; only the first
            # failure in a row gets a traceback, so a persistent one does not flood the log
            self._failures += 1
            if self._failures == 1:
                log.exception("pod %s: sync failed; retrying", self._key)
            else:
                log.warning("pod %s: sync failed again (%d): %s", self._key, self._failures,
                            str(error).splitlines()[0] if str(error) else type(error).__name__)
            self._shutdown.wait(min(self._failures, 10))
        return False

    def _poll_interval(self) -> float:
        if self._terminal:
            return 5.0
        if self._volume_paths is None:
            return RETRY_SECONDS
        return POLL_SECONDS

    def _grace_seconds(self, pod: dict) -> float:
        grace = pod["metadata"].get("deletionGracePeriodSeconds")
        if grace is None:
            grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
        return max(float(grace), MIN_GRACE_SECONDS)

    # --- sandbox: address, network namespace and volumes --------------------------------

    def _pod_view(self) -> dict:
        """The pod as the downward API should see it: with the address we gave it, even before
        the API server has our status."""
        view = copy.deepcopy(self._pod)
        status = view.setdefault("status", {})
        if self._pod_ip:
            status["podIP"] = self._pod_ip
            status["podIPs"] = [{"ip": self._pod_ip}]
        status["hostIP"] = self._node.config.node_ip
        status["hostIPs"] = [{"ip": self._node.config.node_ip}]
        return view

    def _set_up_sandbox(self) -> None:
        host_network = bool(self._pod["spec"].get("hostNetwork"))
        try:
            if self._pod_ip is None:
                if host_network:
                    self._pod_ip = self._node.config.node_ip
                else:
                    self._pod_ip = self._node.ips.assign(self.uid, self._pod.get("status", {}).get("podIP"))
            if self._netns is None and not host_network:
                self._netns = self._node.network.set_up(self.uid, self._pod_ip)
        except (IpCommandError, PodCIDRExhausted) as error:
            # the kubelet's wording, so people searching for it find what they expect
            self._sandbox_failed("FailedCreatePodSandBox", f"Failed to create pod sandbox: {error}")
            return
        self._volumes.update_pod(self._pod_view())
        try:
            self._volume_paths = self._volumes.set_up()
            self._sandbox_error = None
            self._next_volume_refresh = time.monotonic() + VOLUME_REFRESH_SECONDS
        except Exception as error:  # VolumeError, or the API refusing a TokenRequest, a read...
            detail = str(error).splitlines()[0] if isinstance(error, VolumeError) else _api_error_text(error)
            self._sandbox_failed("FailedMount", f"MountVolume.SetUp failed: {detail}")

    def _sandbox_failed(self, reason: str, message: str) -> None:
        """Containers wait, saying why; the next pass tries again."""
        if message != self._sandbox_error:
            self._node.events.pod_event(self._pod, reason, message, warning=True)
            log.warning("pod %s: %s", self._key, message)
        self._sandbox_error = message
        for record in self._init + self._main:
            if "waiting" in record.state:
                record.state = {"waiting": {"reason": "ContainerCreating", "message": message}}

    def _release_network(self) -> None:
        """The namespace goes once no container will run in it again. The address stays the
        pod's until the pod object is gone, so no other pod reports the same status.podIP."""
        if self._netns is None:
            return
        try:
            self._node.network.tear_down(self.uid)
            self._netns = None
        except IpCommandError as error:  # the agent's shutdown sweep tries again
            log.warning("pod %s: could not remove its network namespace: %s", self._key, error)

    def _refresh_volumes(self) -> None:
        due = self._next_volume_refresh
        token_due = self._node.tokens.next_refresh(self.uid)
        if token_due is not None:
            due = min(due, token_due)
        if time.monotonic() < due:
            return
        self._next_volume_refresh = time.monotonic() + VOLUME_REFRESH_SECONDS
        self._volumes.update_pod(self._pod_view())
        try:
            self._volumes.refresh()
        except Exception as error:  # a deleted ConfigMap keeps its last content, as in the kubelet
            log.warning("pod %s: volume refresh failed: %s", self._key, error)

    # --- containers ------------------------------------------------------------------------

    def _step(self) -> None:
        restart_policy = self._pod["spec"].get("restartPolicy", "Always")
        for record in self._init:
            self._drive(record, restart_policy)
            if is_sidecar(record.spec):
                if not record.started:
                    return
            elif not record.succeeded:
                if record.finished and restart_policy == "Never":
                    self._fail_waiting_containers("init container failed")
                return
        for record in self._main:
            if "waiting" in record.state and record.state["waiting"].get("reason") == "PodInitializing":
                record.state = {"waiting": {"reason": "ContainerCreating"}}
            self._drive(record, restart_policy)
        if all(r.finished for r in self._main):
            self._stop_sidecars()

    def _drive(self, record: ContainerRecord, restart_policy: str) -> None:
        if record.finished:
            return
        if record.process is not None:
            code = record.process.poll()
            if code is None:
                failed = record.failed_probe()
                if failed is None:
                    self._update_probe_gates(record)
                    return
                self._node.events.pod_event(self._pod, "Killing",
                                            f"Container {record.name} failed {failed} probe, will be restarted",
                                            field_path=self._field_path(record))
                code = record.process.stop(self._probe_grace(record, failed))
            self._record_exit(record, code, restart_policy)
        if not record.finished and record.process is None and time.monotonic() >= record.next_start:
            self._start(record)

    def _update_probe_gates(self, record: ContainerRecord) -> None:
        startup = record.probes.get("startup")
        if not record.started and (startup is None or startup.succeeded):
            record.started = True
            for kind in ("liveness", "readiness"):
                if kind in record.probes:
                    record.probes[kind].enable()

    def _probe_grace(self, record: ContainerRecord, kind: str) -> float:
        probe = record.spec.get(f"{kind}Probe") or {}
        grace = probe.get("terminationGracePeriodSeconds")
        return float(grace) if grace is not None else self._grace_seconds(self._pod)

    def _start(self, record: ContainerRecord) -> None:
        pod = self._pod_view()
        node = self._node
        base = {"PATH": node.config.process_path, "HOSTNAME": self._hostname(), "HOME": "/root"}
        base.update(api_server_variables(node.config.api_server_host, node.config.api_server_port))
        try:
            env = container_environment(pod, record.spec, base, node.store, node.config.capacity)
            argv = container_argv(record.spec, env, node.image_entrypoints)
            mounts = container_mounts(record.spec, self._volume_paths, env, self._message_file(record))
        except NoCommandError as error:
            self._refuse(record, "CreateContainerError", str(error), retry=False)
            return
        except (ContainerConfigError, ValueError) as error:
            self._refuse(record, "CreateContainerConfigError", str(error), retry=True)
            return

        if record.attempt > 0:
            record.restart_count += 1
        record.attempt += 1
        message_file = self._message_file(record)
        message_file.parent.mkdir(parents=True, exist_ok=True)
        message_file.write_bytes(b"")
        log_file = self._log_file(record)
        current = self._log_dir / f"{record.name}.log"
        current.unlink(missing_ok=True)
        self._log_dir.mkdir(parents=True, exist_ok=True)
        current.symlink_to(log_file.name)
        cgroup = node.tracker.new_cgroup(f"{self.uid}_{record.name}_{record.attempt}")
        run_as = self._run_as(record.spec)
        launcher = launch_argv(node.tools, argv, mounts=mounts, hostname=self._hostname(),
                               working_dir=record.spec.get("workingDir"), run_as=run_as,
                               cgroup_procs=cgroup / "cgroup.procs" if cgroup else None, netns=self._netns)
        record.process = ContainerProcess(launcher, env, log_file, cgroup, node.tracker)
        record.run_started = time.monotonic()
        record.started_at = now_rfc3339()
        record.container_id = f"ballast://{self.uid[:8]}-{record.name}-{record.attempt}"
        record.state = {"running": {"startedAt": record.started_at}}
        record.last_reported = None
        self._start_probes(record, env, run_as)
        node.events.pod_event(self._pod, "Started", f"Started container {record.name}",
                              field_path=self._field_path(record))
        log.info("pod %s: started container %s (pid %d, attempt %d)", self._key, record.name,
                 record.process.pid, record.attempt)

    def _refuse(self, record: ContainerRecord, reason: str, message: str, *, retry: bool) -> None:
        record.state = {"waiting": {"reason": reason, "message": message}}
        record.next_start = time.monotonic() + (RETRY_SECONDS if retry else float("inf"))
        if record.last_reported != (reason, message):
            record.last_reported = (reason, message)
            self._node.events.pod_event(self._pod, "Failed", f"Error: {message}", warning=True,
                                        field_path=self._field_path(record))

    def _start_probes(self, record: ContainerRecord, env: dict[str, str], run_as: RunAs | None) -> None:
        pid = record.process.pid
        target = ProbeTarget(pod_ip=self._pod_ip, container=record.spec, env=env,
                             exec_argv=lambda argv: exec_in_container_argv(self._node.tools, pid, argv, run_as))
        has_startup = "startupProbe" in record.spec
        record.started = not has_startup
        for kind in ("startup", "liveness", "readiness"):
            probe = record.spec.get(f"{kind}Probe")
            if not probe:
                continue
            runner = ProbeRunner(kind, probe, target, on_change=self._wake.set,
                                 on_failure_event=lambda message, r=record: self._probe_failed(r, message),
                                 started_at=record.run_started)
            record.probes[kind] = runner
            runner.start(enabled=kind == "startup" or not has_startup)

    def _probe_failed(self, record: ContainerRecord, message: str) -> None:
        self._node.events.pod_event(self._pod, "Unhealthy", message, warning=True,
                                    field_path=self._field_path(record))

    def _record_exit(self, record: ContainerRecord, code: int, restart_policy: str,
                     *, may_restart: bool = True, reason: str | None = None) -> None:
        message = termination_message(record.spec, code, self._message_file(record), self._log_file(record))
        terminated = {"exitCode": code, "reason": reason or ("Completed" if code == 0 else "Error"),
                      "startedAt": record.started_at, "finishedAt": now_rfc3339(),
                      "containerID": record.container_id}
        if message:
            terminated["message"] = message
        record.stop_probes()
        record.process = None
        record.started = False
        log.info("pod %s: container %s exited with %d", self._key, record.name, code)
        self._after_exit(record, terminated, restart_policy, may_restart=may_restart)

    def _after_exit(self, record: ContainerRecord, terminated: dict, restart_policy: str, *, may_restart: bool) -> None:
        code = terminated["exitCode"]
        if record.init and not is_sidecar(record.spec):
            record.succeeded = code == 0
        restart = may_restart and should_restart(record.spec, init=record.init, pod_restart_policy=restart_policy,
                                                 exit_code=code)
        if not restart:
            record.state = {"terminated": terminated}
            record.finished = True
            return
        config = self._node.config
        if record.run_started and record.backoff_reset_due(config.crashloop_max_seconds):
            record.backoff_restarts = 0
        delay = restart_delay(record.backoff_restarts, config.crashloop_base_seconds, config.crashloop_max_seconds)
        record.backoff_restarts += 1
        record.last_state = {"terminated": terminated}
        record.next_start = time.monotonic() + delay
        if delay > 0:
            pod_name = self._pod["metadata"]["name"]
            message = f"back-off {delay:.0f}s restarting failed container={record.name} pod={pod_name}"
            record.state = {"waiting": {"reason": "CrashLoopBackOff", "message": message}}
            self._node.events.pod_event(self._pod, "BackOff", f"Back-off restarting failed container {record.name}",
                                        warning=True, field_path=self._field_path(record))
        else:
            record.state = {"waiting": {"reason": "ContainerCreating"}}

    def _fail_waiting_containers(self, why: str) -> None:
        for record in self._main:
            if not record.finished and record.process is None:
                record.state = {"waiting": {"reason": "PodInitializing", "message": why}}

    def _stop_sidecars(self) -> None:
        for record in self._init:
            if is_sidecar(record.spec) and not record.finished:
                if record.process is not None:
                    code = record.process.stop(self._grace_seconds(self._pod))
                    self._record_exit(record, code, "Never", may_restart=False)
                else:
                    record.finished = True

    def _recover_previous_status(self) -> None:
        """After an agent restart: keep restart counts and finished init containers; containers
        that were running lost their processes with the old agent and count as failed runs."""
        status = self._pod.get("status") or {}
        previous = {(True, s["name"]): s for s in status.get("initContainerStatuses") or []}
        previous.update({(False, s["name"]): s for s in status.get("containerStatuses") or []})
        if not any("running" in s.get("state", {}) or "terminated" in s.get("state", {}) or s.get("lastState")
                   for s in previous.values()):
            return
        restart_policy = self._pod["spec"].get("restartPolicy", "Always")
        if status.get("phase") in ("Succeeded", "Failed"):
            self._terminal = True
        for record in self._init + self._main:
            old = previous.get((record.init, record.name))
            if not old:
                continue
            record.restart_count = old.get("restartCount", 0)
            record.last_state = old.get("lastState") or {}
            record.attempt = record.restart_count + 1
            state = old.get("state", {})
            if "running" in state:
                terminated = {"exitCode": 137, "reason": "Error",
                              "message": "the ballast node agent restarted; this run's processes were stopped",
                              "startedAt": state["running"].get("startedAt", ""), "finishedAt": now_rfc3339()}
                self._after_exit(record, terminated, restart_policy, may_restart=not self._terminal)
            elif "terminated" in state:
                self._after_exit(record, state["terminated"], restart_policy, may_restart=not self._terminal)

    # --- stopping --------------------------------------------------------------------------

    def _stop_all(self, grace: float) -> None:
        records = [r for r in self._main + self._init if r.process is not None]
        for record in records:
            record.stop_probes()
        if records:
            with ThreadPoolExecutor(max_workers=len(records)) as pool:
                codes = list(pool.map(lambda r: r.process.stop(grace), records))
            for record, code in zip(records, codes):
                self._record_exit(record, code, "Never", may_restart=False)

    def _run_pre_stop_hooks(self, deadline: float) -> None:
        def hook(record: ContainerRecord) -> None:
            handler = (record.spec.get("lifecycle") or {}).get("preStop")
            if not handler or record.process is None:
                return
            probe = dict(handler, timeoutSeconds=max(1, int(deadline - time.monotonic())))
            if "sleep" in handler:
                time.sleep(min(handler["sleep"].get("seconds", 0), max(0.0, deadline - time.monotonic())))
                return
            target = ProbeTarget(self._pod_ip, record.spec, lambda argv, pid=record.process.pid:
                                 exec_in_container_argv(self._node.tools, pid, argv, self._run_as(record.spec)), {})
            run_probe_once(probe, target)

        records = [r for r in self._main + self._init if r.process is not None]
        if records:
            with ThreadPoolExecutor(max_workers=len(records)) as pool:
                list(pool.map(hook, records))

    def _terminate_and_delete(self, pod: dict) -> None:
        grace = self._grace_seconds(pod)
        running = [r for r in self._main + self._init if r.process is not None]
        for record in running:
            self._node.events.pod_event(pod, "Killing", f"Stopping container {record.name}",
                                        field_path=self._field_path(record))
        started = time.monotonic()
        self._run_pre_stop_hooks(started + grace)
        self._stop_all(max(MIN_GRACE_SECONDS, grace - (time.monotonic() - started)))
        if not self._terminal:
            self._terminal = True
            self._final_phase = terminal_phase_after_stop([r.status() for r in self._main])
        self._post_status()
        meta = pod["metadata"]
        try:
            self._node.core.delete_namespaced_pod(
                meta["name"], meta["namespace"], grace_period_seconds=0,
                body={"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                      "preconditions": {"uid": self.uid}})
            log.info("pod %s: deleted after its containers stopped", self._key)
        except Exception as error:
            if not is_not_found(error):
                log.warning("pod %s: final delete failed: %s", self._key, str(error).splitlines()[0])
        self._clean_up()

    def _clean_up(self) -> None:
        self._release_network()
        self._node.ips.release(self.uid)
        self._node.tokens.forget(self.uid)
        shutil.rmtree(self._pod_dir, ignore_errors=True)

    # --- status ----------------------------------------------------------------------------

    def _post_status(self) -> None:
        pod = self._pod
        spec = pod["spec"]
        init_statuses = [r.status() for r in self._init]
        statuses = [r.status() for r in self._main]
        phase = self._final_phase or pod_phase(spec, init_statuses, statuses)
        if phase in ("Succeeded", "Failed") and not self._terminal:
            self._terminal = True
            self._stop_all(self._grace_seconds(pod))  # sidecars, if any were left
            self._release_network()
        existing = (pod.get("status") or {}).get("conditions") or []
        conditions = pod_conditions(spec, phase, self._volume_paths is not None, init_statuses, statuses, existing)
        status = {
            "phase": phase,
            "conditions": conditions,
            "hostIP": self._node.config.node_ip,
            "hostIPs": [{"ip": self._node.config.node_ip}],
            "startTime": self._start_time,
            "containerStatuses": statuses,
        }
        if self._pod_ip:
            status["podIP"] = self._pod_ip
            status["podIPs"] = [{"ip": self._pod_ip}]
        if init_statuses:
            status["initContainerStatuses"] = init_statuses
        if status == self._last_posted:
            return
        posted = copy.deepcopy(status)
        keep_transition_times(status["conditions"], existing, now_rfc3339())
        meta = pod["metadata"]
        try:
            self._node.core.patch_namespaced_pod_status(meta["name"], meta["namespace"], {"status": status},
                                                                 _content_type=MERGE_PATCH)
            self._last_posted = posted
        except Exception as error:
            if is_not_found(error):
                self._removed.set()
            else:
                log.warning("pod %s: status update failed: %s", self._key, str(error).splitlines()[0])

    # --- small helpers -----------------------------------------------------------------------

    def _hostname(self) -> str:
        spec = self._pod["spec"]
        return spec.get("hostname") or self._pod["metadata"]["name"]

    def _run_as(self, container: dict) -> RunAs | None:
        if not self._node.config.honor_run_as_user:
            return None
        pod_context = self._pod["spec"].get("securityContext") or {}
        context = {**pod_context, **(container.get("securityContext") or {})}
        uid = context.get("runAsUser")
        if uid is None:
            return None
        groups = tuple(pod_context.get("supplementalGroups") or ())
        if pod_context.get("fsGroup") is not None:
            groups += (pod_context["fsGroup"],)
        return RunAs(uid=int(uid), gid=int(context.get("runAsGroup", uid)), groups=groups)

    def _message_file(self, record: ContainerRecord) -> Path:
        return self._pod_dir / "containers" / record.name / "termination-log"

    def _log_file(self, record: ContainerRecord) -> Path:
        return self._log_dir / f"{record.name}.{max(record.attempt, 1)}.log"

    def _field_path(self, record: ContainerRecord) -> str:
        kind = "initContainers" if record.init else "containers"
        return f"spec.{kind}{{{record.name}}}"


def _api_error_text(error: Exception) -> str:
    body = getattr(error, "body", None)
    if body:
        try:
            return json.loads(body).get("message", body)
        except (ValueError, AttributeError):
            return str(body)
    return str(error).splitlines()[0] if str(error) else type(error).__name__
