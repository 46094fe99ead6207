"""A benchmark's report written into the docs by the benchmark itself, never copied by hand.

Each benchmark that prints a report takes `--update`: it then prints as before and also writes
what it printed into its section of a doc, between `<!-- figures:<name>:begin -->` and
`<!-- figures:<name>:end -->`, preceded by one line naming the command, the UTC date, the
commit and the machine's load at the start (figures from a busy machine read differently).

    FIGURES = figures.Section("train_fit", figures.BENCHMARKS_DOC)

    def build_parser() -> argparse.ArgumentParser:
        ...
        figures.add_update_option(parser, FIGURES)
        return parser

    def run(args: argparse.Namespace) -> None:
        ...  # everything the benchmark prints

    if __name__ == "__main__":
        sys.exit(figures.run_benchmark(FIGURES, build_parser(), run))

The markers are looked for before the benchmark runs, so a missing section fails at once
rather than after a 30-minute run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS_DOC = REPO / "docs" / "benchmarks.md"
RELIABILITY_DOC = REPO / "docs" / "reliability.md"
DRIFT_DOC = REPO / "docs" / "drift.md"


class MissingMarkers(Exception):
    """The doc has no (or only half a) marker pair for the section."""


@dataclass(frozen=True)
class Section:
    name: str
    doc: Path

    @property
    def begin(self) -> str:
        return f"<!-- figures:{self.name}:begin -->"

    @property
    def end(self) -> str:
        return f"<!-- figures:{self.name}:end -->"


@dataclass(frozen=True)
class RunContext:
    """What a reader needs to weigh the figures: how they were made, when, on what code and load."""

    command: str
    started: datetime
    commit: str
    load_average: tuple[float, float, float]
    cpus: int


def has_markers(text: str, section: Section) -> bool:
    begin = text.find(section.begin)
    return begin >= 0 and text.find(section.end, begin + len(section.begin)) >= 0


def replace_section(text: str, section: Section, block: str) -> str:
    """The text with what lies between the section's markers replaced by block (markers kept)."""
    if not has_markers(text, section):
        raise MissingMarkers(f"no {section.begin} ... {section.end} pair in {section.doc}")
    head, _, rest = text.partition(section.begin)
    _, _, tail = rest.partition(section.end)
    return f"{head}{section.begin}\n{block.strip(chr(10))}\n{section.end}{tail}"


def provenance(context: RunContext) -> str:
    load = " ".join(f"{value:.2f}" for value in context.load_average)
    return (
        f"Written by `{context.command}` on {context.started:%Y-%m-%d %H:%M} UTC at commit {context.commit}; "
        f"load average {load} (1, 5, 15 min) at the start, {context.cpus} CPUs."
    )


def report_block(context: RunContext, report: str, *, fenced: bool = True) -> str:
    """The provenance line, then the report as printed (in a text fence) or as Markdown."""
    body = report.strip("\n")
    if fenced:
        fence = "````" if "```" in body else "```"
        body = f"{fence}text\n{body}\n{fence}"
    return f"{provenance(context)}\n\n{body}"


def shown_command(argv: list[str], executable: str, cwd: Path) -> str:
    """The command as typed from the checkout: `.venv/bin/python benchmarks/x.py --update`."""
    python = os.path.relpath(executable, cwd) if Path(executable).is_relative_to(cwd) else executable
    script = os.path.relpath(argv[0], cwd) if Path(argv[0]).resolve().is_relative_to(cwd) else argv[0]
    return shlex.join([python, script, *argv[1:]])


def current_commit() -> str:
    """HEAD's short hash, with " plus uncommitted changes" when tracked files differ from it:
    figures are then of code no commit holds yet."""
    answer = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    changed = subprocess.run(
        ["git", "-C", str(REPO), "diff", "--quiet", "HEAD", "--"], capture_output=True, check=False
    ).returncode
    commit = answer.stdout.strip() or "unknown"
    return f"{commit} plus uncommitted changes" if changed == 1 else commit


def run_context() -> RunContext:
    return RunContext(
        command=shown_command(sys.argv, sys.executable, Path.cwd().resolve()),
        started=datetime.now(UTC),
        commit=current_commit(),
        load_average=os.getloadavg(),
        cpus=os.cpu_count() or 1,
    )


def add_update_option(parser: argparse.ArgumentParser, section: Section) -> None:
    parser.add_argument(
        "--update",
        action="store_true",
        help=f"also write the report into {section.doc.relative_to(REPO)} (its figures:{section.name} section)",
    )


def check_section(section: Section) -> None:
    if not has_markers(section.doc.read_text(encoding="utf-8"), section):
        raise MissingMarkers(f"no {section.begin} ... {section.end} pair in {section.doc}")


def write_section(section: Section, block: str) -> None:
    text = section.doc.read_text(encoding="utf-8")
    section.doc.write_text(replace_section(text, section, block), encoding="utf-8")


class Tee(io.TextIOBase):
    """Writes go to the terminal as before and are kept for the doc."""

    def __init__(self, shown: TextIO, kept: io.StringIO):
        self._shown = shown
        self._kept = kept

    def write(self, text: str) -> int:
        self._shown.write(text)
        self._kept.write(text)
        return len(text)

    def flush(self) -> None:
        self._shown.flush()


@contextlib.contextmanager
def recording(section: Section, update: bool) -> Iterator[None]:
    """With update, what the block prints on stdout is written into the section when it ends
    without an exception; without, nothing changes."""
    if not update:
        yield
        return
    check_section(section)
    context = run_context()
    kept = io.StringIO()
    with contextlib.redirect_stdout(Tee(sys.stdout, kept)):
        yield
    write_section(section, report_block(context, kept.getvalue()))
    print(f"figures written to {section.doc.relative_to(REPO)} (figures:{section.name})", file=sys.stderr)


def run_benchmark(
    section: Section, parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], int | None]
) -> int:
    """A benchmark's command line: parse, run (recording with --update), and its exit status."""
    args = parser.parse_args()
    with recording(section, args.update):
        return run(args) or 0
