"""The pod template every Ballast workload shares: one container from Ballast's image,
its namespace's part of the artifact store mounted, the Pod Security Standard "restricted" met.

A pod sees only its own namespace's part of the store (ballast.store.layout): its
BALLAST_STORE_URI is `<root>/<namespace>`, and a file:// store's volume is mounted with
`subPath: <namespace>` at that same path, so the URIs it writes mean the same to the operator
and no path inside the pod reaches another namespace's files."""

from __future__ import annotations

from typing import Any

from ballast.build.security import restricted_container_security_context, restricted_pod_security_context
from ballast.settings import Settings
from ballast.store.keys import parse_store_root
from ballast.store.layout import namespace_store_uri

STORE_VOLUME = "artifact-store"
TERMINATION_LOG = "/dev/termination-log"
# The root filesystem is read-only, so Python and its libraries get a writable scratch
# directory through TMPDIR. Not /tmp itself: a volume there would hide whatever the node has
# under /tmp, which matters on the local cluster, whose pods see the host's filesystem.
SCRATCH_DIR = "/var/tmp/ballast"


def owner_reference(owner: dict[str, Any]) -> dict[str, Any]:
    """A controller reference to owner, so the garbage collector removes the child with it."""
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def store_env(settings: Settings, namespace: str) -> list[dict[str, Any]]:
    return [{"name": "BALLAST_STORE_URI", "value": namespace_store_uri(settings.store_uri, namespace)}]


def store_mount(settings: Settings, namespace: str, *, read_only: bool) -> dict[str, Any] | None:
    """The namespace's directory of a file:// store, at the path it has under the store's root
    (so `file://<mount path>/<namespace>/...` names the same file in the pod and the operator);
    nothing for an object store."""
    if not settings.store_mount_path:
        return None
    path = parse_store_root(namespace_store_uri(settings.store_uri, namespace)).path
    mount: dict[str, Any] = {"name": STORE_VOLUME, "mountPath": path, "subPath": namespace}
    if read_only:
        mount["readOnly"] = True
    return mount


def ballast_container(
    *,
    name: str,
    args: list[str],
    env: list[dict[str, Any]],
    settings: Settings,
    namespace: str,
    read_only_store: bool = False,
    resources: dict[str, Any] | None = None,
    env_from: list[dict[str, Any]] | None = None,
    extra_mounts: list[dict[str, Any]] | None = None,
    with_store: bool = True,
) -> dict[str, Any]:
    """`read_only_store` for workloads that only read artifacts (serving): the kernel then
    refuses a write, whatever the code running in the pod does. `with_store=False` for a pod
    that never touches the store (a Dask scheduler): no mount, no address, no credentials."""
    mounts = [{"name": "scratch", "mountPath": SCRATCH_DIR}, *(extra_mounts or [])]
    store = store_mount(settings, namespace, read_only=read_only_store) if with_store else None
    if store:
        mounts.insert(0, store)
    secret_refs = list(env_from or [])
    if settings.store_secret and with_store:
        secret_refs.append({"secretRef": {"name": settings.store_secret}})
    container = {
        "name": name,
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["ballast"],
        "args": args,
        "env": [
            *(store_env(settings, namespace) if with_store else []),
            {"name": "TMPDIR", "value": SCRATCH_DIR},
            *env,
        ],
        "securityContext": restricted_container_security_context(),
        "terminationMessagePath": TERMINATION_LOG,
        # a crash before the result is written still leaves its last lines for the person
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": mounts,
    }
    if resources:
        container["resources"] = resources
    if secret_refs:
        container["envFrom"] = secret_refs
    return container


def pod_spec(
    containers: list[dict[str, Any]],
    settings: Settings,
    *,
    restart_policy: str,
    extra_volumes: list[dict[str, Any]] | None = None,
    with_store: bool = True,
) -> dict[str, Any]:
    volumes = [{"name": "scratch", "emptyDir": {}}, *(extra_volumes or [])]
    if settings.store_mount_path and with_store:
        volumes.insert(0, {"name": STORE_VOLUME, "persistentVolumeClaim": {"claimName": settings.store_claim}})
    spec = {
        "restartPolicy": restart_policy,
        # Ballast's workloads never talk to the API server: no token in their pods
        "automountServiceAccountToken": False,
        "securityContext": restricted_pod_security_context(settings.run_as_user),
        "containers": containers,
        "volumes": volumes,
    }
    if settings.node_selector:
        spec["nodeSelector"] = dict(settings.node_selector)
    if settings.tolerations:
        spec["tolerations"] = [dict(toleration) for toleration in settings.tolerations]
    return spec
