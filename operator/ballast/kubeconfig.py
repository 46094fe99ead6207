"""Which namespace a client works in by default, as kubectl picks it: the kubeconfig context's
namespace, or, in a pod, the pod's own. Shared by the commands and the SDK."""

from __future__ import annotations

from pathlib import Path

from kubernetes import config

IN_CLUSTER_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def context_namespace(kubeconfig: str | None, context: str | None) -> str:
    """The namespace the named context (the current one when None) sets; "" when it sets none.
    Raises config.ConfigException (or FileNotFoundError) when there is no such kubeconfig."""
    contexts, current = config.list_kube_config_contexts(config_file=kubeconfig)
    chosen = next((c for c in contexts if c["name"] == context), None) if context else current
    return str(((chosen or {}).get("context") or {}).get("namespace") or "")


def pod_namespace() -> str:
    """The namespace of the pod this runs in, from its service account; "" outside a pod."""
    try:
        return IN_CLUSTER_NAMESPACE_FILE.read_text().strip()
    except OSError:
        return ""
