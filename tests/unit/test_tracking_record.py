"""What a finished TrainingRun looks like in MLflow: the pure mapping of ballast.tracking.record."""

from ballast.tracking.record import (
    DATASET_SHA256_TAG,
    FAILED,
    FINISHED,
    MAX_PARAM_VALUE_LENGTH,
    MODEL_VERSION_TAG,
    RUN_UID_TAG,
    tracked_run,
)

SHA_DATA, SHA_MODEL = "d" * 64, "f" * 64


def finished_run(succeeded="True", reason="Trained", **status):
    return {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": "credit-1", "namespace": "ml", "uid": "u-9", "generation": 1},
        "spec": {
            "model": "credit-risk",
            "datasetRef": {"name": "credit"},
            "estimator": "sklearn.linear_model.LogisticRegression",
        },
        "status": {
            "datasetVersion": SHA_DATA,
            "startedAt": "2026-01-01T11:00:00Z",
            "completedAt": "2026-01-01T11:02:30Z",
            "conditions": [
                {
                    "type": "Succeeded",
                    "status": succeeded,
                    "reason": reason,
                    "message": "accuracy=0.95",
                    "lastTransitionTime": "2026-01-01T11:02:30Z",
                }
            ],
            **status,
        },
    }


def test_params_are_the_fitted_ones_as_text_metrics_at_full_precision():
    params = {"C": 1.0, "class_weight": None, "fit_intercept": True, "max_iter": 200, "solver": "lbfgs"}
    tracked = tracked_run(finished_run(params=params, metrics={"accuracy": 0.9512345678, "f1_macro": 0.94}))
    assert tracked.params == {
        "C": "1.0",
        "class_weight": "None",
        "fit_intercept": "True",
        "max_iter": "200",
        "solver": "lbfgs",
    }
    assert tracked.metrics == {"accuracy": 0.9512345678, "f1_macro": 0.94}


def test_nested_params_are_flattened_with_dots_and_lists_are_json():
    params = {"clf": {"C": 0.5, "penalty": "l2"}, "hidden_layer_sizes": [10, 5], "empty": {}}
    tracked = tracked_run(finished_run(params=params))
    assert tracked.params == {"clf.C": "0.5", "clf.penalty": "l2", "hidden_layer_sizes": "[10, 5]", "empty": "{}"}


def test_a_value_past_mlflows_limit_is_cut_and_says_so_and_a_key_loses_characters_mlflow_refuses():
    tracked = tracked_run(finished_run(params={"tokens": "x" * 10_000, "odd[key]": 1}))
    assert len(tracked.params["tokens"]) == MAX_PARAM_VALUE_LENGTH
    assert tracked.params["tokens"].endswith("…")
    assert tracked.params["odd_key_"] == "1"


def test_tags_join_the_mlflow_run_to_the_dataset_version_the_model_version_and_the_run():
    tracked = tracked_run(
        finished_run(
            modelVersion="credit-risk-ffffffffffff",
            champion="credit-risk-aaaaaaaaaaaa",
            artifact={"uri": f"file:///m/credit-risk/{SHA_MODEL}/model.skops", "sha256": SHA_MODEL},
        )
    )
    assert tracked.tags[DATASET_SHA256_TAG] == SHA_DATA
    assert tracked.tags[MODEL_VERSION_TAG] == "credit-risk-ffffffffffff"
    assert tracked.tags[RUN_UID_TAG] == "u-9"
    assert tracked.tags["ballast.trainingRun"] == "credit-1"
    assert tracked.tags["ballast.namespace"] == "ml"
    assert tracked.tags["ballast.model"] == "credit-risk"
    assert tracked.tags["ballast.dataset"] == "credit"
    assert tracked.tags["ballast.champion"] == "credit-risk-aaaaaaaaaaaa"
    assert tracked.tags["ballast.artifact.sha256"] == SHA_MODEL
    assert tracked.tags["ballast.outcome"] == "Trained"
    assert tracked.run_name == "credit-1"
    assert tracked.experiment == "ballast/ml/credit-risk"
    assert tracked.status == FINISHED
    assert (tracked.start_ms, tracked.end_ms) == (1767265200000, 1767265350000)


def test_each_gate_is_a_tag_with_its_verdict_and_words_and_a_failed_run_is_failed_in_mlflow():
    gates = [
        {"name": "minimum/accuracy", "passed": True, "message": "accuracy 0.95 >= 0.9"},
        {"name": "mustBeatChampion", "passed": False, "message": "accuracy 0.95 <= champion's 0.97"},
    ]
    tracked = tracked_run(finished_run(succeeded="False", reason="GateFailed", gates=gates), experiment="team-a")
    assert tracked.tags["ballast.gate.minimum/accuracy"] == "passed: accuracy 0.95 >= 0.9"
    assert tracked.tags["ballast.gate.mustBeatChampion"] == "failed: accuracy 0.95 <= champion's 0.97"
    assert tracked.tags["ballast.gates"] == "failed"
    assert tracked.tags["ballast.outcome"] == "GateFailed"
    assert tracked.status == FAILED
    assert tracked.experiment == "team-a"


def test_a_run_that_made_nothing_still_maps_with_what_it_has():
    body = finished_run(succeeded="False", reason="InvalidEstimator")
    del body["status"]["datasetVersion"]
    tracked = tracked_run(body)
    assert tracked.params == {} and tracked.metrics == {}
    assert DATASET_SHA256_TAG not in tracked.tags and MODEL_VERSION_TAG not in tracked.tags
    assert tracked.status == FAILED
