"""Every operator series the chart's Grafana dashboard and PrometheusRule alerts read is one a
live operator exports, and each kind's reconciles are timed into the histogram the dashboard
charts. The unit tests check the same expressions against the code's definitions; this checks
them against what the running process serves."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.integration.test_api import EXAMPLES
from tests.support.kube import Kubectl, wait_for
from tests.support.observability import alerts, dashboard, dashboard_exprs, prometheus_rule, series_names
from tests.support.observability import model_server_series as documented_model_server_series


def exported_series(text: str) -> dict[str, float]:
    """Series name to the sum of its samples, for every family the scrape declares: a labelled
    counter nothing has incremented yet is declared (# TYPE) with no samples, and counts."""
    series: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        names = {
            "counter": [f"{family.name}_total"],
            "histogram": [f"{family.name}_bucket", f"{family.name}_sum", f"{family.name}_count"],
        }.get(family.type, [family.name])
        for name in names:
            series.setdefault(name, 0.0)
        for sample in family.samples:
            series[sample.name] = series.get(sample.name, 0.0) + sample.value
    return series


def operator_series_the_chart_reads() -> set[str]:
    """The ballast_* series of the dashboard and the alerts, but the model server's."""
    exprs = [expr for _, expr in dashboard_exprs(dashboard())]
    exprs += [alert["expr"] for alert in alerts(prometheus_rule()).values()]
    used = set().union(*(series_names(expr) for expr in exprs))
    return used - set(documented_model_server_series())


def reconciles_timed(metrics: str, kind: str) -> float:
    return next(
        (
            sample.value
            for family in text_string_to_metric_families(metrics)
            for sample in family.samples
            if sample.name == "ballast_reconcile_duration_seconds_count" and sample.labels.get("kind") == kind
        ),
        0.0,
    )


def test_every_operator_series_the_dashboard_and_alerts_read_is_exported(
    kubectl: Kubectl, namespace: str, ballast_operator
):
    wanted = operator_series_the_chart_reads()
    assert {"ballast_reconcile_duration_seconds_bucket", "ballast_reconciliations_total"} <= wanted, wanted

    k = kubectl.in_namespace(namespace)
    for document in EXAMPLES.values():
        k.apply(document)
    for kind in EXAMPLES:
        wait_for(
            lambda: reconciles_timed(ballast_operator.metrics(), kind) > 0,
            timeout=60,
            message=f"a timed reconcile of a {kind}",
        )

    exported = exported_series(ballast_operator.metrics())
    assert sorted(wanted - set(exported)) == [], "read by the chart, exported by no operator"
    assert exported["ballast_reconcile_duration_seconds_bucket"] > 0
