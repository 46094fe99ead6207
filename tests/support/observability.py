"""The chart's Grafana dashboard and PrometheusRule as data, and the series that exist to back
them: what the unit tests check the two against, and what the cluster tests scrape for."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from tests.support.helm import CHART, find, rendered
from tests.support.kube import REPO

DASHBOARD = CHART / "dashboards" / "ballast.json"
SELECTOR = re.compile(r"\b(ballast_[a-z0-9_]+)\b\s*(\{[^}]*\})?")
"""A series name, with its label matchers if it has any. Not a PromQL parser: promtool checks syntax."""


@dataclass(frozen=True)
class Series:
    labels: frozenset[str]
    values: dict[str, frozenset[str]] = field(default_factory=dict)
    """Label to the values it can have, where that is a closed set."""


def exposed(name: str, kind: str, labels: frozenset[str], values=None) -> dict[str, Series]:
    """The series names a metric is exposed as, with their labels."""
    values = values or {}
    if kind == "histogram":
        return {
            f"{name}_bucket": Series(labels | {"le"}, values),
            f"{name}_sum": Series(labels, values),
            f"{name}_count": Series(labels, values),
        }
    return {name: Series(labels, values)}


def model_server_series() -> dict[str, Series]:
    """Every series docs/metrics.md lists, each with model and version."""
    text = (REPO / "docs" / "metrics.md").read_text()
    endpoints = frozenset(re.findall(r"`(\w+)`", re.search(r"`endpoint` is one of (.*)", text).group(1)))
    series = {}
    for line in text.splitlines():
        row = re.match(r"\|\s*`(ballast_\w+)`\s*\|\s*([^|]+?)\s*\|([^|]*)\|", line)
        if row:
            name, kind, labels = row.group(1), row.group(2).split()[0], frozenset(re.findall(r"`(\w+)`", row.group(3)))
            values = {"endpoint": endpoints} if "endpoint" in labels else {}
            series.update(exposed(name, kind, labels | {"model", "version"}, values))
    return series


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def panels(board: dict) -> list[dict]:
    return [p for p in board["panels"] if p["type"] != "row"]


def dashboard_exprs(board: dict) -> list[tuple[str, str]]:
    return [(f"{p['title']}/{t['refId']}", t["expr"]) for p in panels(board) for t in p["targets"]]


def prometheus_rule(values: dict | None = None) -> dict:
    (rule,) = find(rendered({"prometheusRule.enabled": True, **(values or {})}), "PrometheusRule")
    return rule


def alerts(rule: dict) -> dict[str, dict]:
    return {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}


def series_names(expr: str) -> set[str]:
    """The ballast_* series an expression reads."""
    return {name for name, _ in SELECTOR.findall(expr)}
