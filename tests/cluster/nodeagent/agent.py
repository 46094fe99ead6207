"""Wires the node agent together: registers the Node, provisions volumes, and hands each pod
bound to this node to its own PodWorker until the agent is told to stop."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import threading
import time
from pathlib import Path

from kubernetes import client

from .config import AgentConfig
from .context import NodeContext
from .informer import run_informer
from .kubeapi import EventRecorder, check_tls_endpoint, load_api_client
from .logserver import LogServer
from .node import NodeHeartbeat
from .objectstore import ObjectStore
from .podips import PodIPAllocator
from .podnetwork import PodNetwork, PodNetworkLayout
from .podworker import PodWorker
from .processes import ProcessTracker, tracker_scope
from .provisioner import HostPathProvisioner
from .sandbox import Tools
from .tokens import TokenSource

log = logging.getLogger(__name__)

LOG_RETENTION_SECONDS = 7 * 24 * 3600  # pod logs outlive their pods, but not forever


def prune_old_logs(log_dir: Path, max_age_seconds: float) -> None:
    cutoff = time.time() - max_age_seconds
    for pod_logs in log_dir.iterdir():
        if pod_logs.is_dir() and pod_logs.stat().st_mtime < cutoff:
            shutil.rmtree(pod_logs, ignore_errors=True)


class NodeAgent:
    def __init__(self, config: AgentConfig):
        self.stop_event = threading.Event()
        self._log_server = None
        if config.tls_cert_file and config.tls_key_file:
            self._log_server = LogServer(self, config.node_ip, config.kubelet_port, config.tls_cert_file,
                                         config.tls_key_file)
            config = dataclasses.replace(config, kubelet_port=self._log_server.port)
        self.config = config
        api = load_api_client(config.kubeconfig)
        self._api = api
        tracker = ProcessTracker(tracker_scope(config.node_name, config.state_dir))
        leftovers = tracker.kill_leftovers()
        if leftovers:
            log.warning("killed %d processes left behind by a previous agent", leftovers)
        layout = PodNetworkLayout(config.pod_bridge, config.pod_cidr)
        network = PodNetwork(layout)
        network.acquire()
        network.ensure_bridge()
        # a killed agent's pods are gone (their processes were killed above), their namespaces not
        stale = network.remove_all_pods()
        if stale:
            log.warning("removed %d pod network namespaces left behind by a previous agent", stale)
        ips = PodIPAllocator(config.pod_cidr, reserved={layout.gateway}, state_file=config.pod_ips_file)
        self.node = NodeContext(
            config=config, core=client.CoreV1Api(api), store=ObjectStore(api), tokens=TokenSource(api),
            ips=ips, network=network, tracker=tracker, tools=Tools.find(),
            events=EventRecorder(api, config.node_name), image_entrypoints=config.image_entrypoints)
        self._heartbeat = NodeHeartbeat(api, config)
        self._provisioner = HostPathProvisioner(api, config)
        self._workers: dict[str, PodWorker] = {}
        self._lock = threading.Lock()

    def run(self) -> None:
        for path in (self.config.pods_dir, self.config.volumes_dir, self.config.log_dir):
            path.mkdir(parents=True, exist_ok=True)
        prune_old_logs(self.config.log_dir, LOG_RETENTION_SECONDS)
        self._heartbeat.register()
        self._provisioner.ensure_storage_class()
        threads = [
            threading.Thread(target=self._heartbeat.run, args=(self.stop_event,), name="heartbeat", daemon=True),
            threading.Thread(target=self._provisioner.run, args=(self.stop_event,), name="provisioner", daemon=True),
            threading.Thread(target=run_informer, name="pod-informer", daemon=True,
                             args=("pods", self.node.core.list_pod_for_all_namespaces, self._on_pod, self.stop_event),
                             kwargs={"on_relist": self._on_relist,
                                     "field_selector": f"spec.nodeName={self.config.node_name}"}),
        ]
        for thread in threads:
            thread.start()
        if self._log_server:
            self._log_server.start()
        log.info("node agent for %s is running (pod CIDR %s on bridge %s, API server for pods at %s:%d)",
                 self.config.node_name, self.config.pod_cidr, self.config.pod_bridge,
                 self.config.api_server_host, self.config.api_server_port)
        problem = check_tls_endpoint(self._api, self.config.api_server_host, self.config.api_server_port)
        if problem:
            log.error("pods will not reach the API server at %s:%d: %s (a cluster created before the pod network "
                      "existed lacks the address in its certificate or listens on loopback only: recreate it with "
                      "localcluster.py down && up)", self.config.api_server_host, self.config.api_server_port, problem)
        while not self.stop_event.wait(1.0):
            self._forget_finished_workers()
        self._shut_down()

    def stop(self) -> None:
        self.stop_event.set()

    # --- LogSource, for `kubectl logs` ------------------------------------------------------

    def _worker_for(self, namespace: str, pod: str):
        with self._lock:
            return next((w for w in self._workers.values() if w.matches(namespace, pod)), None)

    def log_file(self, namespace: str, pod: str, container: str, previous: bool) -> Path | None:
        worker = self._worker_for(namespace, pod)
        if worker is not None:
            return worker.log_file_for(container, previous)
        if previous:
            return None
        # the pod is gone from this node; its newest log directory is still here
        directories = sorted(self.config.log_dir.glob(f"{namespace}_{pod}_*"), key=lambda d: d.stat().st_mtime)
        return (directories[-1] / f"{container}.log") if directories else None

    def is_running(self, namespace: str, pod: str, container: str) -> bool:
        worker = self._worker_for(namespace, pod)
        return worker is not None and worker.is_running(container)

    # --- pods -----------------------------------------------------------------------------

    def _on_pod(self, kind: str, pod: dict) -> None:
        uid = pod["metadata"]["uid"]
        with self._lock:
            worker = self._workers.get(uid)
            if kind == "DELETED":
                if worker:
                    worker.removed()
                return
            if worker is None:
                if self.stop_event.is_set():
                    return
                worker = PodWorker(pod, self.node)
                self._workers[uid] = worker
                worker.start()
            else:
                worker.update(pod)

    def _on_relist(self, uids: set[str]) -> None:
        with self._lock:
            for uid, worker in self._workers.items():
                if uid not in uids:
                    worker.removed()
            # pods deleted while no agent ran never get a worker to free their address
            self.node.ips.retain_only(uids | set(self._workers))

    def _forget_finished_workers(self) -> None:
        """Workers stay known until their pod is gone from the API: a pod held by a finalizer
        after the final delete must not get a new worker that would run it again."""
        with self._lock:
            for uid in [uid for uid, w in self._workers.items() if w.done.is_set() and w.is_removed]:
                del self._workers[uid]

    def _shut_down(self) -> None:
        log.info("stopping every pod on %s", self.config.node_name)
        with self._lock:
            workers = list(self._workers.values())
        for worker in workers:
            worker.shutdown()
        for worker in workers:
            worker.done.wait(60)
        try:
            self._heartbeat.post_status(ready=False)
        except Exception as error:
            log.warning("could not mark the node NotReady: %s", str(error).splitlines()[0])
        leftovers = self.node.tracker.kill_leftovers()
        if leftovers:
            log.warning("killed %d processes that outlived their pods", leftovers)
        # workers remove their own pods' namespaces; this catches one whose worker timed out.
        # The bridge stays (with its gateway address) for the next agent; `down` removes it.
        self.node.network.remove_all_pods()
        self.node.network.release()
        log.info("node agent stopped")
