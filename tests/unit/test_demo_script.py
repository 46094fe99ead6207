"""`make cluster-down` calls `scripts/demo.py --stop`: it must stop, never run the demo (it used
to ignore the flag, so every `make cluster-down`, CI's last step included, ran the whole demo
before deleting the cluster)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.kube import REPO


def test_stop_returns_at_once_without_touching_a_cluster(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "KUBECONFIG"}
    env["BALLAST_CACHE_DIR"] = str(tmp_path)  # where a cluster would be created
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "demo.py"), "--stop"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (result.returncode, result.stdout) == (0, ""), result
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_argument_is_refused():
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "demo.py"), "--stopp"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2 and "usage" in result.stderr
