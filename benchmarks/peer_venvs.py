"""Virtualenvs for the peers a benchmark compares Ballast with, never Ballast's own venv.

Each peer is installed with pip (from the index pip is configured with: PIP_INDEX_URL and the
like are honoured) into ~/.cache/ballast/venvs/<name>-<version> (BALLAST_CACHE_DIR moves it),
created on first use and refilled when its requirements change, so a peer's pins never meet
Ballast's and a second run starts at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("BALLAST_CACHE_DIR") or Path.home() / ".cache" / "ballast")


def peer_python(name: str, version: str, requirements: tuple[str, ...], cache: Path | None = None) -> Path:
    """The python of the peer's venv, created and filled on first use."""
    venv = (cache or cache_dir()) / "venvs" / f"{name}-{version}"
    python = venv / "bin" / "python"
    installed = venv / ".installed"  # holds the requirements it was installed with
    if not installed.exists() or installed.read_text().split() != list(requirements):
        print(f"installing {' '.join(requirements)} into {venv}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *requirements], check=True)
        installed.write_text("\n".join(requirements) + "\n")
    return python
