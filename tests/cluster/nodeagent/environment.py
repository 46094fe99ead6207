"""A container's environment, built in the kubelet's order: base and service variables, then
envFrom, then env (each value `$(VAR)`-expanded against what came before it)."""

from __future__ import annotations

import re
from typing import Protocol

from .downward import field_value, resource_value
from .expansion import expand

# The kubelet drops envFrom keys that are not C identifiers (with an event); so do we.
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


class ContainerConfigError(Exception):
    """The container cannot start until something it refers to exists (CreateContainerConfigError)."""


class Lookups(Protocol):
    def config_map_data(self, namespace: str, name: str) -> dict[str, bytes] | None: ...
    def secret_data(self, namespace: str, name: str) -> dict[str, bytes] | None: ...


def api_server_variables(host: str, port: int) -> dict[str, str]:
    """The `kubernetes` Service's link variables, pointed at the real API server because no
    kube-proxy makes the Service's ClusterIP reachable."""
    return {
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": str(port),
        "KUBERNETES_SERVICE_PORT_HTTPS": str(port),
        "KUBERNETES_PORT": f"tcp://{host}:{port}",
        f"KUBERNETES_PORT_{port}_TCP": f"tcp://{host}:{port}",
        f"KUBERNETES_PORT_{port}_TCP_PROTO": "tcp",
        f"KUBERNETES_PORT_{port}_TCP_PORT": str(port),
        f"KUBERNETES_PORT_{port}_TCP_ADDR": host,
    }


def container_environment(pod: dict, container: dict, base: dict[str, str], lookups: Lookups,
                          node_allocatable: dict[str, str]) -> dict[str, str]:
    namespace = pod["metadata"]["namespace"]
    env = dict(base)
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            ref = source["configMapRef"]
            data = lookups.config_map_data(namespace, ref["name"])
            what = f"configmap {ref['name']!r}"
        elif "secretRef" in source:
            ref = source["secretRef"]
            data = lookups.secret_data(namespace, ref["name"])
            what = f"secret {ref['name']!r}"
        else:
            continue
        if data is None:
            if ref.get("optional"):
                continue
            raise ContainerConfigError(f"{what} not found")
        for key, value in data.items():
            if _ENV_NAME.match(prefix + key):
                env[prefix + key] = value.decode(errors="replace")

    for var in container.get("env") or []:
        name = var["name"]
        if "valueFrom" in var:
            value = _value_from(pod, container, var["valueFrom"], lookups, node_allocatable)
            if value is None:  # optional reference that is absent: the variable is not set
                continue
        else:
            value = expand(var.get("value", ""), env)
        env[name] = value
    return env


def _value_from(pod: dict, container: dict, source: dict, lookups: Lookups,
                node_allocatable: dict[str, str]) -> str | None:
    namespace = pod["metadata"]["namespace"]
    if "fieldRef" in source:
        return field_value(pod, source["fieldRef"]["fieldPath"])
    if "resourceFieldRef" in source:
        ref = source["resourceFieldRef"]
        return resource_value(pod, ref.get("containerName") or container["name"], ref["resource"],
                              ref.get("divisor"), node_allocatable)
    for kind, noun, read in (("configMapKeyRef", "configmap", lookups.config_map_data),
                             ("secretKeyRef", "secret", lookups.secret_data)):
        if kind in source:
            ref = source[kind]
            data = read(namespace, ref["name"])
            if data is None or ref["key"] not in data:
                if ref.get("optional"):
                    return None
                if data is None:
                    raise ContainerConfigError(f"{noun} {ref['name']!r} not found")
                raise ContainerConfigError(f"key {ref['key']!r} not found in {noun} {ref['name']!r}")
            return data[ref["key"]].decode(errors="replace")
    raise ContainerConfigError(f"unsupported env valueFrom {sorted(source)}")
