"""The operator process checks artifacts but never builds a model: it must not import skops,
scikit-learn, SciPy or pandas, which would take its memory from about 75 MiB to 240 MiB
(the budget in docs/benchmarks.md is 150 MiB with 2,000 objects)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("skops", "sklearn", "scipy", "pandas", "pyarrow")


def test_the_operator_imports_none_of_the_model_libraries():
    probe = (
        "import json, sys; import ballast.controller, ballast.handlers, ballast.registry; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    loaded = json.loads(
        subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    )
    assert loaded == [], f"the operator's modules import {loaded}"
