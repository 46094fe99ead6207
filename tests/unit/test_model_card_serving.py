"""The model server serves the version's model card at /v2/models/<name>/card, read-only from the
store as metadata.json pins it, and answers 404 when there is none to serve."""

from __future__ import annotations

import http.client
from pathlib import Path

import pytest

from ballast.serving import load_served_model
from tests.unit.test_serving_harness import TrainedModel, iris_frame, running_loaded, running_server, trained_model


@pytest.fixture
def iris(tmp_path: Path) -> TrainedModel:
    return trained_model(tmp_path, "iris", iris_frame(), "sklearn.linear_model.LogisticRegression")


def card_path(trained: TrainedModel) -> Path:
    return Path(trained.artifact_uri.removeprefix("file://")).with_name("card.md")


def get(port: int, path: str) -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def test_the_card_is_served_as_markdown_at_the_model_and_version_paths(iris, tmp_path) -> None:
    stored = card_path(iris).read_bytes()
    assert stored.startswith(b"# Model card: iris\n")
    with running_server(iris, tmp_path) as server:
        version = server.loaded.service.signature.version
        for path in ("/v2/models/iris/card", f"/v2/models/iris/versions/{version}/card"):
            status, content_type, body = get(server.port, path)
            assert (status, content_type, body) == (200, "text/markdown; charset=utf-8", stored)
        status, _, body = get(server.port, "/v2/models/other/card")
        assert status == 404 and b"unknown model 'other'" in body
        status, _, _ = get(server.port, "/v2/models/iris/versions/000000000000/card")
        assert status == 404


def test_a_version_without_a_card_answers_404_and_still_serves(iris, tmp_path) -> None:
    card_path(iris).unlink()
    with running_server(iris, tmp_path) as server:
        status, content_type, body = get(server.port, "/v2/models/iris/card")
        assert (status, content_type) == (404, "application/json")
        assert b"has no model card" in body
        assert get(server.port, "/v2/models/iris/ready")[0] == 200


def test_an_altered_card_is_not_served(iris, tmp_path) -> None:
    path = card_path(iris)
    path.chmod(0o644)
    path.write_bytes(path.read_bytes().replace(b"## Limitations", b"## No limitations"))
    loaded = load_served_model(iris.store, iris.source())
    assert loaded.card is None
    with running_loaded(loaded, tmp_path) as server:
        assert get(server.port, "/v2/models/iris/card")[0] == 404
