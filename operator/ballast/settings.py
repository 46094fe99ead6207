"""The operator's settings, read once from the environment (the Helm chart sets them)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlparse

from ballast.build.security import DEFAULT_USER_ID


@dataclass(frozen=True)
class Settings:
    image: str = "ballast:0.1.0"
    """The one image every Ballast pod runs (ingest, train, serve)."""
    image_pull_policy: str = "IfNotPresent"
    store_uri: str = "file:///var/lib/ballast"
    """The artifact store's root. file:// means a volume that every Ballast pod mounts."""
    store_claim: str = "ballast-artifacts"
    """The PersistentVolumeClaim, in each namespace with Ballast objects, that backs a file:// store."""
    store_storage_class: str | None = None
    store_claim_size: str = "10Gi"
    store_secret: str | None = None
    """A Secret (in the object's namespace) with the store's credentials, e.g. AWS_* for s3://."""
    run_as_user: int = DEFAULT_USER_ID
    dataset_wait_seconds: float = 600
    """How long a TrainingRun waits for its Dataset to have a valid version before it fails."""
    verify_interval_seconds: float = 600
    """How often a registered artifact's sha256 is checked again."""
    poll_interval_seconds: float = 2
    """How often objects with work in flight (a running Job) look at it."""
    superseded_grace_seconds: float = 30
    """How long a replaced Production version keeps serving before it is scaled to zero."""
    refresh_check_seconds: float = 15
    """How often Datasets with a refreshInterval check whether a refresh is due."""
    prometheus_url: str | None = None
    """A Prometheus server that scrapes the serving pods: DriftPolicies without spec.source
    read their counters there instead of scraping the pods themselves."""
    node_selector: Mapping[str, str] = field(default_factory=dict)
    """Where Ballast's pods (ingest, training, serving) may run: a nodeSelector for all of them."""
    tolerations: tuple[Mapping, ...] = ()
    """Taints Ballast's pods tolerate, e.g. those of a node pool kept for ML workloads."""

    @property
    def store_mount_path(self) -> str | None:
        """Where pods mount the store's volume: the path of a file:// root, else nothing."""
        parsed = urlparse(self.store_uri)
        return parsed.path if parsed.scheme == "file" else None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            image=env.get("BALLAST_IMAGE", defaults.image),
            image_pull_policy=env.get("BALLAST_IMAGE_PULL_POLICY", defaults.image_pull_policy),
            store_uri=env.get("BALLAST_STORE_URI", defaults.store_uri),
            store_claim=env.get("BALLAST_STORE_CLAIM", defaults.store_claim),
            store_storage_class=env.get("BALLAST_STORE_STORAGE_CLASS") or None,
            store_claim_size=env.get("BALLAST_STORE_CLAIM_SIZE", defaults.store_claim_size),
            store_secret=env.get("BALLAST_STORE_SECRET") or None,
            run_as_user=int(env.get("BALLAST_RUN_AS_USER", defaults.run_as_user)),
            dataset_wait_seconds=float(env.get("BALLAST_DATASET_WAIT_SECONDS", defaults.dataset_wait_seconds)),
            verify_interval_seconds=float(env.get("BALLAST_VERIFY_INTERVAL_SECONDS",
                                                  defaults.verify_interval_seconds)),
            poll_interval_seconds=float(env.get("BALLAST_POLL_INTERVAL_SECONDS", defaults.poll_interval_seconds)),
            superseded_grace_seconds=float(env.get("BALLAST_SUPERSEDED_GRACE_SECONDS",
                                                   defaults.superseded_grace_seconds)),
            refresh_check_seconds=float(env.get("BALLAST_REFRESH_CHECK_SECONDS", defaults.refresh_check_seconds)),
            prometheus_url=env.get("BALLAST_PROMETHEUS_URL") or None,
            node_selector=_json_setting(env, "BALLAST_WORKLOAD_NODE_SELECTOR", dict),
            tolerations=tuple(_json_setting(env, "BALLAST_WORKLOAD_TOLERATIONS", list)),
        )


def _json_setting(env: Mapping[str, str], name: str, kind: type):
    """A JSON object or list from the environment (the chart renders it with toJson); a value
    that is not one stops the operator at start, naming the variable, instead of later in a pod."""
    text = env.get(name, "").strip()
    if not text:
        return kind()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{name} is not JSON ({error}): {text[:200]!r}") from None
    if not isinstance(value, kind) or (kind is dict and not all(isinstance(v, str) for v in value.values())) \
            or (kind is list and not all(isinstance(v, dict) for v in value)):
        expected = "an object of strings" if kind is dict else "a list of objects"
        raise ValueError(f"{name} must be {expected}: {text[:200]!r}")
    return value
