"""The newest part of the training snapshot as the reference (spec.reference.source
newestTraining): which rows are newest, how the operator asks the model server for their
reference, and, on real data (breast cancer: small tumours first, large ones later, both in the
snapshot a retrained model learns from), traffic of the new world is calm against the newest
part where it drifts against the whole snapshot."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl

import pandas as pd
import pytest

from ballast.api.driftpolicy import DriftPolicySpec
from ballast.build.serving import REFERENCE_PATH
from ballast.drift.checks import REFERENCE_BINS, REFERENCE_ROWS
from ballast.drift.counters import Window, parse_metrics, series_key
from ballast.drift.group_checks import REFERENCE_FAIRNESS
from ballast.drift.newest import NewestPart, newest_part_of_query
from ballast.reasons.driftpolicy import NO_NEWEST_REFERENCE, Verdict
from ballast.reconcile.driftpolicy_newest import against_newest, newest_part
from ballast.reconcile.driftpolicy_schedule import evaluate_window
from ballast.reference_metrics import ReferenceGauges
from ballast.serving.newest import newest_rows
from tests.badinput.cel import rule_failures
from tests.badinput.crd_schema import spec_schema, with_defaults
from tests.support import tumours
from tests.unit.test_reconcile_driftpolicy import condition, decide, observe, policy, watched
from tests.unit.test_reference_metrics import exported
from tests.unit.test_serving_harness import running_server, served_window, trained_model

TIME = tumours.TIME
NEWEST = {"source": "newestTraining", "newest": {"timeColumn": TIME, "period": "720h"}}
UNJUDGED = {"accuracy": {"enabled": False}, "errorRates": {"enabled": False}}


def spec(**fields) -> DriftPolicySpec:
    return DriftPolicySpec.model_validate(policy(**fields)["spec"])


# --- the API -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "refused"),
    [
        (NEWEST, []),
        ({"source": "newestTraining", "newest": {"timeColumn": TIME, "fraction": 0.2}}, []),
        ({"source": "newestTraining"}, ["spec.reference.newest"]),
        ({"newest": {"timeColumn": TIME, "period": "1h"}}, ["spec.reference.newest"]),  # source defaults to training
        ({"source": "newestTraining", "newest": {"timeColumn": TIME}}, ["spec.reference.newest"]),
        (
            {"source": "newestTraining", "newest": {"timeColumn": TIME, "period": "1h", "fraction": 0.5}},
            ["spec.reference.newest"],
        ),
    ],
)
def test_the_newest_part_is_named_with_its_source_and_by_exactly_one_amount(reference, refused):
    schema = spec_schema("DriftPolicy")
    failures = rule_failures(schema, with_defaults(schema, {**policy()["spec"], "reference": reference}))
    assert [f.reported_path for f in failures] == refused


def test_the_policy_names_its_part_as_the_model_server_reads_it():
    assert newest_part(spec()) is None
    part = newest_part(spec(reference=NEWEST))
    assert part == NewestPart(TIME, period_seconds=720 * 3600)
    assert newest_part_of_query(dict(parse_qsl(part.query()))) == part
    assert newest_part_of_query({}) is None
    for wrong in (
        {"timeColumn": TIME},
        {"fraction": "0.5"},
        {"timeColumn": TIME, "fraction": "1.5"},
        {"timeColumn": TIME, "periodSeconds": "-3"},
        {"timeColumn": TIME, "periodSeconds": "soon"},
    ):
        with pytest.raises(ValueError):
            newest_part_of_query(wrong)


# --- which rows are newest -----------------------------------------------------------------------


def test_a_period_counts_back_from_the_newest_dated_row_and_undated_rows_are_in_no_part():
    frame = pd.DataFrame(
        {
            TIME: ["2026-01-01T00:00:00Z", "2026-03-01", None, "2026-03-20T12:00:00+02:00", "not a time", "2026-03-31"],
            "x": [1, 2, 3, 4, 5, 6],
        }
    )
    assert newest_rows(frame, NewestPart(TIME, period_seconds=15 * 86400))["x"].tolist() == [4, 6]
    assert newest_rows(frame, NewestPart(TIME, period_seconds=40 * 86400))["x"].tolist() == [2, 4, 6]


def test_a_fraction_takes_the_newest_share_of_the_dated_rows_and_keeps_rows_of_one_time_together():
    frame = pd.DataFrame({TIME: [5.0, 1.0, 3.0, None, 4.0, 2.0, 4.0], "x": list("abcdefg")})
    assert newest_rows(frame, NewestPart(TIME, fraction=0.2))["x"].tolist() == ["a", "e", "g"]  # ceil(1.2) -> 4 and 4
    assert newest_rows(frame, NewestPart(TIME, fraction=0.5))["x"].tolist() == ["a", "e", "g"]  # 3 -> 4 and 4
    assert newest_rows(frame, NewestPart(TIME, fraction=0.6))["x"].tolist() == ["a", "c", "e", "g"]  # 4 -> 3
    assert newest_rows(frame, NewestPart(TIME, fraction=0.01))["x"].tolist() == ["a"]


def test_a_snapshot_without_the_column_or_without_a_dated_row_has_no_newest_part():
    frame = pd.DataFrame({TIME: [None, "never"], "x": [1, 2]})
    with pytest.raises(ValueError, match="dates no row"):
        newest_rows(frame, NewestPart(TIME, fraction=0.5))
    with pytest.raises(ValueError, match="no time column 'ts'"):
        newest_rows(frame, NewestPart("ts", fraction=0.5))
    with pytest.raises(ValueError, match="booleans"):
        newest_rows(pd.DataFrame({TIME: [True, False]}), NewestPart(TIME, fraction=0.5))


# --- the swap and the operator's copy ------------------------------------------------------------


def test_the_part_replaces_the_distributions_keeps_what_training_measured_and_a_missing_part_is_said():
    fairness = series_key(REFERENCE_FAIRNESS, {"feature": "g", "metric": "dp", "positive_class": "1"})
    x_low = series_key(REFERENCE_BINS, {"feature": "x", "bin": "1.0"})
    x_high = series_key(REFERENCE_BINS, {"feature": "x", "bin": "+Inf"})
    window = Window(counts={}, reference={(REFERENCE_ROWS, ()): 1000.0, x_low: 0.5, x_high: 0.5, fairness: 0.03})
    part = NewestPart(TIME, fraction=0.3)
    newest = {(REFERENCE_ROWS, ()): 300.0, x_high: 1.0, fairness: 0.99}
    judged, problem = against_newest(window, part, newest)
    assert problem is None and judged is not None
    assert judged.reference == {(REFERENCE_ROWS, ()): 300.0, x_high: 1.0, fairness: 0.03}
    for nothing in ({}, {fairness: 0.03}, {(REFERENCE_ROWS, ()): 0.0}):
        judged, problem = against_newest(window, part, nothing)
        assert judged is None and problem is not None and problem[0] == NO_NEWEST_REFERENCE
        assert repr(TIME) in problem[1]


def test_a_policy_without_its_newest_part_is_not_ready_and_says_why_until_the_part_is_there():
    window = Window(counts={}, reference={(REFERENCE_ROWS, ()): 1000.0})
    body = policy(reference=NEWEST, status=watched())
    _, problem = against_newest(window, NewestPart(TIME, period_seconds=3600), {})
    unjudged = decide(observe(body, None, window_problem=problem))
    ready = condition(unjudged, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", NO_NEWEST_REFERENCE)
    assert condition(unjudged, "Drifting")["status"] == "Unknown"
    assert "verdict" not in unjudged.outcome.status, "nothing judged, so no verdict"


def test_the_operator_keeps_a_parts_reference_beside_the_whole_one_and_exports_only_the_whole():
    gauges = ReferenceGauges()
    rows = series_key(REFERENCE_ROWS, {})
    query = NewestPart(TIME, fraction=0.3).query()
    assert gauges.reference_of("ml", "drift", "credit", "v1", lambda: {rows: 1000.0}) == {rows: 1000.0}
    assert gauges.reference_of("ml", "drift", "credit", "v1", lambda: {rows: 300.0}, part=query) == {rows: 300.0}
    assert gauges.reference_of("ml", "drift", "credit", "v1", lambda: {}, part=query) == {rows: 300.0}  # kept
    assert gauges.reference_of("ml", "drift", "credit", "v1", lambda: {}) == {rows: 1000.0}
    assert [(name, value) for name, _, value in exported(gauges)] == [("ballast_reference_rows", 1000.0)]
    gauges.forget("ml", "drift")
    assert exported(gauges) == []


# --- real data: the world after a retraining on old and new rows together -------------------------


@pytest.fixture(scope="module")
def retrained_on_both_worlds(tmp_path_factory):
    return trained_model(
        tmp_path_factory.mktemp("dated-tumours"),
        tumours.MODEL,
        (tumours.dated(), tumours.DATED_SCHEMA),
        "sklearn.ensemble.RandomForestClassifier",
        {"n_estimators": 30},
    )


def test_the_model_server_counts_the_newest_part_in_the_bins_of_the_whole_and_refuses_a_wrong_part(
    retrained_on_both_worlds, tmp_path: Path
):
    trained = retrained_on_both_worlds
    assert TIME not in trained.columns.all
    with running_server(trained, tmp_path) as server:
        whole = parse_metrics(server.metrics(REFERENCE_PATH)).reference
        part = NewestPart(TIME, period_seconds=30 * 86400)
        newest = parse_metrics(server.metrics(f"{REFERENCE_PATH}?{part.query()}")).reference
        client = server.client()
        bad_status, bad = client.get(f"{REFERENCE_PATH}?timeColumn={TIME}&fraction=2")
        missing_status, missing = client.get(f"{REFERENCE_PATH}?timeColumn=ts&fraction=0.5")
    assert whole[(REFERENCE_ROWS, ())] == len(tumours.frame())
    assert newest[(REFERENCE_ROWS, ())] == len(tumours.large())
    bins = lambda reference: {key for key in reference if key[0] == REFERENCE_BINS}  # noqa: E731
    assert bins(newest) == bins(whole), "the same bins on both sides"
    assert bad_status == 400 and "fraction" in bad["error"]
    assert missing_status == 404 and "no time column 'ts'" in missing["error"]


def test_large_tumours_drift_against_the_whole_snapshot_and_not_against_its_newest_part(
    retrained_on_both_worlds, tmp_path: Path
):
    trained = retrained_on_both_worlds
    newest_spec = spec(reference=NEWEST, checks=UNJUDGED)
    part = newest_part(newest_spec)
    assert part is not None
    with running_server(trained, tmp_path) as server:
        window = served_window(
            server, tumours.MODEL, trained.columns, tumours.large().sample(400, replace=True, random_state=1)
        )
        newest = parse_metrics(server.metrics(f"{REFERENCE_PATH}?{part.query()}")).reference

    against_training = evaluate_window(spec(checks=UNJUDGED), None, window)
    assert against_training.verdict == Verdict.DRIFT, against_training.summary()
    prediction = next(c for c in against_training.checks if c.name == "predictionDrift")
    assert prediction.verdict == Verdict.DRIFT and prediction.score is not None and prediction.score > 0.25
    print(f"\n  against the whole snapshot: {against_training.summary()}, prediction psi {prediction.score:.3f}")

    judged, problem = against_newest(window, part, newest)
    assert problem is None and judged is not None
    calm = evaluate_window(newest_spec, None, judged)
    print(f"  against its newest part: {calm.summary()}, largest feature psi {calm.max_feature_score:.3f}")
    assert {check.name: check.verdict for check in calm.checks} == {
        "featureDrift": Verdict.NO_DRIFT,
        "predictionDrift": Verdict.NO_DRIFT,
        "integrity": Verdict.NO_DRIFT,
    }
