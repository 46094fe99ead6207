"""Reading sources: a real HTTP server on 127.0.0.1, PVC paths that must not escape the volume."""

from __future__ import annotations

import http.server
import io
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ballast.api.dataset import DatasetSpec
from ballast.data.errors import (
    SourceError,
    SourceNotFound,
    SourceOutsideVolume,
    SourceTooLarge,
    SourceUnreadable,
)
from ballast.data.sources import SourceSettings, read_source, redact_url, resolve_pvc_path
from ballast.net.egress import EgressPolicy
from tests.unit.test_data_canonical import iris_frame


class StaticFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output clean
        pass


LOOPBACK = EgressPolicy.from_strings(allow=["127.0.0.1"])  # the test server listens there


@pytest.fixture
def web_root(tmp_path: Path) -> Path:
    root = tmp_path / "web"
    root.mkdir()
    return root


@pytest.fixture
def http_base(web_root: Path) -> Iterator[str]:
    def handler(*args, **kwargs):
        return StaticFiles(*args, directory=str(web_root), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def url_spec(url: str, format: str = "csv") -> DatasetSpec:
    return DatasetSpec.model_validate(
        {"source": {"url": url}, "format": format, "schema": {"columns": [{"name": "x", "type": "float"}]}}
    )


def test_a_csv_and_a_parquet_file_over_http(web_root: Path, http_base: str):
    frame = iris_frame()
    frame.to_csv(web_root / "iris.csv", index=False)
    frame.to_parquet(web_root / "iris.parquet", index=False)
    csv = read_source(url_spec(f"{http_base}/iris.csv"), SourceSettings(egress=LOOPBACK))
    parquet = read_source(url_spec(f"{http_base}/iris.parquet", "parquet"), SourceSettings(egress=LOOPBACK))
    assert csv.frame.shape == parquet.frame.shape == (150, 5)
    assert csv.description == {"kind": "url", "url": f"{http_base}/iris.csv"}


def test_http_404_is_source_not_found(http_base: str):
    with pytest.raises(SourceNotFound, match="HTTP 404"):
        read_source(url_spec(f"{http_base}/missing.csv"), SourceSettings(egress=LOOPBACK))


def test_an_unreachable_server_is_a_source_error():
    with pytest.raises(SourceError, match="cannot reach"):
        read_source(url_spec("http://127.0.0.1:1/x.csv"), SourceSettings(egress=LOOPBACK, timeout_seconds=5))


def test_the_size_limit_stops_the_download(web_root: Path, http_base: str):
    (web_root / "big.csv").write_bytes(b"x\n" + b"1\n" * 50_000)
    with pytest.raises(SourceTooLarge):
        read_source(url_spec(f"{http_base}/big.csv"), SourceSettings(egress=LOOPBACK, max_bytes=10_000))


def test_bytes_that_are_not_the_declared_format_are_unreadable(web_root: Path, http_base: str):
    (web_root / "fake.parquet").write_bytes(b"x\n1\n")
    with pytest.raises(SourceUnreadable, match="Parquet"):
        read_source(url_spec(f"{http_base}/fake.parquet", "parquet"), SourceSettings(egress=LOOPBACK))
    (web_root / "latin1.csv").write_bytes("x\n\xe9\n".encode("latin-1"))
    with pytest.raises(SourceUnreadable, match="CSV"):
        read_source(url_spec(f"{http_base}/latin1.csv"), SourceSettings(egress=LOOPBACK))


def test_credentials_in_urls_are_not_recorded():
    assert (
        redact_url("https://user:secret@example.com:8443/data.csv?X-Amz-Signature=abc")
        == "https://example.com:8443/data.csv"
    )


# --- pvc -------------------------------------------------------------------------------------


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    root = tmp_path / "volume"
    (root / "data").mkdir(parents=True)
    (root / "data" / "t.csv").write_text("x\n1\n2\n")
    return root


def pvc_spec(path: str) -> DatasetSpec:
    return DatasetSpec.model_validate(
        {
            "source": {"pvc": {"claimName": "data", "path": path}},
            "schema": {"columns": [{"name": "x", "type": "float"}]},
        }
    )


def test_a_pvc_file_is_read_from_the_mount(volume: Path):
    raw = read_source(pvc_spec("data/t.csv"), SourceSettings(pvc_mount_root=str(volume)))
    assert raw.frame["x"].tolist() == ["1", "2"]
    assert raw.description == {"kind": "pvc", "claimName": "data", "path": "data/t.csv"}


def test_a_missing_pvc_file_is_source_not_found(volume: Path):
    with pytest.raises(SourceNotFound):
        read_source(pvc_spec("data/none.csv"), SourceSettings(pvc_mount_root=str(volume)))


def test_pvc_paths_cannot_leave_the_volume(volume: Path, tmp_path: Path):
    (tmp_path / "secret.csv").write_text("x\n42\n")
    (volume / "data" / "link.csv").symlink_to(tmp_path / "secret.csv")
    (volume / "escape").symlink_to(tmp_path, target_is_directory=True)
    for path in (
        "../secret.csv",
        "data/../../secret.csv",
        str(tmp_path / "secret.csv"),
        "data/link.csv",
        "escape/secret.csv",
    ):
        with pytest.raises(SourceOutsideVolume):
            resolve_pvc_path(str(volume), path)


def test_object_store_sources_refuse_local_schemes():
    spec = DatasetSpec.model_validate(
        {
            "source": {"objectStore": {"uri": "file:///etc/passwd"}},
            "schema": {"columns": [{"name": "x", "type": "string"}]},
        }
    )
    with pytest.raises(SourceError, match="scheme 'file'"):
        read_source(spec, SourceSettings())


def test_inline_rows():
    spec = DatasetSpec.model_validate(
        {
            "source": {"inline": {"rows": [{"x": 1}, {"y": "a"}]}},
            "schema": {"columns": [{"name": "x", "type": "float"}]},
        }
    )
    raw = read_source(spec, SourceSettings())
    assert raw.frame.to_dict("list") == {"x": [1, None], "y": [None, "a"]}
    assert raw.description == {"kind": "inline", "rows": 2}


def test_parquet_bytes_are_read_exactly():
    from ballast.data.tables import read_parquet_raw

    frame = iris_frame()
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    assert read_parquet_raw(buffer.getvalue()).equals(frame)
