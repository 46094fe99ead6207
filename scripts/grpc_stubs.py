"""Generates the gRPC stubs of the model server's OIP API from its .proto, or checks that the
committed ones are current (make grpc-stubs, make check-grpc-stubs; a unit test runs --check).

python scripts/grpc_stubs.py           # write them beside the .proto
python scripts/grpc_stubs.py --check   # exit 1 if one is missing or stale

grpcio-tools is pinned in pyproject.toml's test extra: another protoc writes other code (and
a protobuf runtime check of its own version), so the pin is what makes --check meaningful.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[1] / "operator"
PROTO = Path("ballast/serving/proto/grpc_predict_v2.proto")
OUTPUTS = ("grpc_predict_v2_pb2.py", "grpc_predict_v2_pb2.pyi", "grpc_predict_v2_pb2_grpc.py")


def generate() -> dict[str, bytes]:
    """File name to content, as protoc writes them from PROTO."""
    with tempfile.TemporaryDirectory() as out:
        # -I operator: the generated modules import each other as ballast.serving.proto.*
        arguments = [
            "protoc",
            f"-I{ROOT}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            str(PROTO),
        ]
        if protoc.main(arguments) != 0:
            raise SystemExit(f"protoc failed on {ROOT / PROTO}")
        return {name: (Path(out) / PROTO.parent / name).read_bytes() for name in OUTPUTS}


def stale_files() -> list[Path]:
    directory = ROOT / PROTO.parent
    return [
        directory / name
        for name, content in generate().items()
        if not (directory / name).is_file() or (directory / name).read_bytes() != content
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale stubs")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"stale: {path} (run `make grpc-stubs`)", file=sys.stderr)
        return 1 if stale else 0
    for name, content in generate().items():
        (ROOT / PROTO.parent / name).write_bytes(content)
    return 0


if __name__ == "__main__":
    sys.exit(main())
