"""benchmarks/figures.py, which writes a benchmark's report into the docs, and every benchmark
that prints a report: it takes --update and its doc has its section's markers."""

from __future__ import annotations

import io
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
figures = load_script(ROOT / "benchmarks" / "figures.py")

# Every benchmark that prints a report, and the doc its figures belong in
REPORTING_BENCHMARKS = {
    "ingest_profile": "docs/benchmarks.md",
    "train_fit": "docs/benchmarks.md",
    "serve_latency": "docs/benchmarks.md",
    "serve_compare": "docs/benchmarks.md",
    "http_layers": "docs/benchmarks.md",
    "drift_checks": "docs/benchmarks.md",
    "policy_evaluation": "docs/benchmarks.md",
    "pod_start": "docs/benchmarks.md",
    "training_latency": "docs/benchmarks.md",
    "scale": "docs/reliability.md",
    "soak": "docs/reliability.md",
    "evidently_compare": "docs/drift.md",
    "ingest_partitioned": "docs/benchmarks.md",
    "serve_width": "docs/benchmarks.md",
}
CONTEXT = figures.RunContext(
    command=".venv/bin/python benchmarks/train_fit.py --update",
    started=datetime(2026, 12, 5, 17, 40, 12, tzinfo=UTC),
    commit="975701c",
    load_average=(1.234, 0.5, 0.25),
    cpus=2,
)


def section(tmp_path: Path, text: str | None = None) -> object:
    doc = tmp_path / "doc.md"
    if text is not None:
        doc.write_text(text, encoding="utf-8")
    return figures.Section("train_fit", doc)


def test_the_report_replaces_only_what_lies_between_its_own_markers(tmp_path):
    own = section(tmp_path)
    other = figures.Section("scale", own.doc)
    text = f"intro\n{own.begin}\nold report\n{own.end}\nmiddle\n{other.begin}\nscale report\n{other.end}\nafter\n"
    updated = figures.replace_section(text, own, "new report\n")
    assert updated == (
        f"intro\n{own.begin}\nnew report\n{own.end}\nmiddle\n{other.begin}\nscale report\n{other.end}\nafter\n"
    )
    assert figures.replace_section(updated, own, "new report") == updated


def test_markers_are_named_after_the_section():
    scale = figures.Section("scale", Path("docs/reliability.md"))
    assert (scale.begin, scale.end) == ("<!-- figures:scale:begin -->", "<!-- figures:scale:end -->")


@pytest.mark.parametrize(
    "text",
    [
        "no markers at all",
        "<!-- figures:train_fit:begin -->\nonly the start",
        "<!-- figures:train_fit:end -->\n<!-- figures:train_fit:begin -->\nin the wrong order",
        "<!-- figures:train:begin -->\n<!-- figures:train:end -->\nanother section's",
    ],
)
def test_missing_markers_are_a_clear_error_naming_the_doc(tmp_path, text):
    wanted = section(tmp_path, text)
    with pytest.raises(figures.MissingMarkers, match=r"no <!-- figures:train_fit:begin --> .* pair in .*doc\.md"):
        figures.replace_section(text, wanted, "report")
    with pytest.raises(figures.MissingMarkers):
        figures.check_section(wanted)


def test_the_block_says_how_when_on_what_and_under_which_load_then_the_report_fenced():
    block = figures.report_block(CONTEXT, "\nline one\n  line two\n\n")
    assert block == (
        "Written by `.venv/bin/python benchmarks/train_fit.py --update` on 2026-12-05 17:40 UTC at commit "
        "975701c; load average 1.23 0.50 0.25 (1, 5, 15 min) at the start, 2 CPUs.\n\n"
        "```text\nline one\n  line two\n```"
    )


def test_a_report_holding_a_fence_gets_a_longer_one_and_markdown_is_left_as_it_is():
    assert figures.report_block(CONTEXT, "a\n```\nb").endswith("\n\n````text\na\n```\nb\n````")
    assert figures.report_block(CONTEXT, "| a |\n|---|", fenced=False).endswith(" 2 CPUs.\n\n| a |\n|---|")


def test_the_command_is_shown_as_typed_in_the_checkout(tmp_path):
    python = tmp_path / ".venv" / "bin" / "python"
    argv = [str(tmp_path / "benchmarks" / "soak.py"), "--minutes", "5", "--operator-env", "A=b c", "--update"]
    assert (
        figures.shown_command(argv, str(python), tmp_path)
        == ".venv/bin/python benchmarks/soak.py --minutes 5 --operator-env 'A=b c' --update"
    )
    assert figures.shown_command(["benchmarks/soak.py"], "/usr/bin/python3", tmp_path) == (
        "/usr/bin/python3 benchmarks/soak.py"
    )


def test_recording_prints_as_before_and_writes_what_was_printed(tmp_path, monkeypatch, capsys):
    target = section(tmp_path, "# Doc\n\n<!-- figures:train_fit:begin -->\n<!-- figures:train_fit:end -->\nend\n")
    monkeypatch.setattr(figures, "run_context", lambda: CONTEXT)
    monkeypatch.setattr(figures, "REPO", tmp_path)
    with figures.recording(target, update=True):
        print("median 120.0 ms")
        print("p90", 130, flush=True)
    assert capsys.readouterr().out == "median 120.0 ms\np90 130\n"
    assert target.doc.read_text(encoding="utf-8") == (
        "# Doc\n\n<!-- figures:train_fit:begin -->\n"
        f"{figures.provenance(CONTEXT)}\n\n```text\nmedian 120.0 ms\np90 130\n```\n"
        "<!-- figures:train_fit:end -->\nend\n"
    )


def test_without_update_or_when_the_run_fails_the_doc_is_untouched(tmp_path, monkeypatch):
    text = "<!-- figures:train_fit:begin -->\nold\n<!-- figures:train_fit:end -->\n"
    target = section(tmp_path, text)
    monkeypatch.setattr(figures, "run_context", lambda: CONTEXT)
    with figures.recording(target, update=False):
        print("figures")
    with pytest.raises(RuntimeError), figures.recording(target, update=True):
        print("half a report")
        raise RuntimeError("the cluster went away")
    assert target.doc.read_text(encoding="utf-8") == text


def test_missing_markers_fail_before_the_benchmark_runs(tmp_path):
    ran = []
    with pytest.raises(figures.MissingMarkers), figures.recording(section(tmp_path, "no section"), update=True):
        ran.append(True)
    assert not ran


def test_the_tee_keeps_everything_written(monkeypatch):
    shown, kept = io.StringIO(), io.StringIO()
    tee = figures.Tee(shown, kept)
    assert tee.write("abc") == 3
    tee.flush()
    assert shown.getvalue() == kept.getvalue() == "abc"


def test_every_benchmark_with_a_report_is_listed_here():
    """A new benchmark that prints a report gets --update and a section; list it above."""
    declares_a_section = re.compile(r"^FIGURES = figures\.Section\(", re.M)
    scripts = {path.stem for path in (ROOT / "benchmarks").glob("*.py") if declares_a_section.search(path.read_text())}
    assert scripts == set(REPORTING_BENCHMARKS)


@pytest.mark.parametrize("name", sorted(REPORTING_BENCHMARKS))
def test_each_benchmark_takes_update_and_its_doc_has_its_markers(name, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))  # scripts put their imports' directories first
    script = load_script(ROOT / "benchmarks" / f"{name}.py")
    assert script.build_parser().parse_args(["--update"]).update is True
    assert script.build_parser().parse_args([]).update is False
    assert script.FIGURES.name == name
    assert script.FIGURES.doc == ROOT / REPORTING_BENCHMARKS[name]
    text = script.FIGURES.doc.read_text(encoding="utf-8")
    assert text.count(script.FIGURES.begin) == text.count(script.FIGURES.end) == 1
    figures.check_section(script.FIGURES)


def test_a_benchmark_run_parses_its_command_line_records_and_answers_its_status(tmp_path, monkeypatch, capsys):
    target = section(tmp_path, "<!-- figures:train_fit:begin -->\n<!-- figures:train_fit:end -->\n")
    monkeypatch.setattr(figures, "run_context", lambda: CONTEXT)
    monkeypatch.setattr(figures, "REPO", tmp_path)
    parser = figures.argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=20)
    figures.add_update_option(parser, target)

    def run(args):
        print(f"{args.repeats} repeats")
        return 3 if args.repeats == 3 else None

    monkeypatch.setattr(sys, "argv", ["train_fit.py", "--repeats", "5"])
    assert figures.run_benchmark(target, parser, run) == 0
    assert "figures:train_fit:begin -->\n<!--" in target.doc.read_text(encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["train_fit.py", "--repeats", "3", "--update"])
    assert figures.run_benchmark(target, parser, run) == 3
    assert "```text\n3 repeats\n```" in target.doc.read_text(encoding="utf-8")
    assert capsys.readouterr().out == "5 repeats\n3 repeats\n"
