"""The Jobs that do Ballast's heavy work: ingesting a Dataset and training a TrainingRun."""

from __future__ import annotations

import json
from typing import Any

from ballast.api.dataset import DatasetSource
from ballast.api.trainingrun import TrainingRunSpec
from ballast.build.ingest_input import INPUT_PATH, ingest_input_volume
from ballast.build.naming import INGEST_COMPONENT, TRAINING_COMPONENT, ballast_labels, child_name
from ballast.build.pods import ballast_container, owner_reference, pod_spec
from ballast.settings import Settings

SOURCE_ROOT = "/mnt/ballast-source"
INGEST_DEADLINE_SECONDS = 1800
# Exit codes of `ballast ingest` / `ballast train` that say the input itself is wrong:
# retrying cannot help, so the Job fails at once instead of spending its backoff.
INGEST_PERMANENT_EXIT_CODES = [4]
TRAIN_PERMANENT_EXIT_CODES = [2, 3]
_TRAINING_DEFAULTS = TrainingRunSpec.model_fields
"""The API's defaults (the API server applies them too); a spec read before defaulting falls back to them."""


def ingest_job_name(dataset: str, generation: int, refresh: int) -> str:
    return child_name(dataset, "ingest", f"g{generation}", f"r{refresh}")


def training_job_name(run: str) -> str:
    return child_name(run, "train")


def _job(
    *,
    name: str,
    owner: dict[str, Any],
    labels: dict[str, Any],
    pod: dict[str, Any],
    backoff_limit: int,
    deadline: int,
    permanent_exit_codes: list[int],
) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": owner["metadata"]["namespace"],
            "labels": labels,
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": {
            "backoffLimit": backoff_limit,
            "activeDeadlineSeconds": deadline,
            "podFailurePolicy": {
                "rules": [
                    {"action": "FailJob", "onExitCodes": {"operator": "In", "values": permanent_exit_codes}},
                    # a pod evicted or preempted is not the workload's fault: do not count it
                    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
                ]
            },
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }


def build_ingest_job(dataset: dict[str, Any], *, job_name: str, settings: Settings) -> dict[str, Any]:
    """The Dataset itself reaches the pod as a file of the Secret build.ingest_input makes,
    which must exist first; only short values travel in the environment."""
    name = dataset["metadata"]["name"]
    source = DatasetSource.model_validate(dataset["spec"]["source"])
    labels = ballast_labels(component=INGEST_COMPONENT, instance=name)
    input_volume, input_mount, input_sha256 = ingest_input_volume(dataset)
    env = [
        {"name": "BALLAST_DATASET_NAME", "value": name},
        {"name": "BALLAST_DATASET_JSON_PATH", "value": INPUT_PATH},
        {"name": "BALLAST_DATASET_JSON_SHA256", "value": input_sha256},
        {"name": "BALLAST_SOURCE_ROOT", "value": SOURCE_ROOT},
        # what a url source may read: the operator's egress policy (ballast.net.egress)
        *({"name": key, "value": value} for key, value in sorted(settings.egress.to_env().items())),
    ]
    mounts, volumes, env_from = [input_mount], [input_volume], []
    if source.pvc is not None:
        volumes.append(
            {"name": "source", "persistentVolumeClaim": {"claimName": source.pvc.claim_name, "readOnly": True}}
        )
        mounts.append({"name": "source", "mountPath": SOURCE_ROOT, "readOnly": True})
    if source.object_store is not None and source.object_store.secret_ref is not None:
        env_from.append({"prefix": "SOURCE_", "secretRef": {"name": source.object_store.secret_ref.name}})
    container = ballast_container(
        name="ingest",
        args=["ingest"],
        env=env,
        settings=settings,
        namespace=dataset["metadata"]["namespace"],
        env_from=env_from,
        extra_mounts=mounts,
    )
    return _job(
        name=job_name,
        owner=dataset,
        labels=labels,
        pod=pod_spec([container], settings, restart_policy="Never", extra_volumes=volumes),
        backoff_limit=2,
        deadline=INGEST_DEADLINE_SECONDS,
        permanent_exit_codes=INGEST_PERMANENT_EXIT_CODES,
    )


def image_digest(reference: str) -> str | None:
    """The digest of an image named by digest (`repo@sha256:...`): what the runtime runs,
    whatever a tag points at later, so the reproducibility record can name it."""
    _, at, digest = reference.partition("@")
    return digest if at and digest.startswith("sha256:") else None


def training_labels(run: dict[str, Any]) -> dict[str, str]:
    """The labels of whatever trains a run: its Job, or its DaskJob (whose operator copies them
    onto the scheduler, worker and runner pods)."""
    return ballast_labels(component=TRAINING_COMPONENT, instance=run["metadata"]["name"], model=run["spec"]["model"])


def training_env(run: dict[str, Any], inputs: dict[str, Any], settings: Settings) -> list[dict[str, Any]]:
    """What `ballast train` reads besides the store: its inputs and the image it runs in."""
    image = run["spec"].get("image") or settings.image
    env = [
        {"name": "BALLAST_RUN_INPUTS", "value": json.dumps(inputs, sort_keys=True)},
        {"name": "BALLAST_IMAGE", "value": image},
    ]
    digest = image_digest(image)
    if digest:
        env.append({"name": "BALLAST_IMAGE_DIGEST", "value": digest})
    return env


def build_training_job(run: dict[str, Any], *, inputs: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """inputs: the run's inputs document that `ballast train` reads (see ballast.runtime.train).
    A custom image or command is the caller's to check first (ballast.build.policy)."""
    name = run["metadata"]["name"]
    spec = run["spec"]
    labels = training_labels(run)
    container = ballast_container(
        name="train",
        args=["train"],
        env=training_env(run, inputs, settings),
        settings=settings,
        namespace=run["metadata"]["namespace"],
        resources=spec.get("resources"),
    )
    if spec.get("image"):
        container["image"] = spec["image"]
        if spec.get("command"):
            container["command"] = spec["command"]
            container["args"] = []
    return _job(
        name=training_job_name(name),
        owner=run,
        labels=labels,
        pod=pod_spec([container], settings, restart_policy="Never"),
        backoff_limit=spec.get("backoffLimit", _TRAINING_DEFAULTS["backoff_limit"].default),
        deadline=spec.get("activeDeadlineSeconds", _TRAINING_DEFAULTS["active_deadline_seconds"].default),
        permanent_exit_codes=TRAIN_PERMANENT_EXIT_CODES,
    )
