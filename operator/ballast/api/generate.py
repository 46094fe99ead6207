"""Writes crds/*.yaml from the typed models, or checks that the committed files are current.

python -m ballast.api.generate crds/          # write
python -m ballast.api.generate --check crds/  # exit 1 if a file is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from ballast.api.crd import crd_for
from ballast.api.kinds import ALL_KINDS

HEADER = "# Generated from operator/ballast/api by `make crds`. Do not edit by hand.\n"


def render_crds() -> dict[str, str]:
    """File name to YAML text, for every kind."""
    return {
        f"{kind.crd_name}.yaml": HEADER + yaml.safe_dump(_drop_none(crd_for(kind)), sort_keys=False, width=100)
        for kind in ALL_KINDS
    }


def _drop_none(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _drop_none(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_drop_none(item) for item in node]
    return node


def stale_files(directory: Path) -> list[str]:
    """The generated files that are missing from directory or differ from what the models say."""
    return [
        name
        for name, text in render_crds().items()
        if not (directory / name).is_file() or (directory / name).read_text() != text
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(args.directory)
        for name in stale:
            print(f"stale: {args.directory / name} (run `make crds`)", file=sys.stderr)
        return 1 if stale else 0
    args.directory.mkdir(parents=True, exist_ok=True)
    for name, text in render_crds().items():
        (args.directory / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
