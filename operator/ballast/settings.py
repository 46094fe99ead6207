"""The operator's settings, read once from the environment (the Helm chart sets them)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlparse

from ballast.api.driftpolicy import MIN_INTERVAL_SECONDS
from ballast.build.security import DEFAULT_USER_ID
from ballast.drift.prometheus import DEFAULT_TIMEOUT_SECONDS as PROMETHEUS_DEADLINE_SECONDS
from ballast.net.egress import EgressPolicy
from ballast.store.limits import ARTIFACT_MAX_BYTES_ENV, DEFAULT_MAX_ARTIFACT_BYTES, parse_byte_quantity


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
    engine_response_seconds: float = 180
    """How long a distributed run's engine object (a DaskJob) may go without a pod of its
    cluster before the run says EngineNotResponding."""
    verify_interval_seconds: float = 600
    """How often a registered artifact's sha256 is checked again."""
    artifact_max_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES
    """The largest model artifact the operator verifies, packed or unpacked (ArtifactTooLarge beyond)."""
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
    operator_namespace: str | None = None
    """Where the operator runs (the chart sets it): serving pods admit it, as it reads their /metrics."""
    serving_network_policy: bool = True
    """Whether each serving version gets a NetworkPolicy (ballast.build.serving_network_policy)."""
    serving_inference_from: tuple[Mapping, ...] = ({"podSelector": {}},)
    """NetworkPolicyPeers that may call the serving pods; the default is the pods of their own namespace."""
    serving_metrics_from: tuple[Mapping, ...] = ()
    """NetworkPolicyPeers besides the operator that read the serving pods' /metrics (Prometheus)."""
    custom_images_enabled: bool = False
    """Whether a TrainingRun (or a retrain template) may name its own image and command: an
    administrator's choice, off by default (ballast.build.policy)."""
    custom_image_prefixes: tuple[str, ...] = ()
    """When custom images are on, the image references they must start with."""
    egress: EgressPolicy = field(default_factory=EgressPolicy)
    """What URLs read on a user's behalf (Prometheus, Dataset URLs) may reach: loopback,
    link-local, metadata and the cluster's ranges are refused unless allowed (ballast.net.egress)."""
    ingest_network_policy: bool = True
    """Whether each Dataset's ingest pods get a NetworkPolicy that holds them to the egress
    policy one layer down (ballast.build.ingest_network_policy)."""
    ingest_extra_egress: tuple[Mapping, ...] = ()
    """NetworkPolicyEgressRules added to that policy, for what ingest reads besides URLs and
    inside the cluster's ranges: an in-cluster S3 store or objectStore source."""
    drift_min_interval_seconds: float = MIN_INTERVAL_SECONDS
    """The shortest interval between two evaluations of a DriftPolicy, whatever its spec says."""
    prometheus_deadline_seconds: float = PROMETHEUS_DEADLINE_SECONDS
    """How long one evaluation's Prometheus queries may take, all together: the longest a
    DriftPolicy holds a handler thread, however slowly its URL answers."""
    tracking_uri: str | None = None
    """An MLflow tracking server every finished TrainingRun is also logged to (ballast.tracking);
    unset, nothing is contacted."""
    tracking_experiment: str | None = None
    """The one MLflow experiment runs are logged under; unset, one per model (ballast/<namespace>/<model>)."""
    tracking_retry_seconds: float = 60
    """How long after a failed attempt to log a run (server down, refused) it is tried again."""

    @property
    def prometheus_egress(self) -> EgressPolicy:
        """The egress policy of Prometheus reads: the chart's own Prometheus is allowed implicitly."""
        return self.egress.allowing_url(self.prometheus_url)

    @property
    def store_mount_path(self) -> str | None:
        """Where pods mount the store's volume: the path of a file:// root, else nothing."""
        parsed = urlparse(self.store_uri)
        return parsed.path if parsed.scheme == "file" else None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
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
            engine_response_seconds=float(env.get("BALLAST_ENGINE_RESPONSE_SECONDS", defaults.engine_response_seconds)),
            verify_interval_seconds=float(env.get("BALLAST_VERIFY_INTERVAL_SECONDS", defaults.verify_interval_seconds)),
            artifact_max_bytes=parse_byte_quantity(env.get(ARTIFACT_MAX_BYTES_ENV) or str(defaults.artifact_max_bytes)),
            poll_interval_seconds=float(env.get("BALLAST_POLL_INTERVAL_SECONDS", defaults.poll_interval_seconds)),
            superseded_grace_seconds=float(
                env.get("BALLAST_SUPERSEDED_GRACE_SECONDS", defaults.superseded_grace_seconds)
            ),
            refresh_check_seconds=float(env.get("BALLAST_REFRESH_CHECK_SECONDS", defaults.refresh_check_seconds)),
            prometheus_url=env.get("BALLAST_PROMETHEUS_URL") or None,
            node_selector=_json_setting(env, "BALLAST_WORKLOAD_NODE_SELECTOR", dict),
            tolerations=tuple(_json_setting(env, "BALLAST_WORKLOAD_TOLERATIONS", list)),
            operator_namespace=env.get("BALLAST_OPERATOR_NAMESPACE") or None,
            serving_network_policy=env.get("BALLAST_SERVING_NETWORK_POLICY", "true").strip().lower() != "false",
            serving_inference_from=tuple(_json_setting(env, "BALLAST_SERVING_INFERENCE_FROM", list))
            or defaults.serving_inference_from,
            serving_metrics_from=tuple(_json_setting(env, "BALLAST_SERVING_METRICS_FROM", list)),
            custom_images_enabled=env.get("BALLAST_CUSTOM_IMAGES_ENABLED", "").strip().lower() == "true",
            custom_image_prefixes=tuple(_string_list_setting(env, "BALLAST_CUSTOM_IMAGE_PREFIXES")),
            egress=EgressPolicy.from_env(env),
            ingest_network_policy=env.get("BALLAST_INGEST_NETWORK_POLICY", "true").strip().lower() != "false",
            ingest_extra_egress=tuple(_json_setting(env, "BALLAST_INGEST_EXTRA_EGRESS", list)),
            drift_min_interval_seconds=float(
                env.get("BALLAST_DRIFT_MIN_INTERVAL_SECONDS", defaults.drift_min_interval_seconds)
            ),
            prometheus_deadline_seconds=float(
                env.get("BALLAST_PROMETHEUS_DEADLINE_SECONDS", defaults.prometheus_deadline_seconds)
            ),
            tracking_uri=env.get("BALLAST_TRACKING_URI") or None,
            tracking_experiment=env.get("BALLAST_TRACKING_EXPERIMENT") or None,
            tracking_retry_seconds=float(env.get("BALLAST_TRACKING_RETRY_SECONDS", defaults.tracking_retry_seconds)),
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
    if (
        not isinstance(value, kind)
        or (kind is dict and not all(isinstance(v, str) for v in value.values()))
        or (kind is list and not all(isinstance(v, dict) for v in value))
    ):
        expected = "an object of strings" if kind is dict else "a list of objects"
        raise ValueError(f"{name} must be {expected}: {text[:200]!r}")
    return value


def _string_list_setting(env: Mapping[str, str], name: str) -> list[str]:
    """A JSON list of non-empty strings from the environment (the chart renders it with toJson)."""
    text = env.get(name, "").strip()
    if not text:
        return []
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{name} is not JSON ({error}): {text[:200]!r}") from None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{name} must be a list of non-empty strings: {text[:200]!r}")
    return value
