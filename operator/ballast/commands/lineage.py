"""`ballast lineage <modelversion>`: the chain from the dataset's source to the model artifact."""

from __future__ import annotations

import json

from ballast.reconcile.trainingrun import TRAINING_SPEC_ANNOTATION


def lineage_lines(version: dict, run: dict | None, dataset: dict | None) -> list[str]:
    spec = version["spec"]
    source = spec.get("source") or {}
    recorded = json.loads((version["metadata"].get("annotations") or {}).get(TRAINING_SPEC_ANNOTATION, "{}"))
    training = (run or {}).get("spec") or recorded
    dataset_ref = source.get("dataset") or {}
    lines = []
    if dataset_ref:
        lines.append(f"Dataset {dataset_ref['name']}")
        if dataset:
            lines.append(
                f"  source:   {_describe_source(dataset['spec']['source'])} ({dataset['spec'].get('format', 'csv')})"
            )
            entry = next(
                (
                    v
                    for v in (dataset.get("status") or {}).get("versions") or []
                    if v["sha256"] == dataset_ref["version"]
                ),
                None,
            )
            if entry:
                lines.append(
                    f"  snapshot: {entry.get('snapshotUri', '-')} ({entry['rows']} rows, {entry['createdAt']})"
                )
        lines.append(f"  version:  sha256:{dataset_ref['version']}")
    else:
        lines.append("Dataset: none recorded (an externally trained model)")
    if source.get("trainingRun"):
        lines.append(
            f"TrainingRun {source['trainingRun']}" + ("" if run else " (deleted; inputs from the registry entry)")
        )
        if training:
            lines.append(f"  estimator: {training.get('estimator')}")
            lines.append(f"  params:    {json.dumps(training.get('params') or {}, sort_keys=True)}")
            lines.append(f"  seed:      {training.get('seed', 0)}")
        reproducibility = ((run or {}).get("status") or {}).get("reproducibility") or {}
        if reproducibility:
            packages = ", ".join(f"{k} {v}" for k, v in sorted((reproducibility.get("packages") or {}).items()))
            lines.append(f"  runtime:   Python {reproducibility.get('pythonVersion', '?')}; {packages}")
    lines.append(f"ModelVersion {version['metadata']['name']} (model {spec['model']})")
    lines.append(f"  artifact: {spec['artifact']['uri']}")
    lines.append(f"  sha256:   {spec['artifact']['sha256']}")
    status = version.get("status") or {}
    if status.get("stage"):
        lines.append(f"  stage:    {status['stage']}")
    return lines


def _describe_source(source: dict) -> str:
    if "url" in source:
        return source["url"]
    if "objectStore" in source:
        return source["objectStore"]["uri"]
    if "pvc" in source:
        return f"pvc {source['pvc']['claimName']}:/{source['pvc']['path']}"
    return f"inline ({len(source.get('inline', {}).get('rows', []))} rows)"
