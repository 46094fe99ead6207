"""MkDocs hooks for the docs site (mkdocs.yml): the README as its home page, every page in the nav,
and links that leave docs/ checked and pointed at the repository.

- The README is the site's index page, so the site and the repository open on the same text. Its
  links into docs/ become links between pages, which `mkdocs build --strict` then checks (with
  their anchors) like any other.
- A page under docs/ that mkdocs.yml's nav does not list is appended under "More", so a new page
  is published (and its links checked) even before someone places it in the nav.
- A relative link that leaves docs/ (to a test suite's README, the chart, a source file) names a
  file of the repository, not of the site: it must exist in the checkout (a warning otherwise,
  which --strict turns into a failure) and is rewritten to `extra.source_url`.
"""

from __future__ import annotations

import logging
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.hooks.ballast")

DOCS_DIR = "docs"
SITE_TOOLING = "docs/mkdocs/"
"""This directory: the site's own tooling, not a page (mkdocs.yml excludes it)."""
INDEX_PAGE = "index.md"
UNLISTED_SECTION = "More"

# An inline code span (left alone: `](x)` inside one is text) or a Markdown link's target.
_LINK_OR_CODE = re.compile(r"(`+)(?:.+?)\1|(?<=\]\()(?P<target>[^)\s]+)(?=\))")
_FENCE = re.compile(r"^\s*(```|~~~)")
_EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^#|^/")


@dataclass(frozen=True)
class LinkContext:
    page: str
    """The page's path in the repository: README.md, or docs/<page>."""
    repo_root: Path
    source_url: str
    """Where a repository file is shown, e.g. https://github.com/<owner>/ballast/blob/main."""


def repository_path(src_uri: str) -> str:
    """Where a site page comes from in the repository: the index is the README."""
    return "README.md" if src_uri == INDEX_PAGE else f"{DOCS_DIR}/{src_uri}"


def rewrite_target(target: str, context: LinkContext) -> tuple[str, str | None]:
    """A link target as the site needs it, and the repository path it names when that is missing."""
    if _EXTERNAL.match(target):
        return target, None
    path, hash_mark, fragment = target.partition("#")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(context.page), path))
    if resolved == "README.md":
        resolved = f"{DOCS_DIR}/{INDEX_PAGE}"
    if resolved.startswith(f"{DOCS_DIR}/") and not resolved.startswith(SITE_TOOLING):
        # a page of the site: relative to this page's place in docs/, mkdocs checks it exists
        here = posixpath.dirname(f"{DOCS_DIR}/{INDEX_PAGE}" if context.page == "README.md" else context.page)
        return posixpath.relpath(resolved, here) + hash_mark + fragment, None
    if not (context.repo_root / resolved).exists():
        return target, resolved
    return f"{context.source_url.rstrip('/')}/{resolved}{hash_mark}{fragment}", None


def rewrite_links(markdown: str, context: LinkContext) -> tuple[str, list[str]]:
    """Every link target outside fenced code rewritten; the repository paths that do not exist."""
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group("target") is None:
            return match.group(0)
        rewritten, absent = rewrite_target(match.group("target"), context)
        if absent is not None:
            missing.append(absent)
        return rewritten

    lines = markdown.splitlines(keepends=True)
    in_fence = False
    for number, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence:
            lines[number] = _LINK_OR_CODE.sub(replace, line)
    return "".join(lines), missing


def listed_pages(nav: Iterable[Any]) -> set[str]:
    """Every page a nav (mkdocs.yml's nested lists of titles and paths) names."""
    pages: set[str] = set()
    for item in nav:
        if isinstance(item, str):
            pages.add(item)
        elif isinstance(item, dict):
            for value in item.values():
                pages |= listed_pages(value) if isinstance(value, list) else {value}
    return pages


def with_unlisted_pages(nav: list[Any], pages: Iterable[str]) -> list[Any]:
    """The nav with every page it does not name appended, by name, under UNLISTED_SECTION."""
    unlisted = sorted(set(pages) - listed_pages(nav) - {INDEX_PAGE})
    return nav + [{UNLISTED_SECTION: unlisted}] if unlisted else nav


def site_pages(docs_dir: Path) -> list[str]:
    return [
        path.relative_to(docs_dir).as_posix()
        for path in sorted(docs_dir.rglob("*.md"))
        if not (DOCS_DIR + "/" + path.relative_to(docs_dir).as_posix()).startswith(SITE_TOOLING)
    ]


def on_config(config: Any) -> Any:
    if config.nav:
        config.nav = with_unlisted_pages(config.nav, site_pages(Path(config.docs_dir)))
    return config


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    readme = Path(config.config_file_path).parent / "README.md"
    files.append(File.generated(config, INDEX_PAGE, content=readme.read_text(encoding="utf-8")))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    context = LinkContext(
        page=repository_path(page.file.src_uri),
        repo_root=Path(config.config_file_path).parent,
        source_url=config.extra["source_url"],
    )
    rewritten, missing = rewrite_links(markdown, context)
    for path in missing:
        log.warning("%s links to %s, which is not in the repository", context.page, path)
    return rewritten
