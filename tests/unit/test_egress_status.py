"""What reaches status from outbound reads and from the data they bring: counts and rows, never
values; and how often a DriftPolicy may read at all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import celpy

from ballast.api.dataset import DatasetSpec
from ballast.api.driftpolicy import MIN_INTERVAL_SECONDS, DriftPolicySpec
from ballast.data.assess import assess
from ballast.data.tables import read_csv_raw
from ballast.reconcile.driftpolicy_inputs import parse_status
from ballast.reconcile.driftpolicy_schedule import evaluation_due
from ballast.settings import Settings

SECRET = "AKIAIOSFODNN7EXAMPLE"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_violation_names_the_column_and_the_count_never_the_value():
    spec = DatasetSpec.model_validate(
        {
            "source": {"url": "http://x"},
            "schema": {
                "columns": [
                    {"name": "plan", "type": "category", "allowedValues": ["basic", "pro"]},
                    {"name": "age", "type": "integer", "minimum": 0, "maximum": 120},
                    {"name": "income", "type": "float"},
                ]
            },
        }
    )
    raw = read_csv_raw(f"plan,age,income\nbasic,1,2.5\n{SECRET},-77777,{SECRET}\n{SECRET},88888,x\n".encode())
    violations = assess(raw, spec).violations
    assert violations == (
        "column plan: 2 values are not among the allowed values (first at row 2)",
        "column age: 1 value is below the minimum of 0 (smallest at row 2)",
        "column age: 1 value is above the maximum of 120 (largest at row 3)",
        "column income: 2 values are not finite numbers (first at row 2)",
    )
    assert not [v for v in violations if SECRET in v or "7777" in v or "8888" in v]


def test_an_interval_below_the_minimum_is_refused_by_the_api_with_a_clear_message():
    rules = DriftPolicySpec.model_config["json_schema_extra"]["x-kubernetes-validations"]
    (rule,) = [r for r in rules if "interval" in r["rule"]]
    assert f"at least {MIN_INTERVAL_SECONDS}s" in rule["message"]
    environment = celpy.Environment()
    program = environment.program(environment.compile(rule["rule"]))

    def admitted(interval: str) -> bool:
        return bool(program.evaluate({"self": celpy.json_to_cel({"model": "m", "interval": interval})}))

    assert [admitted(i) for i in ("1s", "500ms", "1s999ms", "0s")] == [False] * 4
    assert [admitted(i) for i in ("2s", "1s1000ms", "5m", "1h30m", "999999999h")] == [True] * 5


def test_the_operator_floors_the_interval_of_objects_admitted_before_the_minimum():
    status = parse_status({"modelVersion": "m-v1", "lastEvaluationTime": (NOW - timedelta(seconds=1.5)).isoformat()})
    spec = DriftPolicySpec(model="m", interval="100ms")
    assert not evaluation_due(status, spec, NOW, "m-v1")  # the API's minimum, by default
    assert evaluation_due(status, spec, NOW + timedelta(seconds=0.5), "m-v1")
    assert not evaluation_due(status, spec, NOW + timedelta(seconds=5), "m-v1", min_interval_seconds=10)
    assert Settings.from_env({"BALLAST_DRIFT_MIN_INTERVAL_SECONDS": "30"}).drift_min_interval_seconds == 30
    assert Settings().drift_min_interval_seconds == MIN_INTERVAL_SECONDS == 2


def test_a_dataset_url_on_a_denied_address_fails_before_any_job_is_created():
    from ballast.reconcile.dataset import DatasetObservation, reconcile_dataset

    def dataset(url: str) -> dict:
        return {
            "apiVersion": "ballast.dev/v1alpha1",
            "kind": "Dataset",
            "metadata": {"name": "d", "namespace": "team-a", "uid": "u", "generation": 1},
            "spec": {
                "source": {"url": url},
                "format": "csv",
                "schema": {"columns": [{"name": "x", "type": "integer"}]},
            },
        }

    refused = reconcile_dataset(
        DatasetObservation(body=dataset("http://169.254.169.254/latest/meta-data/"), now=NOW), Settings()
    )
    assert refused.create_jobs == []
    ingest = refused.status["ingest"]
    assert (ingest["succeeded"], ingest["reason"]) == (False, "EgressDenied")
    assert ingest["message"].startswith("spec.source.url: 169.254.169.254 is in link-local")
    allowed = Settings.from_env({"BALLAST_EGRESS_ALLOW": "169.254.169.254"})
    assert (
        len(
            reconcile_dataset(
                DatasetObservation(body=dataset("http://169.254.169.254/x"), now=NOW), allowed
            ).create_jobs
        )
        == 1
    )
    # a name is resolved by the ingest pod, at the moment it connects
    assert (
        len(
            reconcile_dataset(
                DatasetObservation(body=dataset("http://data.example/x.csv"), now=NOW), Settings()
            ).create_jobs
        )
        == 1
    )
