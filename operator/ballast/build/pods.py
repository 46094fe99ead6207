"""The pod template every Ballast workload shares: one container from Ballast's image,
the artifact store mounted, the Pod Security Standard "restricted" met."""

from __future__ import annotations

from ballast.build.security import restricted_container_security_context, restricted_pod_security_context
from ballast.settings import Settings

STORE_VOLUME = "artifact-store"
TERMINATION_LOG = "/dev/termination-log"
# The root filesystem is read-only, so Python and its libraries get a writable scratch
# directory through TMPDIR. Not /tmp itself: a volume there would hide whatever the node has
# under /tmp, which matters on the local cluster, whose pods see the host's filesystem.
SCRATCH_DIR = "/var/tmp/ballast"


def owner_reference(owner: dict) -> dict:
    """A controller reference to owner, so the garbage collector removes the child with it."""
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def store_env(settings: Settings) -> list[dict]:
    return [{"name": "BALLAST_STORE_URI", "value": settings.store_uri}]


def ballast_container(*, name: str, args: list[str], env: list[dict], settings: Settings,
                      resources: dict | None = None, env_from: list[dict] | None = None,
                      extra_mounts: list[dict] | None = None) -> dict:
    mounts = [{"name": "scratch", "mountPath": SCRATCH_DIR}, *(extra_mounts or [])]
    if settings.store_mount_path:
        mounts.insert(0, {"name": STORE_VOLUME, "mountPath": settings.store_mount_path})
    secret_refs = list(env_from or [])
    if settings.store_secret:
        secret_refs.append({"secretRef": {"name": settings.store_secret}})
    container = {
        "name": name,
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["ballast"],
        "args": args,
        "env": [*store_env(settings), {"name": "TMPDIR", "value": SCRATCH_DIR}, *env],
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


def pod_spec(containers: list[dict], settings: Settings, *, restart_policy: str,
             extra_volumes: list[dict] | None = None) -> dict:
    volumes = [{"name": "scratch", "emptyDir": {}}, *(extra_volumes or [])]
    if settings.store_mount_path:
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
