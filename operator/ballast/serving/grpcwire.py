"""The Open Inference Protocol's gRPC messages as the documents the service layer reads and
writes (pure functions): a ModelInferRequest becomes the REST request it means, so parsing,
limits, predicting and counting are the service's, whichever API a request came by.

  typed contents       -> each input's `data`, from the contents field of its datatype
  raw_input_contents   -> the binary section of the REST binary extension (the same layout),
                          each input's `binary_data_size` the length of its entry
  outputs              -> raw_output_contents, always (as Triton answers), with each output's
                          parameters (`classes`) as InferParameters

The protocol's gRPC ModelMetadataResponse has no parameters, so the model's (task, classes,
features...) are read over REST; an infer response's `predict_proba` carries `classes` as in REST.
"""

from __future__ import annotations

from typing import Any

from ballast.serving import binary
from ballast.serving.errors import BadRequest
from ballast.serving.proto import grpc_predict_v2_pb2 as pb
from ballast.serving.protocol import InferResponse
from ballast.serving.tensors import DATATYPES

CONTENTS_FIELDS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
"""The InferTensorContents field of each datatype; FP16 has none (it travels raw only)."""


def _typed_data(tensor: pb.ModelInferRequest.InferInputTensor, where: str) -> list[Any]:
    datatype = tensor.datatype
    if datatype not in DATATYPES:
        return []  # parse_tensor refuses it by name, with the datatypes there are
    field = CONTENTS_FIELDS.get(datatype)
    if field is None:
        raise BadRequest(f"{where}: {datatype} values travel only in raw_input_contents")
    given = [descriptor.name for descriptor, _ in tensor.contents.ListFields()]
    if any(name != field for name in given):
        raise BadRequest(f"{where}: a {datatype} tensor's values go in contents.{field}, not in {', '.join(given)}")
    values = getattr(tensor.contents, field)
    if datatype != "BYTES":
        return list(values)
    try:
        return [value.decode() for value in values]
    except UnicodeDecodeError:
        raise BadRequest(f"{where}: a BYTES element is not UTF-8 text") from None


def infer_document(request: pb.ModelInferRequest) -> tuple[dict[str, Any], memoryview | None]:
    """The REST infer document a ModelInferRequest means, and its binary section (raw contents)."""
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise BadRequest(f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} input(s); send one each")
    inputs: list[dict[str, Any]] = []
    for position, tensor in enumerate(request.inputs):
        where = f"input {tensor.name or position!r}"
        document: dict[str, Any] = {"name": tensor.name, "datatype": tensor.datatype, "shape": list(tensor.shape)}
        if raw:
            if tensor.HasField("contents"):
                raise BadRequest(f"{where}: has contents, but the request carries raw_input_contents; send one form")
            document["parameters"] = {binary.BINARY_DATA_SIZE: len(raw[position])}
        else:
            document["data"] = _typed_data(tensor, where)
        inputs.append(document)
    infer: dict[str, Any] = {"inputs": inputs, "parameters": {binary.BINARY_DATA_OUTPUT: True}}
    if request.id:
        infer["id"] = request.id
    if request.outputs:
        infer["outputs"] = [{"name": output.name} for output in request.outputs]
    return infer, memoryview(b"".join(raw)) if raw else None


def infer_parameter(value: bool | int | str) -> pb.InferParameter:
    if isinstance(value, bool):
        return pb.InferParameter(bool_param=value)
    if isinstance(value, int):
        return pb.InferParameter(int64_param=value)
    return pb.InferParameter(string_param=value)


def infer_response(answer: InferResponse) -> pb.ModelInferResponse:
    """The service's answer (every output in binary, as infer_document asks) as a ModelInferResponse."""
    document = answer.document
    outputs = [
        pb.ModelInferResponse.InferOutputTensor(
            name=output["name"],
            datatype=output["datatype"],
            shape=output["shape"],
            parameters={
                name: infer_parameter(value)
                for name, value in output.get("parameters", {}).items()
                if name != binary.BINARY_DATA_SIZE  # REST framing; raw_output_contents sizes itself
            },
        )
        for output in document["outputs"]
    ]
    return pb.ModelInferResponse(
        model_name=document["model_name"],
        model_version=document["model_version"],
        id=document["id"],
        outputs=outputs,
        raw_output_contents=answer.binary_outputs,
    )


def _tensor_metadata(tensors: list[dict[str, Any]]) -> list[pb.ModelMetadataResponse.TensorMetadata]:
    return [
        pb.ModelMetadataResponse.TensorMetadata(name=t["name"], datatype=t["datatype"], shape=t["shape"])
        for t in tensors
    ]


def model_metadata_response(metadata: dict[str, Any]) -> pb.ModelMetadataResponse:
    """The REST model metadata document (protocol.model_metadata) as the gRPC message."""
    return pb.ModelMetadataResponse(
        name=metadata["name"],
        versions=metadata["versions"],
        platform=metadata["platform"],
        inputs=_tensor_metadata(metadata["inputs"]),
        outputs=_tensor_metadata(metadata["outputs"]),
    )


def server_metadata_response(metadata: dict[str, Any]) -> pb.ServerMetadataResponse:
    return pb.ServerMetadataResponse(
        name=metadata["name"], version=metadata["version"], extensions=metadata["extensions"]
    )
