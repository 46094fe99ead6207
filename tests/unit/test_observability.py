"""The chart's Grafana dashboard and PrometheusRule: valid, rendered by a real helm, and built
only from metrics and labels that exist (docs/metrics.md for the model server, the operator's
ballast.metrics, and the operator metrics agreed below). promtool (built from its Go module by
tests/prometheus/build.sh) checks the PromQL and runs the alerts and queries on synthetic series.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

import ballast.metrics
from tests.support.helm import CHART, find, rendered, template
from tests.support.kube import REPO, cache_dir
from tests.support.observability import (
    SELECTOR,
    Series,
    alerts,
    dashboard,
    dashboard_exprs,
    exposed,
    model_server_series,
    panels,
    prometheus_rule,
)

ENABLED = {"grafanaDashboard.enabled": True, "prometheusRule.enabled": True}
ALERTS = {
    "BallastModelDrifting",
    "BallastRolloutRolledBack",
    "BallastTrainingRunFailed",
    "BallastRetrainFailed",
    "BallastNoLeader",
}


# --- what exists -----------------------------------------------------------------------------


CHECKS = frozenset({"featureDrift", "predictionDrift", "integrity", "accuracy", "estimatedAccuracy"})
POLICY = ("namespace", "policy", "model")
# Operator metrics agreed for issue 6 and being added in parallel (the counters to
# operator/ballast/metrics.py, the drift gauges as a collector rendered at scrape time). Where
# metrics.py defines one already, test_agreed_metrics_match_the_code compares the two.
AGREED_OPERATOR_METRICS: dict[str, tuple[str, tuple[str, ...], dict[str, frozenset[str]]]] = {
    "ballast_drift_score": ("gauge", (*POLICY, "check"), {"check": CHECKS}),
    "ballast_drift_feature_score": ("gauge", (*POLICY, "feature", "method"), {}),
    "ballast_drift_feature_pvalue": (
        "gauge",
        (*POLICY, "feature", "method"),
        {"method": frozenset({"ks", "chiSquare"})},
    ),
    "ballast_drift_detected": ("gauge", (*POLICY, "check"), {"check": CHECKS}),
    "ballast_drift_firings_total": ("counter", (*POLICY, "action"), {"action": frozenset({"retrain", "notify"})}),
    # rolledBack too: metrics.py's help text counts retrained versions that failed their canary
    "ballast_retrains_total": (
        "counter",
        (*POLICY, "result"),
        {"result": frozenset({"created", "promoted", "rejected", "rolledBack", "failed"})},
    ),
    "ballast_rollouts_total": (
        "counter",
        ("namespace", "model", "result"),
        {"result": frozenset({"promoted", "rolledBack"})},
    ),
    "ballast_training_runs_total": (
        "counter",
        ("namespace", "model", "result"),
        {"result": frozenset({"succeeded", "failed"})},
    ),
}
# Labels Prometheus adds to every scraped series (Kubernetes service discovery, ServiceMonitor).
TARGET_LABELS = frozenset({"namespace", "pod", "container", "instance", "job", "service"})


def code_metrics() -> dict[str, tuple[str, tuple[str, ...]]]:
    """The operator's metrics that operator/ballast/metrics.py defines: name, type and labels
    as exposed (prometheus_client keeps a counter's name without its _total)."""
    metrics = {}
    for value in vars(ballast.metrics).values():
        if isinstance(value, MetricWrapperBase):
            name = value._name + ("_total" if value._type == "counter" else "")
            metrics[name] = (value._type, tuple(value._labelnames))
    return metrics


def known_series() -> dict[str, Series]:
    series = model_server_series()
    for name, (kind, labels) in code_metrics().items():
        series.update(exposed(name, kind, frozenset(labels)))
    for name, (kind, labels, values) in AGREED_OPERATOR_METRICS.items():
        series.update(exposed(name, kind, frozenset(labels), values))
    return series


def test_the_lists_of_what_exists_are_not_empty():
    server = model_server_series()
    assert {"ballast_serving_requests_total", "ballast_serving_request_duration_seconds_bucket"} <= set(server)
    assert server["ballast_serving_requests_total"].labels == {"model", "version", "endpoint", "code"}
    assert "infer" in server["ballast_serving_requests_total"].values["endpoint"]
    assert code_metrics()["ballast_reconciliations_total"] == ("counter", ("kind", "result"))


def test_agreed_metrics_match_the_code_where_it_has_them():
    in_code = code_metrics()
    for name, (kind, labels, _) in AGREED_OPERATOR_METRICS.items():
        if name in in_code:
            assert in_code[name] == (kind, labels), name


# --- reading PromQL ----------------------------------------------------------------------------
# Not a parser: it finds metric names, label matchers and grouping labels so they can be checked
# against what exists. promtool, below, checks the syntax.

MATCHER = re.compile(r'([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")


def problems(expr: str, series: dict[str, Series]) -> list[str]:
    """What in expr names a series, a label or a label value that does not exist."""
    found = []
    used = []
    for name, matchers in SELECTOR.findall(expr):
        if name not in series:
            found.append(f"unknown metric {name}")
            continue
        used.append(series[name])
        for label, operator, value in MATCHER.findall(matchers):
            if label not in series[name].labels | TARGET_LABELS:
                found.append(f"{name} has no label {label}")
            allowed = series[name].values.get(label)
            if operator == "=" and allowed is not None and value not in allowed:
                found.append(f"{name}{{{label}}} is never {value!r} (one of {sorted(allowed)})")
    labels = frozenset().union(*(s.labels for s in used)) | TARGET_LABELS
    for group in GROUPING.findall(expr):
        for label in filter(None, (part.strip() for part in group.split(","))):
            if label not in labels:
                found.append(f"no metric of the expression has label {label}")
    if not SELECTOR.search(expr):
        found.append("names no Ballast metric")
    return found


def test_the_reader_finds_what_does_not_exist():
    series = known_series()
    assert problems('sum by (version) (rate(ballast_serving_requests_total{model="m"}[5m]))', series) == []
    assert problems("rate(ballast_serving_request_total[5m])", series) == [
        "unknown metric ballast_serving_request_total"
    ]
    assert problems('ballast_rollouts_total{result="rolled_back"}', series) == [
        "ballast_rollouts_total{result} is never 'rolled_back' (one of ['promoted', 'rolledBack'])"
    ]
    assert problems("sum by (feature) (ballast_drift_score)", series) == [
        "no metric of the expression has label feature"
    ]
    assert problems('ballast_serving_ready{endpoint="infer"}', series) == [
        "ballast_serving_ready has no label endpoint"
    ]


# --- the dashboard --------------------------------------------------------------------------------


def test_dashboard_is_grafana_json_with_panels():
    board = dashboard()
    assert board["uid"] and board["title"] and isinstance(board["schemaVersion"], int)
    assert len(panels(board)) >= 10
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for panel in panels(board):
        where = panel["title"]
        assert panel["type"] in {"timeseries", "stat", "state-timeline"}, where
        grid = panel["gridPos"]
        assert all(isinstance(grid[k], int) for k in "xywh") and grid["x"] + grid["w"] <= 24, where
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, where
        assert panel["targets"], where
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), where
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], where
            for variable in re.findall(r"\$(\w+)", target["expr"]):
                assert variable in variables or variable.startswith("__"), f"{where}: ${variable} is not defined"


def test_dashboard_shows_per_model_traffic_errors_latency_drift_and_lifecycle():
    board = dashboard()
    (model_row,) = [p for p in board["panels"] if p["type"] == "row" and p.get("repeat")]
    assert model_row["repeat"] == "model"
    exprs = " ".join(expr for _, expr in dashboard_exprs(board))
    for needed in (
        "ballast_serving_requests_total",
        "ballast_serving_request_errors_total",
        "histogram_quantile(0.5",
        "histogram_quantile(0.99",
        "ballast_serving_request_duration_seconds_bucket",
        "ballast_drift_feature_score",
        "ballast_drift_feature_pvalue",
        "ballast_drift_score",
        "ballast_drift_firings_total",
        "ballast_retrains_total",
        "ballast_rollouts_total",
        "ballast_training_runs_total",
    ):
        assert needed in exprs, needed
    for title, expr in dashboard_exprs(board):
        if "ballast_serving" in expr or "ballast_drift" in expr or "_total{model" in expr:
            assert 'model=~"$model"' in expr, title


def test_every_metric_and_label_the_dashboard_uses_exists():
    series = known_series()
    board = dashboard()
    for where, expr in dashboard_exprs(board):
        assert problems(expr, series) == [], where
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            metric, label = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable["query"]["query"]).groups()
            assert label in series[metric].labels


# --- the chart -------------------------------------------------------------------------------------


@pytest.mark.tools
def test_both_are_off_by_default():
    objects = rendered()
    assert find(objects, "PrometheusRule") == []
    assert [c for c in find(objects, "ConfigMap") if "grafana_dashboard" in c["metadata"]["labels"]] == []


@pytest.mark.tools
def test_dashboard_config_map_for_the_grafana_sidecar():
    (config_map,) = find(rendered({"grafanaDashboard.enabled": True}), "ConfigMap")
    assert config_map["metadata"]["namespace"] == "ballast-system"
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["ballast.json"]) == dashboard()
    elsewhere = find(
        rendered(
            {
                "grafanaDashboard.enabled": True,
                "grafanaDashboard.namespace": "monitoring",
                "grafanaDashboard.labels": {"team": "ml"},
                "grafanaDashboard.annotations": {"grafana_folder": "Ballast"},
            }
        ),
        "ConfigMap",
    )[0]
    assert elsewhere["metadata"]["namespace"] == "monitoring"
    assert elsewhere["metadata"]["labels"]["team"] == "ml"
    assert elsewhere["metadata"]["annotations"] == {"grafana_folder": "Ballast"}


@pytest.mark.tools
def test_prometheus_rule_alerts_on_drift_rollbacks_failed_training_and_no_leader():
    rule = prometheus_rule({"prometheusRule.labels": {"release": "prometheus"}})
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    assert set(alerts(rule)) == ALERTS
    assert alerts(rule)["BallastModelDrifting"]["for"] == "15m"
    for alert in alerts(rule).values():
        assert alert["labels"] == {"severity": "warning"}
        assert {"summary", "description"} <= set(alert["annotations"])
    relabelled = alerts(
        prometheus_rule(
            {"prometheusRule.additionalRuleLabels": {"team": "ml", "severity": "page"}, "prometheusRule.driftFor": "1h"}
        )
    )
    assert all(a["labels"] == {"team": "ml", "severity": "page"} for a in relabelled.values())
    assert relabelled["BallastModelDrifting"]["for"] == "1h"


@pytest.mark.tools
def test_every_metric_and_label_the_alerts_use_exists():
    series = known_series()
    for name, alert in alerts(prometheus_rule()).items():
        assert problems(alert["expr"], series) == [], name


@pytest.mark.tools
def test_every_object_of_both_carries_the_recommended_labels():
    objects = [*find(rendered(ENABLED), "PrometheusRule"), *find(rendered(ENABLED), "ConfigMap")]
    assert len(objects) == 2
    for obj in objects:
        assert {
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/version",
            "app.kubernetes.io/managed-by",
            "helm.sh/chart",
        } <= set(obj["metadata"]["labels"])


@pytest.mark.tools
@pytest.mark.parametrize(
    "key, value, message",
    [
        ("grafanaDashboard.enabeld", True, "additional properties 'enabeld' not allowed"),
        ("prometheusRule.label", {"a": "b"}, "additional properties 'label' not allowed"),
        ("prometheusRule.driftFor", "15 minutes", "/prometheusRule/driftFor"),
        ("grafanaDashboard.enabled", "yes", "at '/grafanaDashboard/enabled': got string, want boolean"),
        ("prometheusRule.runbookBaseUrl", "docs/runbooks.md", "/prometheusRule/runbookBaseUrl"),
    ],
)
def test_schema_rejects_typos_in_the_new_values(key, value, message):
    result = template({key: value}, check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


# --- runbooks ------------------------------------------------------------------------------------

RUNBOOKS = REPO / "docs" / "runbooks.md"
DEFAULT_RUNBOOKS = yaml.safe_load((CHART / "values.yaml").read_text())["prometheusRule"]["runbookBaseUrl"]
RUNBOOK_PARTS = ("**Meaning.**", "**First checks.**", "**Fixes.**")


def runbook_sections(markdown: str) -> dict[str, str]:
    """Each second-level section by its anchor, as GitHub and MkDocs spell it: lower case,
    punctuation dropped, spaces as hyphens."""
    parts = re.split(r"^## (.+)$", markdown, flags=re.MULTILINE)
    return {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-"): body
        for heading, body in zip(parts[1::2], parts[2::2])
    }


def test_the_runbook_reader_finds_sections_by_anchor():
    sections = runbook_sections("# Page\n\n## BallastNoLeader\n\ntext\n\n## Which replica leads?\n\nmore\n")
    assert sections == {"ballastnoleader": "\n\ntext\n\n", "which-replica-leads": "\n\nmore\n"}


@pytest.mark.tools
def test_every_alert_links_to_a_runbook_section_that_exists():
    sections = runbook_sections(RUNBOOKS.read_text())
    assert DEFAULT_RUNBOOKS.endswith("/docs/runbooks.md")
    for name, alert in alerts(prometheus_rule()).items():
        page, _, anchor = alert["annotations"]["runbook_url"].partition("#")
        assert page == DEFAULT_RUNBOOKS, name
        assert anchor in sections, f"{name}: docs/runbooks.md has no section #{anchor}"
        for part in RUNBOOK_PARTS:
            assert part in sections[anchor], f"{name}: its runbook says nothing under {part}"
    assert set(sections) == {name.lower() for name in ALERTS}, "a runbook for an alert the chart does not have"
    elsewhere = "https://docs.example.com/ballast/runbooks/"
    for name, alert in alerts(prometheus_rule({"prometheusRule.runbookBaseUrl": elsewhere})).items():
        assert alert["annotations"]["runbook_url"] == f"{elsewhere}#{name.lower()}"


# --- promtool: syntax, and the rules and queries on synthetic series -------------------------------


def promtool_binary() -> str:
    """The promtool tests/prometheus/build.sh builds (and caches), else one on PATH."""
    cached = cache_dir() / "bin" / "current" / "promtool"
    if cached.exists():
        return str(cached)
    if shutil.which("promtool"):
        return shutil.which("promtool")
    build = REPO / "tests" / "prometheus" / "build.sh"
    if build.exists() and shutil.which("go"):
        subprocess.run(["bash", str(build)], check=True, stdout=subprocess.DEVNULL, timeout=1800)
        return str(cached)
    pytest.skip("no promtool: neither built by tests/prometheus/build.sh (needs Go) nor on PATH")


# Grafana's variables as a person viewing one model over an hour would have them.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__range": "1h", "$model": "credit-risk"}


def as_prometheus(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def promtool(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([promtool_binary(), *args], capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.mark.tools
def test_promtool_accepts_the_alerts_and_every_dashboard_query(tmp_path):
    (tmp_path / "alerts.yaml").write_text(yaml.safe_dump({"groups": prometheus_rule()["spec"]["groups"]}))
    queries = [
        {"record": f"ballast:dashboard_query_{i}", "expr": as_prometheus(expr)}
        for i, (_, expr) in enumerate(dashboard_exprs(dashboard()))
    ]
    (tmp_path / "dashboard.yaml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": queries}]}))
    result = promtool("check", "rules", "alerts.yaml", "dashboard.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        f"SUCCESS: {len(ALERTS)} rules found" in result.stdout
        and f"SUCCESS: {len(queries)} rules found" in result.stdout
    )
    broken = [{"record": "ballast:broken", "expr": "sum by (version (rate(ballast_serving_requests_total[5m]))"}]
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump({"groups": [{"name": "broken", "rules": broken}]}))
    assert promtool("check", "rules", "broken.yaml", cwd=tmp_path).returncode != 0


DRIFT = 'namespace="ml", policy="credit-drift", model="credit-risk"'
ROLLOUT = 'namespace="ml", model="credit-risk"'


def alert(name: str, labels: dict, summary: str, description: str) -> dict:
    return {
        "exp_labels": {"severity": "warning", **labels},
        "exp_annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": f"{DEFAULT_RUNBOOKS}#{name.lower()}",
        },
    }


ALERT_CASES = {
    # drift found from minute 2 on in one check, never in the other: pending for 15m, then firing
    "input_series": [
        {"series": f'ballast_drift_detected{{{DRIFT}, check="featureDrift"}}', "values": "0 0 1x40"},
        {"series": f'ballast_drift_score{{{DRIFT}, check="featureDrift"}}', "values": "0.1 0.1 0.625x40"},
        {"series": f'ballast_drift_detected{{{DRIFT}, check="accuracy"}}', "values": "0x42"},
        {"series": f'ballast_drift_score{{{DRIFT}, check="accuracy"}}', "values": "0.91x42"},
        # the first rollback creates the series at minute 10; promotions never alert
        {"series": f'ballast_rollouts_total{{{ROLLOUT}, result="rolledBack"}}', "values": "_x10 1x120"},
        {"series": f'ballast_rollouts_total{{{ROLLOUT}, result="promoted"}}', "values": "1x130"},
        # a failed-run series that exists (at 0) before its first failure at minute 6, a second at 76
        {"series": f'ballast_training_runs_total{{{ROLLOUT}, result="failed"}}', "values": "0x5 1x70 2x100"},
        {"series": f'ballast_retrains_total{{{DRIFT}, result="failed"}}', "values": "_x20 1x10"},
        {"series": f'ballast_retrains_total{{{DRIFT}, result="promoted"}}', "values": "_x20 1x10"},
    ],
}


@pytest.mark.tools
def test_alerts_fire_on_synthetic_series(tmp_path):
    drifting = alert(
        "BallastModelDrifting",
        {"namespace": "ml", "policy": "credit-drift", "model": "credit-risk", "check": "featureDrift"},
        "Model credit-risk is drifting (featureDrift).",
        "DriftPolicy credit-drift finds featureDrift drift in model credit-risk (score 0.625). "
        "See `kubectl -n ml describe driftpolicy credit-drift`.",
    )
    rolled_back = alert(
        "BallastRolloutRolledBack",
        {"namespace": "ml", "model": "credit-risk", "result": "rolledBack"},
        "A canary of model credit-risk was rolled back.",
        "A new version of model credit-risk failed its canary analysis in the last hour and was rolled back; "
        "Production keeps serving. `kubectl -n ml get modelversions -l ballast.dev/model=credit-risk` shows the "
        "rollback reason.",
    )
    training = alert(
        "BallastTrainingRunFailed",
        {"namespace": "ml", "model": "credit-risk", "result": "failed"},
        "A TrainingRun of model credit-risk failed.",
        "A TrainingRun of model credit-risk failed in the last hour (a gate, the dataset, the deadline or the "
        "trainer). `kubectl -n ml get trainingruns` shows the reason.",
    )
    retrain = alert(
        "BallastRetrainFailed",
        {"namespace": "ml", "policy": "credit-drift", "model": "credit-risk", "result": "failed"},
        "A retrain of drifting model credit-risk failed.",
        "DriftPolicy credit-drift fired and the TrainingRun it created for model credit-risk failed in the last "
        "hour, so the drifting version keeps serving.",
    )
    checks = [
        ("10m", "BallastModelDrifting", []),
        ("20m", "BallastModelDrifting", [drifting]),
        ("5m", "BallastRolloutRolledBack", []),
        ("15m", "BallastRolloutRolledBack", [rolled_back]),
        ("65m", "BallastRolloutRolledBack", [rolled_back]),
        ("90m", "BallastRolloutRolledBack", []),
        ("3m", "BallastTrainingRunFailed", []),
        ("8m", "BallastTrainingRunFailed", [training]),
        ("70m", "BallastTrainingRunFailed", []),
        ("80m", "BallastTrainingRunFailed", [training]),
        ("170m", "BallastTrainingRunFailed", []),
        ("10m", "BallastRetrainFailed", []),
        ("25m", "BallastRetrainFailed", [retrain]),
    ]
    run_alert_tests(tmp_path, ALERT_CASES["input_series"], checks)


def run_alert_tests(tmp_path, input_series: list[dict], checks: list[tuple[str, str, list[dict]]]):
    (tmp_path / "alerts.yaml").write_text(yaml.safe_dump({"groups": prometheus_rule()["spec"]["groups"]}))
    tests = {
        "rule_files": ["alerts.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": input_series,
                "alert_rule_test": [
                    {"eval_time": at, "alertname": name, "exp_alerts": expected} for at, name, expected in checks
                ],
            }
        ],
    }
    (tmp_path / "alerts_test.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = promtool("test", "rules", "alerts_test.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


# the operator's scrape targets as the chart's ServiceMonitor names them (release ballast in ballast-system)
OPERATOR = {"namespace": "ballast-system", "job": "ballast-metrics"}


def operator_series(name: str, pod: str, values: str, target: dict | None = None) -> dict:
    labels = {**(target or OPERATOR), "pod": pod, "instance": f"{pod}:9090"}
    return {"series": name + "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}", "values": values}


NO_LEADER = alert(
    "BallastNoLeader",
    OPERATOR,
    "No Ballast operator replica leads in ballast-system.",
    "For 5 minutes no replica of the Ballast operator (ballast-metrics) has reported ballast_leader 1: every "
    "replica stands by, fails its scrapes or is gone, so nothing is reconciled. `kubectl -n ballast-system get "
    "lease ballast` shows the holder, and the operator pods' logs say why they stand by or stop.",
)


@pytest.mark.tools
def test_no_leader_fires_when_every_replica_stands_by_fails_its_scrapes_or_is_gone(tmp_path):
    # a leads until minute 10, both stand by from 11 to 31, a leads again from 32 to 41; from 42 both
    # crash, their scrapes failing, until minute 61; then the pods are gone with their targets
    run_alert_tests(
        tmp_path,
        [
            operator_series("ballast_leader", "a", "1x10 0x20 1x9 stale"),
            operator_series("ballast_leader", "b", "0x39 stale"),
            operator_series("up", "a", "1x41 0x19 stale"),
            operator_series("up", "b", "1x41 0x19 stale"),
        ],
        [
            ("14m", "BallastNoLeader", []),  # pending: a hand-over may be under way
            ("17m", "BallastNoLeader", [NO_LEADER]),
            ("30m", "BallastNoLeader", [NO_LEADER]),
            ("35m", "BallastNoLeader", []),
            ("45m", "BallastNoLeader", []),
            ("50m", "BallastNoLeader", [NO_LEADER]),
            ("80m", "BallastNoLeader", [NO_LEADER]),  # no targets left: the replicas scraped in the last hour
            # an hour after the last scrape of an operator that is gone, nothing is left to compare
            ("105m", "BallastNoLeader", []),
        ],
    )
    # replicas that never come up (crash at start, image not found) have failing targets only
    run_alert_tests(
        tmp_path,
        [operator_series("up", "a", "0x90"), operator_series("up", "b", "0x90")],
        [
            ("4m", "BallastNoLeader", []),
            ("6m", "BallastNoLeader", [NO_LEADER]),
            ("90m", "BallastNoLeader", [NO_LEADER]),
        ],
    )


@pytest.mark.tools
def test_no_leader_stays_quiet_through_a_hand_over_and_without_a_scraped_operator(tmp_path):
    # the leader a is deleted at minute 10 and its target goes; b takes the Lease and reports it at
    # its next scrape. Another release's operator (not this rule's) stands by alone, and the
    # model servers are scraped without any operator series
    elsewhere = {"namespace": "team-b", "job": "other-ballast-metrics"}
    run_alert_tests(
        tmp_path,
        [
            operator_series("ballast_leader", "a", "1x10 stale"),
            operator_series("up", "a", "1x10 stale"),
            operator_series("ballast_leader", "b", "0x11 1x49"),
            operator_series("up", "b", "1x60"),
            operator_series("ballast_leader", "c", "0x60", elsewhere),
            operator_series("up", "c", "1x60", elsewhere),
        ],
        [(at, "BallastNoLeader", []) for at in ("5m", "11m", "17m", "40m", "60m")],
    )
    run_alert_tests(
        tmp_path,
        [{"series": 'up{namespace="ml", job="serving", pod="credit-risk-0"}', "values": "1x60"}],
        [("30m", "BallastNoLeader", [])],
    )


def query(board: dict, title: str, ref: str = "A") -> str:
    (panel,) = [p for p in panels(board) if p["title"] == title]
    return as_prometheus(next(t["expr"] for t in panel["targets"] if t["refId"] == ref))


SERVED = 'model="credit-risk", endpoint="infer"'


@pytest.mark.tools
def test_dashboard_queries_on_synthetic_series(tmp_path):
    """At minute 10 of steady traffic: v1 takes 1 request/s without errors, v2 0.6/s of which
    0.1/s fail; v1's latency buckets put 5/6 of requests under 5 ms and all under 25 ms."""
    board = dashboard()
    series = [
        {"series": f'ballast_serving_requests_total{{{SERVED}, version="v1", code="200"}}', "values": "0+60x20"},
        {"series": f'ballast_serving_requests_total{{{SERVED}, version="v2", code="200"}}', "values": "0+30x20"},
        {"series": f'ballast_serving_requests_total{{{SERVED}, version="v2", code="500"}}', "values": "0+6x20"},
        {"series": f'ballast_serving_request_errors_total{{{SERVED}, version="v2", code="500"}}', "values": "0+6x20"},
        {
            "series": f'ballast_serving_request_duration_seconds_bucket{{{SERVED}, version="v1", le="0.005"}}',
            "values": "0+50x20",
        },
        {
            "series": f'ballast_serving_request_duration_seconds_bucket{{{SERVED}, version="v1", le="0.025"}}',
            "values": "0+60x20",
        },
        {
            "series": f'ballast_serving_request_duration_seconds_bucket{{{SERVED}, version="v1", le="+Inf"}}',
            "values": "0+60x20",
        },
        # one rollback at minute 30 (its series appears with it), two promotions of which one an
        # hour ago or more (at minute 1) and one at minute 41
        {"series": f'ballast_rollouts_total{{{ROLLOUT}, result="rolledBack"}}', "values": "_x30 1x50"},
        {"series": f'ballast_rollouts_total{{{ROLLOUT}, result="promoted"}}', "values": "1x40 2x40"},
    ]
    tests = [
        ("10m", query(board, "Traffic by version"), [({"version": "v1"}, 1.0), ({"version": "v2"}, 0.6)]),
        ("10m", query(board, "Error ratio by version"), [({"version": "v1"}, 0.0), ({"version": "v2"}, 0.1 / 0.6)]),
        ("10m", query(board, "Latency p50 / p99 by version", "A"), [({"version": "v1"}, 0.003)]),
        ("10m", query(board, "Latency p50 / p99 by version", "B"), [({"version": "v1"}, 0.0238)]),
        # increase() extrapolates to the window's edges: samples span 59 of its 60 minutes
        ("75m", query(board, "Rollouts"), [({"result": "rolledBack"}, 1.0), ({"result": "promoted"}, 60 / 59)]),
    ]
    definition = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    {
                        "expr": expr,
                        "eval_time": at,
                        "exp_samples": [
                            {"labels": "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}", "value": value}
                            for labels, value in samples
                        ],
                    }
                    for at, expr, samples in tests
                ],
            }
        ],
    }
    (tmp_path / "dashboard_test.yaml").write_text(yaml.safe_dump(definition, sort_keys=False))
    result = promtool("test", "rules", "dashboard_test.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
