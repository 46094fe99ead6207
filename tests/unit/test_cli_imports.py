"""`pip install 'ballast-operator[cli]'` has no numpy, pandas, SciPy or scikit-learn (nor the
operator's kopf, fsspec, pyarrow): the `ballast` command and the SDK must run without
them. Each check runs in a fresh interpreter in which importing any of them fails, as it would
in that install; the test in tests/integration/test_cli_install.py makes the install for real."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.kube import REPO

# what only `pip install 'ballast-operator[all]'` (the image) brings
FULL_INSTALL_ONLY = ("numpy", "pandas", "scipy", "sklearn", "pyarrow", "fsspec", "skops", "kopf", "prometheus_client")
BLOCKED = "not installed with the cli extra"

_BLOCKER = f"""
import sys
class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {FULL_INSTALL_ONLY!r}:
            raise ModuleNotFoundError(f"{{name}}: {BLOCKED}")
sys.meta_path.insert(0, Blocked())
"""


def run_blocked(code: str, tmp_path) -> subprocess.CompletedProcess[str]:
    # no kubeconfig and no service account: the verbs stop at connecting, after their imports
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "no-kubeconfig"), "PYTHONPATH": str(REPO / "operator")}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    return subprocess.run(
        [sys.executable, "-c", _BLOCKER + code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )


def test_the_blocker_blocks(tmp_path):
    result = run_blocked("import numpy", tmp_path)
    assert result.returncode != 0 and BLOCKED in result.stderr


def test_the_sdk_imports_without_the_full_install(tmp_path):
    result = run_blocked(
        "import ballast.client, ballast.api.objects; print(ballast.client.Client.wait_for.__name__)", tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "wait_for"


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--version"],
        ["runs", "--help"],
        ["runs", "iris"],
        ["lineage", "iris-0123"],
        ["rollback", "iris"],
        ["reproduce", "iris-0123", "--timeout", "1"],
    ],
    ids=" ".join,
)
def test_user_verbs_run_without_the_full_install(argv, tmp_path):
    code = f"import sys; sys.argv = ['ballast', *{argv!r}]; from ballast.cli import main; main()"
    result = run_blocked(code, tmp_path)
    assert BLOCKED not in result.stderr, result.stderr
    if argv[-1] in ("--help", "--version"):
        assert result.returncode == 0, result.stderr
    else:
        # they got as far as looking for a cluster, and stopped there for want of one
        assert result.returncode != 0 and "ImportError" not in result.stderr, result.stderr
