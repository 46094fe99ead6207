"""The committed gRPC stubs are what grpcio-tools makes of the committed .proto (as test_crds
holds crds/ to the typed models). Run in a subprocess: the stubs are never imported here (see
test_serving_grpc)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_grpc_stubs_are_current() -> None:
    checked = subprocess.run(
        [sys.executable, "scripts/grpc_stubs.py", "--check"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert checked.returncode == 0, f"{checked.stderr}the gRPC stubs are stale: run `make grpc-stubs` and commit them"
