"""The downward API: values a pod can learn about itself through env vars and volumes."""

from __future__ import annotations

import decimal
import json
import math
import re

_SUFFIXES = {
    "": 1, "m": decimal.Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15,
    "E": 10**18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)(e[+-]?[0-9]+|E[+-]?[0-9]+|[a-zA-Z]*)$")
_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['(.*)'\]$")


def parse_quantity(text: str | int | float) -> decimal.Decimal:
    match = _QUANTITY.match(str(text).strip())
    if not match:
        raise ValueError(f"not a quantity: {text!r}")
    number, suffix = match.groups()
    if suffix[:1] in ("e", "E") and suffix[1:].lstrip("+-").isdigit():
        return decimal.Decimal(number) * (decimal.Decimal(10) ** int(suffix[1:]))
    if suffix not in _SUFFIXES:
        raise ValueError(f"unknown quantity suffix in {text!r}")
    return decimal.Decimal(number) * decimal.Decimal(_SUFFIXES[suffix])


def field_value(pod: dict, field_path: str) -> str:
    """The value of a `fieldRef.fieldPath`, as the kubelet renders it for an env var."""
    meta, spec, status = pod["metadata"], pod.get("spec", {}), pod.get("status", {})
    subscript = _SUBSCRIPT.match(field_path)
    if subscript:
        kind, key = subscript.groups()
        return (meta.get(kind) or {}).get(key, "")
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.hostIP": status.get("hostIP", ""),
        "status.hostIPs": ",".join(ip["ip"] for ip in status.get("hostIPs") or []),
        "status.podIP": status.get("podIP", ""),
        "status.podIPs": ",".join(ip["ip"] for ip in status.get("podIPs") or []),
    }
    if field_path in simple:
        return simple[field_path]
    if field_path in ("metadata.labels", "metadata.annotations"):
        return format_map(meta.get(field_path.split(".")[1]) or {})
    raise ValueError(f"unsupported fieldPath {field_path!r}")


def format_map(values: dict[str, str]) -> str:
    """Labels/annotations as a downwardAPI volume file: sorted `key="value"` lines."""
    return "\n".join(f"{key}={json.dumps(values[key])}" for key in sorted(values))


def resource_value(pod: dict, container_name: str, resource: str, divisor: str | None,
                   node_allocatable: dict[str, str]) -> str:
    """A `resourceFieldRef`: the container's limit or request in units of `divisor`, rounded
    up; an unset limit falls back to the node's allocatable, as in the kubelet."""
    containers = pod["spec"].get("containers", []) + pod["spec"].get("initContainers", [])
    container = next((c for c in containers if c["name"] == container_name), None)
    if container is None:
        raise ValueError(f"no container {container_name!r} for resourceFieldRef")
    kind, _, name = resource.partition(".")
    resources = container.get("resources") or {}
    value = (resources.get(kind) or {}).get(name)
    if value is None and kind == "requests":
        value = (resources.get("limits") or {}).get(name)
    if value is None:
        value = node_allocatable.get(name, "0") if kind == "limits" else "0"
    quantity = parse_quantity(value)
    unit = parse_quantity(divisor or "1")
    return str(math.ceil(quantity / unit))
