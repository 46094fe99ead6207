"""Registers the Node and keeps it alive: a Lease renewed every heartbeat in kube-node-lease
(what the node lifecycle controller watches) and a Ready condition refreshed in Node status."""

from __future__ import annotations

import logging
import platform
import threading

from kubernetes import client

from .config import AgentConfig
from .kubeapi import MERGE_PATCH, is_conflict, is_not_found, now_micro, now_rfc3339

log = logging.getLogger(__name__)

LEASE_NAMESPACE = "kube-node-lease"
# Node status is refreshed at least this often even when nothing changed (the kubelet's
# nodeStatusReportFrequency is 5 minutes; shorter makes `kubectl get nodes` look alive).
STATUS_REFRESH_SECONDS = 30.0


def node_manifest(config: AgentConfig) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": config.node_name,
            "labels": {
                "kubernetes.io/hostname": config.node_name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64",
                "node.ballast.dev/process-runtime": "true",
            },
            # KWOK's controller manages only nodes carrying kwok.x-k8s.io/node=fake (see
            # localcluster.py); this node never does, so it is left to this agent.
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        # informational (no controller allocates it): the range this node's pods get addresses from
        "spec": {"podCIDR": str(config.pod_cidr), "podCIDRs": [str(config.pod_cidr)]},
    }


def node_status(config: AgentConfig, *, ready: bool, heartbeat: str) -> dict:
    def condition(kind: str, status: str, reason: str, message: str) -> dict:
        return {"type": kind, "status": status, "reason": reason, "message": message,
                "lastHeartbeatTime": heartbeat, "lastTransitionTime": heartbeat}

    return {
        "capacity": dict(config.capacity),
        "allocatable": dict(config.capacity),
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "no memory accounting"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "no disk accounting"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "no pid accounting"),
            condition("Ready", "True" if ready else "False",
                      "KubeletReady" if ready else "KubeletNotReady",
                      "ballast node agent is posting ready status" if ready else "node agent stopping"),
        ],
        "addresses": [{"type": "InternalIP", "address": config.node_ip}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": config.kubelet_port}},
        "nodeInfo": {
            "machineID": "ballast-" + config.node_name,
            "systemUUID": "ballast-" + config.node_name,
            "bootID": "ballast-" + config.node_name,
            "kernelVersion": platform.release(),
            "osImage": "host processes (ballast node agent)",
            "containerRuntimeVersion": "ballast-nodeagent://0.1",
            "kubeletVersion": config.kubelet_version,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    }


def _with_stable_transitions(new: dict, current: dict | None) -> dict:
    """lastTransitionTime moves only when a condition's status flips."""
    previous = {c["type"]: c for c in ((current or {}).get("conditions") or [])}
    for cond in new["conditions"]:
        old = previous.get(cond["type"])
        if old and old.get("status") == cond["status"] and old.get("lastTransitionTime"):
            cond["lastTransitionTime"] = old["lastTransitionTime"]
    return new


class NodeHeartbeat:
    def __init__(self, api: client.ApiClient, config: AgentConfig):
        self._core = client.CoreV1Api(api)
        self._coordination = client.CoordinationV1Api(api)
        self._config = config

    def register(self) -> None:
        name = self._config.node_name
        try:
            self._core.create_node(node_manifest(self._config))
            log.info("registered node %s", name)
        except Exception as error:
            if not is_conflict(error):
                raise
            # re-registration: bring labels back in line, keep everything else
            self._core.patch_node(name, {"metadata": node_manifest(self._config)["metadata"]})
        self.post_status(ready=True)
        self.renew_lease()

    def post_status(self, *, ready: bool) -> None:
        current = self._core.read_node_status(self._config.node_name)
        current_status = self._core.api_client.sanitize_for_serialization(current.status)
        status = _with_stable_transitions(node_status(self._config, ready=ready, heartbeat=now_rfc3339()),
                                          current_status)
        self._core.patch_node_status(self._config.node_name, {"status": status}, _content_type=MERGE_PATCH)

    def renew_lease(self) -> None:
        name = self._config.node_name
        spec = {"holderIdentity": name, "leaseDurationSeconds": self._config.lease_duration_seconds,
                "renewTime": now_micro()}
        try:
            self._coordination.patch_namespaced_lease(name, LEASE_NAMESPACE, {"spec": spec},
                                                      _content_type=MERGE_PATCH)
        except Exception as error:
            if not is_not_found(error):
                raise
            node = self._core.read_node(name)
            body = {"metadata": {"name": name, "namespace": LEASE_NAMESPACE,
                                 "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name,
                                                      "uid": node.metadata.uid}]},
                    "spec": spec}
            self._coordination.create_namespaced_lease(LEASE_NAMESPACE, body)

    def run(self, stop: threading.Event) -> None:
        since_status = 0.0
        while not stop.wait(self._config.heartbeat_seconds):
            try:
                self.renew_lease()
                since_status += self._config.heartbeat_seconds
                if since_status >= STATUS_REFRESH_SECONDS:
                    self.post_status(ready=True)
                    since_status = 0.0
            except Exception as error:
                if is_not_found(error):  # someone deleted the Node: register it again
                    log.warning("node %s vanished; registering again", self._config.node_name)
                    try:
                        self.register()
                    except Exception as again:
                        log.warning("re-registration failed: %s", again)
                else:
                    log.warning("heartbeat failed: %s", str(error).splitlines()[0])
