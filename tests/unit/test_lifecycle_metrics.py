"""Each finished run, promotion and rollback is counted once, from its status transition."""

from ballast.handlers.lifecycle_metrics import lifecycle_results


def succeeded(status: str) -> dict:
    return {"conditions": [{"type": "Succeeded", "status": status, "reason": "r"}]}


def test_a_run_is_counted_when_it_finishes_and_not_again():
    assert lifecycle_results("TrainingRun", succeeded("Unknown"), succeeded("True")) == [("training_runs", "succeeded")]
    assert lifecycle_results("TrainingRun", succeeded("Unknown"), succeeded("False")) == [("training_runs", "failed")]
    assert lifecycle_results("TrainingRun", succeeded("True"), succeeded("True")) == []
    assert lifecycle_results("TrainingRun", succeeded("True"), {}) == []  # nothing changed in this reconcile


def test_promotions_and_rollbacks_are_counted_on_the_stage_change():
    assert lifecycle_results("ModelVersion", {"stage": "Canary"}, {"stage": "Production"}) == [("rollouts", "promoted")]
    assert lifecycle_results("ModelVersion", {"stage": "Canary"}, {"stage": "RolledBack"}) == [
        ("rollouts", "rolledBack")
    ]
    assert lifecycle_results("ModelVersion", {"stage": "Production"}, {}) == []
    assert lifecycle_results("Dataset", {}, {"stage": "Production"}) == []
