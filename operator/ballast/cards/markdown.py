"""card.md: a model card as Markdown, for people (card.json holds the same facts for tools).

Deterministic text (sorted params and metrics, fixed number formatting), so the same record
always gives the same bytes and the sha256 in metadata.json verifies it."""

from __future__ import annotations

import json
from typing import Any

from ballast.cards.annotations import INTENDED_USE_ANNOTATION, LIMITATIONS_ANNOTATION
from ballast.cards.content import ModelCard
from ballast.drift.group_rates import FALSE_NEGATIVE, FALSE_POSITIVE

NOT_RECORDED = "not recorded"
NOT_STATED = "not stated (set the TrainingRun annotation `{annotation}`)"


def _value(value: Any) -> str:
    if value is None:
        return NOT_RECORDED
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _cell(value: Any) -> str:
    """A table cell: pipes and line breaks would end the cell or the row."""
    return _value(value).replace("|", "\\|").replace("\n", " ")


def _parameter(value: Any) -> str:
    """A parameter as JSON (null, true, "sqrt"): None is a value the estimator was given."""
    return json.dumps(value, sort_keys=True)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return lines


def _data(card: ModelCard) -> list[str]:
    data = card.data
    lines = [
        "## Data",
        "",
        f"- Dataset: {_value(data.dataset)}",
        f"- Version (sha256 of the canonical content): `{_value(data.sha256)}`",
        f"- Snapshot: {_value(data.snapshot_uri)}",
        f"- Profile sha256: `{_value(data.profile_sha256)}`",
    ]
    profile = data.profile
    if not profile:
        return [*lines, "- Profile summary: " + NOT_RECORDED, ""]
    lines += [f"- Rows: {_value(profile.get('rows'))}; target: {_value(profile.get('target'))}", ""]
    columns = profile.get("columns") or {}
    rows = [
        [
            name,
            column.get("type"),
            column.get("role"),
            column.get("nulls"),
            *(
                (column.get("min"), column.get("max"), column.get("mean"))
                if column.get("type") in ("integer", "float")
                else ("", "", f"{_value(column.get('distinct'))} distinct")
            ),
        ]
        for name, column in columns.items()
    ]
    return [*lines, *_table(["column", "type", "role", "missing", "min", "max", "mean"], rows), ""]


def _pipeline(card: ModelCard) -> list[str]:
    lines = ["## Feature pipeline", ""]
    features = card.features
    lines.append(
        f"Numeric features: {', '.join(features.get('numeric') or []) or 'none'}; "
        f"categorical features: {', '.join(features.get('categorical') or []) or 'none'}; "
        f"target: {_value(features.get('target'))}."
    )
    lines.append("")
    if card.feature_steps:
        lines.append("Declared feature steps, in order:")
        lines += [f"- {json.dumps(step, sort_keys=True)}" for step in card.feature_steps]
    else:
        lines.append("Declared feature steps: none (Ballast's standard imputation and encoding only).")
    lines.append("")
    if not card.feature_pipeline:
        return [*lines, f"Preprocessing: {NOT_RECORDED}.", ""]
    for group in card.feature_pipeline:
        steps = "; then ".join(
            f"{step.get('name')} ({step.get('class')}, {json.dumps(step.get('params') or {}, sort_keys=True)})"
            for step in group.get("steps") or []
        )
        lines.append(f"- {group.get('name')} [{', '.join(group.get('columns') or [])}]: {steps}")
    return [*lines, ""]


def _evaluation(card: ModelCard) -> list[str]:
    evaluation = card.evaluation
    split = (
        f"{_value(evaluation.test_rows)} test rows ({_value(evaluation.test_fraction)} of the labelled rows, "
        f"{'stratified, ' if evaluation.stratified else ''}seed {_value(evaluation.seed)}), "
        f"{_value(evaluation.train_rows)} training rows, "
        f"{_value(evaluation.dropped_without_target)} rows dropped without a target"
    )
    key = evaluation.key_metric or {}
    lines = ["## Metrics", "", f"Measured on the held-out test split: {split}.", ""]
    lines.append(f"Key metric: {_value(key.get('name'))} = {_value(key.get('value'))}")
    lines.append("")
    lines += _table(["metric", "value"], [[name, evaluation.metrics[name]] for name in sorted(evaluation.metrics)])
    for name in sorted(evaluation.skipped_metrics):
        lines.append(f"- {name} not computed: {evaluation.skipped_metrics[name]}")
    return [*lines, "", *_error_rates(evaluation.error_rates)]


def _error_rates(rates: dict[str, dict[str, float]]) -> list[str]:
    if not rates:
        return []
    rows = [[label, rates[label].get(FALSE_POSITIVE), rates[label].get(FALSE_NEGATIVE)] for label in sorted(rates)]
    lines = ["Error rates by class on the test split (what the errorRates drift check compares with):", ""]
    return [*lines, *_table(["class", "false positive rate", "false negative rate"], rows), ""]


def _fairness(card: ModelCard) -> list[str]:
    lines = ["## Fairness", ""]
    fairness = card.fairness
    if not fairness:
        return [*lines, "Not measured (the run set no fairness gate).", ""]
    lines.append(f"Sensitive feature: {_value(fairness.get('sensitiveFeature'))}, on the test split.")
    if fairness.get("unavailable"):
        lines.append(f"Not measured: {fairness['unavailable']}.")
    lines.append("")
    metrics = fairness.get("metrics") or {}
    return [*lines, *_table(["metric", "value"], [[name, metrics[name]] for name in sorted(metrics)]), ""]


def _gates(card: ModelCard) -> list[str]:
    lines = ["## Gates", ""]
    if not card.gates:
        return [*lines, "No gates were set.", ""]
    verdict = {True: "passed", False: "failed", None: NOT_RECORDED}[card.passed]
    rows = [
        [gate.get("name"), "passed" if gate.get("passed") else "failed", gate.get("message")] for gate in card.gates
    ]
    return [*lines, *_table(["gate", "result", "detail"], rows), "", f"Outcome: {verdict}.", ""]


def render_markdown(card: ModelCard) -> str:
    runtime = card.runtime
    packages = ", ".join(f"{name} {version}" for name, version in sorted(card.runtime.packages.items()))
    lines = [
        f"# Model card: {card.model}",
        "",
        f"- Artifact sha256: `{card.artifact_sha256}`",
        f"- Artifact: {_value(card.artifact_uri)}",
        f"- TrainingRun: {_value(card.training_run)}",
        f"- Task: {_value(card.task)}; estimator: {_value(card.estimator)}",
        "",
        "## Intended use",
        "",
        card.intended_use or NOT_STATED.format(annotation=INTENDED_USE_ANNOTATION),
        "",
        "## Limitations",
        "",
        card.limitations or NOT_STATED.format(annotation=LIMITATIONS_ANNOTATION),
        "",
        *_data(card),
        *_pipeline(card),
        "## Parameters as fitted",
        "",
        *_table(["parameter", "value"], [[name, _parameter(card.params[name])] for name in sorted(card.params)]),
        "",
        *_evaluation(card),
        *_fairness(card),
        *_gates(card),
        "## Champion",
        "",
        card.champion.statement + ".",
        "",
        "## Runtime",
        "",
        f"- Ballast {_value(runtime.ballast_version)} (code {_value(runtime.code_version)}), "
        f"Python {_value(runtime.python_version)}",
        f"- Image: {_value(runtime.image)} ({_value(runtime.image_digest)})",
        f"- Packages: {packages or NOT_RECORDED}",
    ]
    return "\n".join(lines) + "\n"
