"""benchmarks/serve_latency.py's report line: it prints whatever the run measured."""

from __future__ import annotations

from tests.support.kube import REPO
from tests.support.scripts import load_script

serve_latency = load_script(REPO / "benchmarks" / "serve_latency.py")

PHASE = {"p50_ms": 0.8, "p99_ms": 1.3}


def test_a_run_whose_budget_ended_before_any_rate_step_still_reports(capsys):
    result = {
        "1 row": PHASE,
        "100 rows": PHASE,
        "max_sustained_rate": None,
        "rate_steps": [],
        "stopped_by_budget": True,
    }
    serve_latency.show("ballast", "iris", result)
    line = capsys.readouterr().out
    assert "max sustained not measured req/s (errors 0; time budget reached before the limit)" in line


def test_a_rate_below_the_first_step_is_named_by_it(capsys):
    step = {"rate": 500, "achieved_rate": 410.0, "p50_ms": 2.0, "p99_ms": 9.0, "errors": 3}
    result = {
        "1 row": PHASE,
        "100 rows": PHASE,
        "max_sustained_rate": None,
        "rate_steps": [step],
        "stopped_by_budget": False,
    }
    serve_latency.show("ballast", "iris", result)
    out = capsys.readouterr().out
    assert "max sustained <500 req/s (errors 3)" in out and "at   500/s: achieved     410/s" in out
