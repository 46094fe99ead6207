"""`pip install 'ballast-operator[cli]'` for real, into a fresh virtualenv: what it installs, and
that the `ballast` command and the SDK work with only that (tests/unit/test_cli_imports.py
checks the same offline, by blocking the full install's modules)."""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tests.support.kube import REPO

pytestmark = pytest.mark.index

# aiohttp is not among them: the kubernetes client (37) requires it
NOT_IN_CLI_INSTALL = {
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "pyarrow",
    "kopf",
    "fsspec",
    "skops",
    "prometheus-client",
}


@pytest.fixture(scope="module")
def cli_venv(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli-venv")
    venv.create(root, with_pip=True)
    python = root / "bin" / "python"
    result = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "-c",
            str(REPO / "operator" / "constraints.txt"),
            f"{REPO}[cli]",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    return root


def test_the_cli_extra_installs_no_numeric_or_operator_stack(cli_venv):
    listed = subprocess.run(
        [str(cli_venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installed = {canonicalize_name(line.split("==")[0]) for line in listed.splitlines() if "==" in line}
    assert {"ballast-operator", "click", "kubernetes", "pydantic"} <= installed
    assert not installed & NOT_IN_CLI_INSTALL


def test_the_command_and_its_verbs_run(cli_venv, tmp_path):
    ballast = cli_venv / "bin" / "ballast"
    assert "runs" in subprocess.run([str(ballast), "--help"], capture_output=True, text=True, check=True).stdout
    env = {"PATH": "/usr/bin:/bin", "KUBECONFIG": str(tmp_path / "none"), "HOME": str(tmp_path)}
    for verb in (["runs", "iris"], ["lineage", "iris-0123"], ["rollback", "iris"]):
        result = subprocess.run([str(ballast), *verb], capture_output=True, text=True, env=env, timeout=60)
        assert result.returncode != 0 and "ModuleNotFoundError" not in result.stderr, (verb, result.stderr)


def test_the_sdk_imports(cli_venv):
    code = "from ballast.client import Client, Dataset, ModelVersion; print(Dataset.info.plural)"
    result = subprocess.run([str(cli_venv / "bin" / "python"), "-c", code], capture_output=True, text=True, cwd="/")
    assert result.returncode == 0 and result.stdout.strip() == "datasets", result.stderr
