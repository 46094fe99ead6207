"""Importing a file that is not in a package (a benchmark, the docs site's hooks) to test its functions."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def load_script(path: Path) -> ModuleType:
    # Run as a script, a file imports its siblings (the benchmarks' figures.py): its directory leads sys.path.
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    name = path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their class's module up there
    spec.loader.exec_module(module)
    return module
