"""Shared by the test_serving_* modules: models trained into a real store, and a live server.

`trained_model` ingests a bundled scikit-learn dataset with the ingest side and trains it
with `ballast train` itself, so the server reads exactly what production writes: model.skops,
metadata.json, the profile and the snapshot. `running_server` serves it in a thread on
127.0.0.1 (a free port) and stops it gracefully.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from ballast.api.dataset import DatasetSpec
from ballast.build.serving import REFERENCE_PATH
from ballast.data import ingest_table
from ballast.drift.counters import Window, parse_metrics, window_between
from ballast.models.skops_format import load_model
from ballast.runtime.serve import ServeOptions, serve
from ballast.runtime.train import run_train
from ballast.serving import FeedbackAuth, LoadedModel, ModelSource, ServingLimits, load_served_model
from ballast.store import ArtifactStore
from ballast.training.features import FeatureColumns, feature_frame

BREAST_CANCER_FEATURES = ["mean radius", "mean texture", "mean smoothness", "mean concavity"]


@dataclass(frozen=True)
class TrainedModel:
    store: ArtifactStore
    model: str
    artifact_uri: str
    sha256: str
    frame: pd.DataFrame
    """The training data (features and target) as the snapshot holds it."""
    metadata: dict[str, Any]
    profile: dict[str, Any]

    @property
    def columns(self) -> FeatureColumns:
        f = self.metadata["features"]
        return FeatureColumns(tuple(f["numeric"]), tuple(f["categorical"]), f["target"])

    def pipeline(self) -> Any:
        return load_model(self.store.read_bytes(self.artifact_uri), self.sha256)

    def source(self, **overrides: Any) -> ModelSource:
        return ModelSource(**{"artifact_uri": self.artifact_uri, "sha256": self.sha256, **overrides})


def snake(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename(columns=lambda c: c.replace(" ", "_").replace("(", "").replace(")", ""))


def iris_frame() -> tuple[pd.DataFrame, dict[str, Any]]:
    frame = snake(load_iris(as_frame=True).frame)
    return frame, {
        "columns": [{"name": c, "type": "float"} for c in frame.columns if c != "target"]
        + [{"name": "target", "type": "integer"}],
        "target": "target",
    }


def species_frame() -> tuple[pd.DataFrame, dict[str, Any]]:
    """Iris with the species' names as classes: its labels are a BYTES tensor."""
    frame, schema = iris_frame()
    frame = frame.assign(target=pd.Series(np.array(["setosa", "versicolor", "virginica"])[frame["target"]]))
    return frame, {**schema, "columns": [*schema["columns"][:-1], {"name": "target", "type": "string"}]}


def cancer_frame() -> tuple[pd.DataFrame, dict[str, Any]]:
    frame = snake(load_breast_cancer(as_frame=True).frame[BREAST_CANCER_FEATURES + ["target"]])
    return frame, {
        "columns": [{"name": c, "type": "float"} for c in frame.columns if c != "target"]
        + [{"name": "target", "type": "integer"}],
        "target": "target",
    }


def diabetes_frame() -> tuple[pd.DataFrame, dict[str, Any]]:
    frame = snake(load_diabetes(as_frame=True).frame)
    return frame, {
        "columns": [{"name": c, "type": "float"} for c in frame.columns if c != "target"]
        + [{"name": "target", "type": "float"}],
        "target": "target",
    }


def mixed_frame() -> tuple[pd.DataFrame, dict[str, Any]]:
    """Breast cancer plus a string feature with gaps: numeric and categorical, missing values."""
    frame, _ = cancer_frame()
    frame = frame.copy()
    rng = np.random.default_rng(7)
    frame["clinic"] = pd.Series(rng.choice(["north", "south", "east"], len(frame)), dtype=object)
    frame.loc[rng.choice(len(frame), 30, replace=False), "clinic"] = None
    frame.loc[rng.choice(len(frame), 30, replace=False), "mean_radius"] = None
    columns = [{"name": c, "type": "float", "nullable": True} for c in BREAST_CANCER_FEATURES_SNAKE]
    columns += [{"name": "clinic", "type": "string", "nullable": True}, {"name": "target", "type": "integer"}]
    return frame[[*BREAST_CANCER_FEATURES_SNAKE, "clinic", "target"]], {"columns": columns, "target": "target"}


BREAST_CANCER_FEATURES_SNAKE = [c.replace(" ", "_") for c in BREAST_CANCER_FEATURES]


def trained_model(
    root: Path,
    model: str,
    data: tuple[pd.DataFrame, dict[str, Any]],
    estimator: str,
    params: dict[str, Any] | None = None,
    evaluation: dict[str, Any] | None = None,
) -> TrainedModel:
    store = ArtifactStore(f"file://{root / 'store'}")
    raw, schema = data
    spec = DatasetSpec.model_validate({"source": {"inline": {"rows": [{"x": 1}]}}, "schema": schema})
    record = ingest_table(store, model, spec, raw, {"inline": True}, "2026-01-01T00:00:00Z")
    assert record.valid, record.violations
    run_json = root / f"{model}-run.json"
    run_json.write_text(
        json.dumps(
            {
                "spec": {
                    "model": model,
                    "datasetRef": {"name": model},
                    "seed": 1,
                    "estimator": estimator,
                    "params": params or {},
                    **({"evaluation": evaluation} if evaluation else {}),
                },
                # the digests the operator records for the version (ballast.reconcile.trainingrun), as in production
                "dataset": {
                    "name": model,
                    "sha256": record.sha256,
                    "snapshotUri": record.snapshot_uri,
                    "schema": schema,
                    "profileSha256": record.profile_sha256,
                    "metadataSha256": record.metadata_sha256,
                },
            }
        )
    )
    log = root / f"{model}-termination-log"
    assert (
        run_train(["--run-json", str(run_json), "--store", store.uri, "--termination-log", str(log)], environ={}) == 0
    ), log.read_text()
    result = json.loads(log.read_text())
    return TrainedModel(
        store=store,
        model=model,
        artifact_uri=result["artifact"]["uri"],
        sha256=result["artifact"]["sha256"],
        frame=raw,
        metadata=store.read_json(result["metadataUri"]),
        profile=store.read_json(record.profile_uri),
    )


def expected_outputs(trained: TrainedModel, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """What the pipeline itself predicts for the rows, on the DataFrame training would build."""
    pipeline = trained.pipeline()
    frame = feature_frame(rows, trained.columns)
    probabilities = pipeline.predict_proba(frame) if trained.metadata["task"] == "classification" else None
    return pipeline.predict(frame), probabilities


def named_inputs(rows: pd.DataFrame, columns: FeatureColumns) -> list[dict[str, Any]]:
    inputs = []
    for name in columns.numeric:
        values = [None if pd.isna(v) else float(v) for v in rows[name]]
        inputs.append({"name": name, "shape": [len(rows)], "datatype": "FP64", "data": values})
    for name in columns.categorical:
        values = [None if pd.isna(v) else str(v) for v in rows[name]]
        inputs.append({"name": name, "shape": [len(rows)], "datatype": "BYTES", "data": values})
    return inputs


def served_window(server: RunningServer, model: str, columns: FeatureColumns, rows: pd.DataFrame) -> Window:
    """The drift window of `rows` sent to the server in batches of 50, with the server's training
    reference, as the operator reads both from a pod."""
    client = server.client()
    start = {"pod": parse_metrics(server.metrics())}
    try:
        for first in range(0, len(rows), 50):
            status, answer = client.post(
                f"/v2/models/{model}/infer", {"inputs": named_inputs(rows.iloc[first : first + 50], columns)}
            )
            assert status == 200, answer
    finally:
        client.close()
    window = window_between(start, {"pod": parse_metrics(server.metrics())})
    return replace(window, reference=parse_metrics(server.metrics(REFERENCE_PATH)).reference)


def matrix_input(rows: pd.DataFrame, columns: FeatureColumns) -> list[dict[str, Any]]:
    values = rows[list(columns.all)].to_numpy(dtype=np.float64)
    return [{"name": "input-0", "shape": list(values.shape), "datatype": "FP64", "data": values.tolist()}]


FEEDBACK_TOKEN = "unit-test-feedback-token-0123456789"
"""The token running_server and serve_command give the server; Client sends it by default."""


class Client:
    """A keep-alive HTTP/1.1 client (one connection), as an OIP client library would hold."""

    def __init__(self, port: int, token: str | None = FEEDBACK_TOKEN) -> None:
        self.port = port
        self.token = token
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def request(
        self, method: str, path: str, body: Any = None, raw: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        sent = {"Content-Type": "application/json"} if payload is not None else {}
        if self.token is not None:
            sent["Authorization"] = f"Bearer {self.token}"
        headers = {**sent, **(headers or {})}
        self.connection.request(method, path, body=payload, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        if response.getheader("Content-Type", "").startswith("application/json"):
            return response.status, json.loads(data)
        return response.status, data.decode()

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
        return self.request("POST", path, body, raw)

    def close(self) -> None:
        self.connection.close()


@dataclass
class RunningServer:
    loaded: LoadedModel
    port: int
    stop: Any

    def client(self, token: str | None = FEEDBACK_TOKEN) -> Client:
        return Client(self.port, token)

    def metrics(self, path: str = "/metrics") -> str:
        client = self.client()
        try:
            status, text = client.get(path)
            assert status == 200
            return text
        finally:
            client.close()


LIMIT_NAMES = frozenset(f.name for f in fields(ServingLimits))


def harness_limits(**overrides: Any) -> ServingLimits:
    """The limits of a test server: smaller than production's, any field overridden by name."""
    return ServingLimits(**{"prediction_log_entries": 1000, "max_request_bytes": 1 << 20, **overrides})


def options(tmp_path: Path, **overrides: Any) -> ServeOptions:
    """ServeOptions for a test server; any ServingLimits field may be overridden by name."""
    return ServeOptions(
        **{
            "source": None,
            "store_uri": "",
            "bind_address": "127.0.0.1",
            "port": 0,
            "termination_log": tmp_path / "termination-log",
            "drain_seconds": 0.0,
            "shutdown_timeout": 5.0,
            "limits": harness_limits(**{name: value for name, value in overrides.items() if name in LIMIT_NAMES}),
            **{name: value for name, value in overrides.items() if name not in LIMIT_NAMES},
        }
    )


@contextmanager
def running_server(
    trained: TrainedModel, tmp_path: Path, feedback_token: str | None = FEEDBACK_TOKEN, **overrides: Any
) -> Iterator[RunningServer]:
    """The server in a thread of this process, with its own event loop. `feedback_token` None
    starts it without one (feedback refused). Limits among `overrides` go to the loading, as
    `ballast serve` passes them."""
    limits = options(tmp_path, **overrides).limits
    with running_loaded(
        load_served_model(trained.store, trained.source(), limits),
        tmp_path,
        feedback_token,
        **{name: value for name, value in overrides.items() if name not in LIMIT_NAMES},
    ) as running:
        yield running


@contextmanager
def running_loaded(
    loaded: LoadedModel, tmp_path: Path, feedback_token: str | None = FEEDBACK_TOKEN, **overrides: Any
) -> Iterator[RunningServer]:
    """`serve` of an already loaded model (a stub's, for instance) in a thread of this process.
    The server runs within the limits the model was loaded with: give them to the loading."""
    assert not LIMIT_NAMES & overrides.keys(), "limits belong to the loaded model's service"
    auth = FeedbackAuth(feedback_token.encode() if feedback_token is not None else None)
    listening = threading.Event()
    address: dict[str, Any] = {}
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def on_listening(_host: str, port: int) -> None:
        address["port"] = port
        listening.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(serve(loaded, options(tmp_path, **overrides), stop, on_listening, auth))
        except BaseException as error:  # noqa: BLE001 - reported to the waiting test
            address["error"] = error
            listening.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert listening.wait(10), "the server did not start"
    if "error" in address:
        raise address["error"]
    try:
        yield RunningServer(loaded=loaded, port=address["port"], stop=stop)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


def metric_value(text: str, name: str, **labels: str) -> float:
    """The value of one series in a Prometheus text exposition (AssertionError if absent)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, _, value = line.rpartition(" ")
        if series.split("{", 1)[0] != name:
            continue
        found = dict(part.split("=", 1) for part in _label_parts(series))
        if all(found.get(k) == json.dumps(v) for k, v in labels.items()):
            return float(value)
    raise AssertionError(f"no series {name}{labels} in the metrics")


def _label_parts(series: str) -> list[str]:
    if "{" not in series:
        return []
    inner = series[series.index("{") + 1 : series.rindex("}")]
    parts, current, quoted = [], "", False
    for char in inner:
        if char == '"' and not current.endswith("\\"):
            quoted = not quoted
        if char == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    if current:
        parts.append(current)
    return parts
