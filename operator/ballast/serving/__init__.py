"""The model server: Open Inference Protocol over HTTP, feedback, and drift metrics.

    loaded = load_served_model(ArtifactStore(uri), ModelSource(artifact_uri, sha256))
    server = build_server(loaded.service, loaded.metrics, loaded.state, Offload(loaded.service.limits))

`ballast.runtime.serve` runs it as `ballast serve`; docs/metrics.md lists what /metrics exports.

Modules, one concern each:
  signature      what the model takes and returns (from metadata.json)
  tensors        OIP request tensors -> feature columns, as feature_frame would make them
  predictor      the pipeline, or its compiled numpy copy proven identical at start-up
  linear         a linear model's outputs from one matrix product (the compiled copy's)
  buckets        histogram edges and categories from the training profile (pure)
  distributions  live counts of features, predictions and probabilities
  reference      the training snapshot counted into the same buckets, as ratios
  feedback       the prediction log and the confusion / error counts
  metrics        the Prometheus registry and the drift collector (metric names live here)
  protocol       OIP response and metadata documents
  service        one model's request logic, HTTP-free
  limits         what one client may ask of the server, every default in one place
  jsonbody       a request body to a JSON document, strictly
  auth           the bearer token feedback needs
  app            the REST routes on aiohttp's low-level server, and protocol errors
  offload        the worker threads and turns large requests take, shared by REST and gRPC
  grpcwire       OIP gRPC messages <-> the service's documents (pure)
  grpcserver     the gRPC servicer and server (inference.GRPCInferenceService)
  proto          the gRPC API's .proto and its generated stubs (scripts/grpc_stubs.py)
  loading        start-up: verify, load, warm up, or fail with a reason
"""

from ballast.serving.app import ServerState, build_server
from ballast.serving.auth import FeedbackAuth
from ballast.serving.errors import BadRequest, InferenceError, ModelNotFound, StartupFailure
from ballast.serving.limits import ServingLimits
from ballast.serving.loading import LoadedModel, ModelSource, load_served_model

__all__ = [
    "BadRequest",
    "FeedbackAuth",
    "InferenceError",
    "LoadedModel",
    "ModelNotFound",
    "ModelSource",
    "ServerState",
    "ServingLimits",
    "StartupFailure",
    "build_server",
    "load_served_model",
]
