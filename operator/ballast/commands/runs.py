"""`ballast runs <model>`: every TrainingRun of a model side by side, params and metrics."""

from __future__ import annotations

import json

from ballast.commands.tables import format_table, number
from ballast.conditions import ConditionType, find_condition


def runs_table(runs: list[dict], model: str) -> str:
    """Oldest first; one column per metric and per param that any run of the model has."""
    runs = sorted(
        (r for r in runs if r["spec"]["model"] == model), key=lambda r: r["metadata"].get("creationTimestamp", "")
    )
    if not runs:
        return f"no TrainingRuns for model {model}"
    metric_names = sorted({name for r in runs for name in (r.get("status") or {}).get("metrics") or {}})
    param_names = sorted({name for r in runs for name in r["spec"].get("params") or {}})
    header = [
        "RUN",
        "RESULT",
        "ESTIMATOR",
        "DATASET-VERSION",
        "SEED",
        *[f"param:{p}" for p in param_names],
        *[m.upper() for m in metric_names],
    ]
    rows = []
    for run in runs:
        status = run.get("status") or {}
        succeeded = find_condition(status.get("conditions"), ConditionType.SUCCEEDED) or {}
        result = succeeded.get("reason", "Pending") if succeeded.get("status") != "Unknown" else "Running"
        params, metrics = run["spec"].get("params") or {}, status.get("metrics") or {}
        rows.append(
            [
                run["metadata"]["name"],
                result,
                run["spec"]["estimator"].rsplit(".", 1)[-1],
                (status.get("datasetVersion") or "-")[:12],
                str(run["spec"].get("seed", 0)),
                *[json.dumps(params[p]) if p in params else "-" for p in param_names],
                *[number(metrics.get(m)) for m in metric_names],
            ]
        )
    return format_table(header, rows)
