"""The docs site's inputs: the README's links, mkdocs.yml's nav, and the hooks that rewrite links.

`make docs` (mkdocs build --strict) checks every link and anchor between pages; these tests
keep the parts it cannot see, or sees only when the site is built, cheap and local.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.support.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
README_MAX_LINES = 200


hooks = load_script(ROOT / "docs" / "mkdocs" / "hooks.py")


def relative_link_targets(markdown: str) -> list[str]:
    targets = []
    for match in re.finditer(r"\]\(([^)\s]+)\)", re.sub(r"(?s)```.*?```", "", markdown)):
        target = match.group(1)
        if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^#", target):
            targets.append(target.partition("#")[0])
    return targets


def test_every_relative_link_in_the_readme_names_a_file_in_the_repository():
    targets = relative_link_targets(README.read_text(encoding="utf-8"))
    assert any(target.startswith("docs/") for target in targets)
    missing = [target for target in targets if not (ROOT / target).exists()]
    assert missing == []


def test_the_readme_stays_short():
    assert len(README.read_text(encoding="utf-8").splitlines()) <= README_MAX_LINES


def nav_pages() -> set[str]:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    return hooks.listed_pages(config["nav"])


def test_the_nav_names_only_pages_that_exist():
    missing = [page for page in nav_pages() - {hooks.INDEX_PAGE} if not (ROOT / "docs" / page).exists()]
    assert missing == []


def test_pages_missing_from_the_nav_are_appended_under_more():
    nav = [{"Home": "index.md"}, {"Reference": ["api.md"]}]
    extended = hooks.with_unlisted_pages(nav, ["index.md", "api.md", "runbooks.md", "cli.md"])
    assert extended[-1] == {hooks.UNLISTED_SECTION: ["cli.md", "runbooks.md"]}
    assert hooks.with_unlisted_pages(nav, ["api.md"]) == nav


def test_the_site_tooling_is_not_a_page():
    pages = hooks.site_pages(ROOT / "docs")
    assert "drift.md" in pages
    assert not [page for page in pages if page.startswith("mkdocs/")]


def context(page: str) -> object:
    return hooks.LinkContext(page=page, repo_root=ROOT, source_url="https://example.test/ballast/blob/main")


@pytest.mark.parametrize(
    ("page", "target", "expected"),
    [
        ("README.md", "docs/drift.md", "drift.md"),
        ("README.md", "docs/drift.md#methods", "drift.md#methods"),
        ("docs/benchmarks.md", "../README.md#a-short-tour", "index.md#a-short-tour"),
        ("docs/status.md", "security.md", "security.md"),
        ("README.md", "charts/ballast/README.md", "https://example.test/ballast/blob/main/charts/ballast/README.md"),
        (
            "docs/security.md",
            "../tests/security/README.md",
            "https://example.test/ballast/blob/main/tests/security/README.md",
        ),
        ("docs/drift.md", "https://kopf.readthedocs.io", "https://kopf.readthedocs.io"),
        ("docs/drift.md", "#methods", "#methods"),
    ],
)
def test_links_become_page_links_or_repository_links(page, target, expected):
    assert hooks.rewrite_target(target, context(page)) == (expected, None)


def test_a_link_to_a_file_missing_from_the_repository_is_reported():
    markdown = "see [the runbook](../tests/no-such-suite/README.md)\n"
    rewritten, missing = hooks.rewrite_links(markdown, context("docs/operations.md"))
    assert missing == ["tests/no-such-suite/README.md"]
    assert rewritten == markdown


def test_links_inside_code_are_left_alone():
    markdown = "```\n[x](../nowhere.md)\n```\n`[y](../nowhere.md)` and [z](../LICENSE)\n"
    rewritten, missing = hooks.rewrite_links(markdown, context("docs/security.md"))
    assert missing == []
    assert rewritten == (
        "```\n[x](../nowhere.md)\n```\n`[y](../nowhere.md)` and [z](https://example.test/ballast/blob/main/LICENSE)\n"
    )
