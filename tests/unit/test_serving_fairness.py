"""The model server's counts by group of the sensitive feature (bounded, folded beyond a cap),
training's fairness and error rates on the reference page, and the checks reading a real scrape."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ballast.api.driftpolicy import ErrorRatesCheck, FairnessCheck
from ballast.build.serving import REFERENCE_PATH
from ballast.drift.counters import parse_metrics, window_between
from ballast.drift.group_checks import error_rates, fairness
from ballast.reasons.driftpolicy import Verdict
from ballast.serving.buckets import OTHER, UNSEEN, CategoryBuckets, FeatureBuckets, NumericEdges
from ballast.serving.groups import MAX_GROUPS, MISSING_GROUP, GroupCounts, fold_groups, group_folding
from ballast.serving.tensors import FeatureBatch
from tests.unit.test_serving_harness import (
    TrainedModel,
    metric_value,
    mixed_frame,
    named_inputs,
    running_server,
    trained_model,
)


def test_fold_groups_keeps_the_first_and_folds_the_rest_into_other() -> None:
    labels = [f"v{i}" for i in range(20)] + [OTHER, UNSEEN]
    index, groups, folded = fold_groups(labels, cap=5)
    assert groups == ("v0", "v1", "v2", "v3", OTHER) and folded == 17  # v4..v19 and __unseen__
    assert index.tolist()[:5] == [0, 1, 2, 3, 4] and set(index.tolist()[4:]) == {4}
    same, kept, none = fold_groups(["a", "b", OTHER], cap=5)
    assert kept == ("a", "b", OTHER) and none == 0 and same.tolist() == [0, 1, 2]


def test_counts_stay_within_the_cap_whatever_the_traffic() -> None:
    many = CategoryBuckets.of("city", [f"c{i}" for i in range(50)], [f"c{i}" for i in range(60)])
    buckets = FeatureBuckets(numeric=NumericEdges.of(["age"], [(20.0, 40.0, 60.0)]), categorical=(many,))
    folding = group_folding(buckets, "city")
    assert folding is not None and len(folding.labels) == MAX_GROUPS + 1 and folding.labels[-1] == MISSING_GROUP
    counts = GroupCounts(folding, buckets, ("no", "yes"))
    values = np.array([f"c{i}" for i in range(60)] + ["never-seen", np.nan], dtype=object)
    batch = FeatureBatch(rows=len(values), numeric=np.zeros((len(values), 1)), categorical=values.reshape(-1, 1))
    groups = counts.groups_of(batch)
    counts.record_predictions(groups, ["yes"] * len(values))
    assert counts.predictions.shape == (MAX_GROUPS + 1, 2) and counts.predictions.sum() == len(values)
    assert counts.predictions[folding.labels.index(OTHER), 1] == 60 - (MAX_GROUPS - 1) + 1  # the unseen one too
    assert counts.predictions[folding.missing, 1] == 1
    # a numeric feature's groups are its training bins, named by their `le`
    numeric = group_folding(buckets, "age")
    assert numeric is not None and numeric.labels == ("20.0", "40.0", "60.0", "+Inf", MISSING_GROUP)
    by_age = GroupCounts(numeric, buckets, ("no", "yes"))
    ages = np.array([[10.0], [20.0], [20.5], [99.0], [np.nan]])
    empty = np.empty((5, 1), dtype=object)
    assert by_age.groups_of(FeatureBatch(5, ages, empty)).tolist() == [0, 0, 1, 3, 4]
    assert group_folding(buckets, "not-an-input") is None


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fairness")


@pytest.fixture(scope="module")
def clinic(workdir: Path) -> TrainedModel:
    return trained_model(
        workdir,
        "clinic",
        mixed_frame(),
        "sklearn.tree.DecisionTreeClassifier",
        {"max_depth": 3},
        evaluation={"gates": {"fairness": {"sensitiveFeature": "clinic"}}},
    )


def test_the_server_counts_by_group_and_exports_trainings_measurements(clinic, workdir) -> None:
    rows = clinic.frame.drop(columns="target").iloc[:40]
    truth = clinic.frame["target"].iloc[:40].tolist()
    with running_server(clinic, workdir) as server:
        client = server.client()
        before = parse_metrics(server.metrics())
        _, response = client.post("/v2/models/clinic/infer", {"id": "r1", "inputs": named_inputs(rows, clinic.columns)})
        predicted = response["outputs"][0]["data"]
        status, answer = client.post("/v2/models/clinic/feedback", {"id": "r1", "labels": truth})
        assert status == 200 and answer["matched"] == 40
        text = server.metrics()
        reference = server.metrics(REFERENCE_PATH)
    model = {"model": "clinic"}
    groups = rows["clinic"].where(rows["clinic"].notna(), MISSING_GROUP).tolist()
    for group in set(groups):
        expected = sum(g == group and p == 1 for g, p in zip(groups, predicted))
        labels = {"feature": "clinic", "group": group, "predicted_class": "1", **model}
        assert metric_value(text, "ballast_fairness_prediction_total", **labels) == expected
        hits = sum(g == group and t == 1 and p == 1 for g, t, p in zip(groups, truth, predicted))
        labels = {"feature": "clinic", "group": group, "true_class": "1", "predicted_class": "1", **model}
        assert metric_value(text, "ballast_fairness_feedback_total", **labels) == hits
    series = [line for line in text.splitlines() if line.startswith("ballast_fairness_prediction_total{")]
    assert len(series) == len(("north", "south", "east", OTHER, UNSEEN, MISSING_GROUP)) * 2
    metadata = clinic.metadata
    trained = metadata["fairness"]["metrics"]["demographic_parity_difference"]
    labels = {"feature": "clinic", "metric": "demographic_parity_difference", "positive_class": "1", **model}
    assert metric_value(reference, "ballast_reference_fairness", **labels) == pytest.approx(trained)
    assert metric_value(reference, "ballast_reference_fairness_folded_groups", feature="clinic", **model) == 0
    fnr = metadata["errorRates"]["1"]["falseNegative"]
    assert metric_value(reference, "ballast_reference_class_error_rate", rate="falseNegative", **{"class": "1"}) == (
        pytest.approx(fnr)
    )
    # the checks read what a scrape gives
    window = window_between({"pod": before}, {"pod": parse_metrics(text)})
    window = type(window)(counts=window.counts, reference=parse_metrics(reference).reference)
    judged = fairness(window, FairnessCheck(sensitive_feature="clinic", min_group_rows=1, min_labels=1), 10)
    assert judged.verdict in (Verdict.DRIFT, Verdict.NO_DRIFT) and judged.score is not None
    assert error_rates(window, ErrorRatesCheck(min_labels=1, min_class_labels=1), 10).verdict in (
        Verdict.DRIFT,
        Verdict.NO_DRIFT,
    )
