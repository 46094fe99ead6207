"""The TrainingRun a DriftPolicy's firing creates from its template (as a CronJob makes Jobs)."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from ballast.api.driftpolicy import Promotion, RetrainAction
from ballast.api.kinds import GROUP, VERSION
from ballast.api.modelversion import RolloutStrategy
from ballast.build.naming import child_name
from ballast.build.policy import Refusal, custom_image_refusal
from ballast.settings import Settings

POLICY_LABEL = "ballast.dev/drift-policy"
FIRING_REASON_ANNOTATION = "ballast.dev/firing-reason"


def retrain_run_name(policy: str, fired_at: datetime) -> str:
    """One name per firing: a retried create finds the run it already made."""
    return child_name(policy, fired_at.strftime("%Y%m%d%H%M%S"))


def retrain_template_refusal(policy: dict[str, Any], settings: Settings) -> Refusal | None:
    """Whether the template's run may be created at all: the operator creates it itself, so a
    template must not carry an image or command its author could not run (the run's own
    reconcile checks again, whoever made it)."""
    template_spec = policy["spec"]["action"]["retrain"]["template"]["spec"]
    return custom_image_refusal(template_spec, settings, field="spec.action.retrain.template.spec")


def build_retrain_run(policy: dict[str, Any], dataset_version: str, fired_at: datetime, reason: str) -> dict[str, Any]:
    """The template's run, pinned to `dataset_version`, that must beat the champion, and whose
    ModelVersion rolls out by canary, promoted by itself or after approval as the policy says."""
    retrain = policy["spec"]["action"]["retrain"]
    promotion = RetrainAction.model_validate(retrain).promotion
    template = copy.deepcopy(retrain["template"])
    spec = template["spec"]
    spec["datasetRef"] = {**spec["datasetRef"], "version": dataset_version}
    evaluation = spec.setdefault("evaluation", {})
    evaluation.setdefault("gates", {})["mustBeatChampion"] = True
    rollout = spec.setdefault("modelVersionTemplate", {}).setdefault("rollout", {})
    rollout.setdefault("strategy", RolloutStrategy.CANARY.value)
    rollout["autoPromote"] = promotion == Promotion.AUTO
    metadata = template.get("metadata") or {}
    name, namespace = policy["metadata"]["name"], policy["metadata"]["namespace"]
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TrainingRun",
        "metadata": {
            "name": retrain_run_name(name, fired_at),
            "namespace": namespace,
            "labels": {**(metadata.get("labels") or {}), "app.kubernetes.io/managed-by": "ballast", POLICY_LABEL: name},
            "annotations": {**(metadata.get("annotations") or {}), FIRING_REASON_ANNOTATION: reason[:1024]},
            # Owned by the policy, so Argo CD shows it under the policy instead of as an
            # unknown resource; its ModelVersion is not owned by the run and outlives both.
            "ownerReferences": [
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": "DriftPolicy",
                    "name": name,
                    "uid": policy["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": False,
                }
            ],
        },
        "spec": spec,
    }
