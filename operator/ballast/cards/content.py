"""A model card's content, as a pure function of the version's metadata.json.

Every fact on the card is one the training pod recorded in metadata.json (ballast.training.report),
so a card can be rebuilt and checked from the record alone, long after the TrainingRun is gone.
What the record does not say, the card says it does not know, rather than leaving it out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from ballast.api.trainingrun import MUST_BEAT_CHAMPION

CARD_FORMAT = "ballast-model-card-v1"


class CardPart(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class DataPart(CardPart):
    dataset: str | None
    sha256: str | None
    snapshot_uri: str | None
    profile_sha256: str | None
    profile: dict[str, Any] | None
    """ballast.data.profile.profile_summary of the version's profile.json."""


class EvaluationPart(CardPart):
    test_fraction: float | None
    seed: int | None
    stratified: bool
    train_rows: int | None
    test_rows: int | None
    dropped_without_target: int | None
    key_metric: dict[str, Any] | None
    metrics: dict[str, float]
    skipped_metrics: dict[str, str]
    error_rates: dict[str, dict[str, float]]
    """class -> falsePositive / falseNegative -> rate on the test split: what the errorRates drift
    check compares production with."""


class ChampionPart(CardPart):
    model_version: str | None
    sha256: str | None
    beaten: bool | None
    """Whether the model passed the mustBeatChampion gate against it; None when not compared."""
    statement: str


class RuntimePart(CardPart):
    ballast_version: str | None
    code_version: str | None
    image: str | None
    image_digest: str | None
    python_version: str | None
    packages: dict[str, str]


class ModelCard(CardPart):
    format: str = CARD_FORMAT
    model: str
    artifact_sha256: str
    artifact_uri: str | None
    training_run: str | None
    task: str | None
    estimator: str | None
    params: dict[str, Any]
    features: dict[str, Any]
    classes: list[Any] | None
    feature_steps: list[dict[str, Any]]
    """The TrainingRun's declared feature steps; empty for Ballast's standard preprocessing only."""
    feature_pipeline: list[dict[str, Any]]
    data: DataPart
    evaluation: EvaluationPart
    fairness: dict[str, Any] | None
    gates: list[dict[str, Any]]
    passed: bool | None
    champion: ChampionPart
    intended_use: str | None
    limitations: str | None
    runtime: RuntimePart

    def to_json(self) -> dict[str, Any]:
        """card.json: camelCase, and every field present (null says "not recorded")."""
        return self.model_dump(by_alias=True, mode="json")


def _section(metadata: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = metadata.get(name)
    return value if isinstance(value, Mapping) else {}


def champion_part(lineage: Mapping[str, Any], gates: list[dict[str, Any]]) -> ChampionPart:
    """The champion the model was compared with at training time, and the verdict."""
    champion = lineage.get("champion") if isinstance(lineage.get("champion"), Mapping) else None
    gate = next((g for g in gates if g.get("name") == MUST_BEAT_CHAMPION), None)
    if champion is None:
        statement = (
            "No champion: it was the first version of its model"
            if gate is not None
            else "Not compared with a champion (the run did not set mustBeatChampion)"
        )
        return ChampionPart(model_version=None, sha256=None, beaten=None, statement=statement)
    name = champion.get("modelVersion") or "the Production version"
    beaten = None if gate is None else bool(gate.get("passed"))
    if gate is None:
        statement = f"{name} was Production at training time; no comparison was recorded"
    else:
        verdict = "Beat" if beaten else "Did not beat"
        statement = f"{verdict} {name} on the same test split: {gate.get('message') or 'no detail'}"
    return ChampionPart(
        model_version=champion.get("modelVersion"), sha256=champion.get("sha256"), beaten=beaten, statement=statement
    )


def model_card(metadata: Mapping[str, Any]) -> ModelCard:
    """The card of the version metadata.json describes."""
    artifact, lineage = _section(metadata, "artifact"), _section(metadata, "lineage")
    dataset, rows = _section(lineage, "dataset"), _section(metadata, "rows")
    reproducibility, run = _section(metadata, "reproducibility"), _section(lineage, "trainingRun")
    gates = [dict(gate) for gate in metadata.get("gates") or []]
    return ModelCard(
        model=str(metadata.get("model") or ""),
        artifact_sha256=str(artifact.get("sha256") or ""),
        artifact_uri=artifact.get("uri"),
        training_run=run.get("name"),
        task=metadata.get("task"),
        estimator=metadata.get("estimator"),
        params=dict(metadata.get("params") or {}),
        features=dict(metadata.get("features") or {}),
        classes=metadata.get("classes"),
        feature_steps=list(lineage.get("featureSteps") or []),
        feature_pipeline=list(metadata.get("featurePipeline") or []),
        data=DataPart(
            dataset=dataset.get("name"),
            sha256=dataset.get("sha256"),
            snapshot_uri=dataset.get("snapshotUri"),
            profile_sha256=reproducibility.get("datasetProfileSha256"),
            profile=metadata.get("datasetProfile"),
        ),
        evaluation=EvaluationPart(
            test_fraction=reproducibility.get("testFraction"),
            seed=reproducibility.get("seed"),
            # train_model stratifies the split of every classifier (ballast.training.split).
            stratified=metadata.get("task") == "classification",
            train_rows=rows.get("train"),
            test_rows=rows.get("test"),
            dropped_without_target=rows.get("droppedWithoutTarget"),
            key_metric=metadata.get("keyMetric"),
            metrics=dict(metadata.get("metrics") or {}),
            skipped_metrics=dict(metadata.get("skippedMetrics") or {}),
            error_rates=dict(metadata.get("errorRates") or {}),
        ),
        fairness=metadata.get("fairness"),
        gates=gates,
        passed=metadata.get("passed"),
        champion=champion_part(lineage, gates),
        intended_use=metadata.get("intendedUse"),
        limitations=metadata.get("limitations"),
        runtime=RuntimePart(
            ballast_version=reproducibility.get("ballastVersion"),
            code_version=reproducibility.get("codeVersion"),
            image=reproducibility.get("image"),
            image_digest=reproducibility.get("imageDigest"),
            python_version=reproducibility.get("pythonVersion"),
            packages=dict(reproducibility.get("packages") or {}),
        ),
    )
