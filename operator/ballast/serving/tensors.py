"""Open Inference Protocol request tensors in, the model's feature columns out.

A request carries either one 1-D tensor per feature (named after the feature, shape [n] or
[n, 1]) or one 2-D tensor of shape [n, n_features] with the features in the signature's
order. Each tensor's `data` may be flat (row-major) or nested as its shape.

Values become what `ballast.training.features.feature_frame` makes of a column of the same
type, so serving sees exactly what training saw: numeric features as float64 with NaN for
missing, categorical features as Python strings (`str(value)`, so an INT64 1 is "1" and an
FP64 1.0 is "1.0") with NaN for missing. JSON `null` (or NaN) is a missing value in any
tensor; an infinite number is refused, as scikit-learn's imputer would refuse it. FP32 and
FP16 data are rounded to their type first: the tensor is what the client says it is.

A tensor's values may instead arrive as binary data after the JSON (ballast.serving.binary);
they mean the same, a NaN being the one missing value a binary tensor can hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ballast.serving import binary
from ballast.serving.errors import BadRequest
from ballast.serving.limits import ServingLimits
from ballast.training.features import FeatureColumns

FLOAT_TYPES = {"FP16": np.float16, "FP32": np.float32, "FP64": np.float64}
INTEGER_TYPES = {
    name: getattr(np, name.lower())
    for name in ("INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64")
}
DATATYPES = frozenset({*FLOAT_TYPES, *INTEGER_TYPES, "BOOL", "BYTES"})
NUMBER_KINDS = frozenset("fiu")


@dataclass(frozen=True)
class FeatureBatch:
    rows: int
    numeric: np.ndarray
    """(rows, numeric features) float64; NaN is a missing value."""
    categorical: np.ndarray
    """(rows, categorical features) object: str, or NaN for a missing value."""


@dataclass(frozen=True)
class InferenceRequest:
    id: str | None
    batch: FeatureBatch
    outputs: tuple[str, ...] | None
    """The outputs the client asked for by name; None for all of them."""
    binary_outputs: frozenset[str] = frozenset()
    """The outputs to answer as binary data rather than in the JSON."""


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple[int, ...]
    datatype: str
    values: np.ndarray
    """float64 for numeric and BOOL datatypes, object (str or None) for BYTES; reshaped to `shape`."""


def _field(document: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in document:
        raise BadRequest(f"{where} has no `{key}`")
    value = document[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise BadRequest(f"{where}: `{key}` must be a {kind.__name__}")
    return value


MAX_DIMENSIONS = 2
"""An input is [n], [n, 1] or [n, features]; numpy itself stops at 64 dimensions, with an error
that is no client's business."""


def _shape(value: list[Any], where: str) -> tuple[int, ...]:
    if len(value) > MAX_DIMENSIONS:
        raise BadRequest(f"{where}: `shape` has {len(value)} dimensions; an input has 1 or 2")
    if not all(type(d) is int and d >= 0 for d in value):
        raise BadRequest(f"{where}: `shape` must be a list of non-negative integers, got {value}")
    return tuple(value)


def _object_values(data: list[Any], datatype: str, where: str) -> np.ndarray:
    """Element by element, for data numpy cannot type by itself (nulls, mixed or ragged lists)."""
    try:
        nested = np.array(data, dtype=object)
    except ValueError as error:
        raise BadRequest(f"{where}: `data` is not a regular nested list ({error})") from None
    flat = nested.ravel()
    if datatype == "BYTES":
        for value in flat:
            if value is not None and not isinstance(value, str):
                raise BadRequest(f"{where}: a BYTES tensor holds strings, found {value!r}")
        return nested
    wanted = bool if datatype == "BOOL" else (int, float)
    out = np.empty(flat.shape, dtype=np.float64)
    for i, value in enumerate(flat):
        if value is None:
            out[i] = math.nan
        elif isinstance(value, wanted) and (datatype == "BOOL" or not isinstance(value, bool)):
            try:
                out[i] = float(value)
            except OverflowError:  # an integer past 1.8e308: no float holds it
                raise BadRequest(f"{where}: a number is too large for {datatype}") from None
        else:
            raise BadRequest(f"{where}: a {datatype} tensor cannot hold {value!r}")
    return out.reshape(nested.shape)


def _typed_values(data: list[Any], datatype: str, where: str) -> np.ndarray:
    try:
        array = np.array(data)
    except (ValueError, OverflowError):
        array = None
    if array is None or array.dtype == object:
        values = _object_values(data, datatype, where)
    elif datatype == "BYTES":
        if array.dtype.kind != "U":
            raise BadRequest(f"{where}: a BYTES tensor holds strings, found {array.dtype.name} values")
        values = array.astype(object)
    elif datatype == "BOOL":
        if array.dtype.kind != "b":
            raise BadRequest(f"{where}: a BOOL tensor holds true/false, found {array.dtype.name} values")
        values = array.astype(np.float64)
    else:
        if array.dtype.kind not in NUMBER_KINDS:
            raise BadRequest(f"{where}: a {datatype} tensor holds numbers, found {array.dtype.name} values")
        values = array.astype(np.float64, copy=False)
    return _checked_values(values, datatype, where)


def _binary_values(raw: memoryview, datatype: str, count: int, where: str) -> np.ndarray:
    """`count` values of `datatype` from their binary data, as _typed_values makes them from JSON."""
    if datatype == "BYTES":
        texts = binary.unpack_bytes(raw, count, where)
        values = np.empty(len(texts), dtype=object)
        values[:] = texts
        return values
    wire = np.dtype(np.bool_ if datatype == "BOOL" else {**FLOAT_TYPES, **INTEGER_TYPES}[datatype]).newbyteorder("<")
    if len(raw) != count * wire.itemsize:
        raise BadRequest(f"{where}: {count} {datatype} values take {count * wire.itemsize} bytes, not {len(raw)}")
    if datatype == "BOOL":
        octets = np.frombuffer(raw, dtype=np.uint8)
        if (octets > 1).any():
            raise BadRequest(f"{where}: a BOOL byte must be 0 or 1")
        return octets.astype(np.float64)
    return _checked_values(np.frombuffer(raw, dtype=wire).astype(np.float64), datatype, where)


def _checked_values(values: np.ndarray, datatype: str, where: str) -> np.ndarray:
    """float64 `values` refused if the client's `datatype` cannot hold them, rounded to it if it is narrower."""
    if datatype in FLOAT_TYPES:
        if datatype != "FP64":
            with np.errstate(over="ignore"):
                values = values.astype(FLOAT_TYPES[datatype]).astype(np.float64)
        if np.isinf(values).any():
            raise BadRequest(f"{where}: holds an infinite value (or one too large for {datatype})")
    elif datatype in INTEGER_TYPES:
        present = values[~np.isnan(values)]
        if (present != np.floor(present)).any():
            raise BadRequest(f"{where}: a {datatype} tensor holds non-integers")
        limits = np.iinfo(INTEGER_TYPES[datatype])
        if present.size and (present.min() < limits.min or present.max() > limits.max):
            raise BadRequest(f"{where}: a value is outside the range of {datatype}")
    return values


def parse_tensor(
    document: Any, position: int, max_rows: int = ServingLimits.max_rows, raw: memoryview | None = None
) -> Tensor:
    """An input tensor; `raw` holds its values when they came as binary data."""
    where = f"input {position}"
    if not isinstance(document, dict):
        raise BadRequest(f"{where} must be an object with name, shape, datatype and data")
    name = _field(document, "name", str, where)
    where = f"input {name!r}"
    shape = _shape(_field(document, "shape", list, where), where)
    # Before `data` is read: the shape says how much work the client asks for.
    if not shape or shape[0] == 0:
        raise BadRequest(f"{where}: shape {list(shape)} has no rows; send at least one")
    if shape[0] > max_rows:
        raise BadRequest(f"{where}: {shape[0]} rows; at most {max_rows} per request")
    datatype = _field(document, "datatype", str, where)
    if datatype not in DATATYPES:
        raise BadRequest(f"{where}: unknown datatype {datatype!r} (one of {', '.join(sorted(DATATYPES))})")
    expected = math.prod(shape)
    if raw is not None:
        if "data" in document:
            raise BadRequest(f"{where}: has both `data` and `parameters.{binary.BINARY_DATA_SIZE}`; send one")
        values = _binary_values(raw, datatype, expected, where)
    elif (
        "data" not in document
        and isinstance(document.get("parameters"), dict)
        and (binary.BINARY_DATA_SIZE in document["parameters"])
    ):
        raise BadRequest(f"{where}: binary data needs the {binary.HEADER} header, which the request does not have")
    else:
        values = _typed_values(_field(document, "data", list, where), datatype, where)
    if values.size != expected:
        raise BadRequest(f"{where}: shape {list(shape)} needs {expected} values, `data` has {values.size}")
    return Tensor(name=name, shape=shape, datatype=datatype, values=values.reshape(shape))


def _as_categorical(values: list[Any]) -> np.ndarray:
    """Strings as feature_frame makes them: str() of each value, NaN for a missing one."""
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = math.nan if value is None else value if type(value) is str else str(value)
    return out


def _python_values(datatype: str, values: np.ndarray) -> list[Any]:
    """The tensor's values as the Python objects the client meant (None for missing)."""
    if datatype == "BYTES":
        return values.tolist()
    floats = values.tolist()
    if datatype == "BOOL":
        return [None if v != v else bool(v) for v in floats]
    if datatype in INTEGER_TYPES:
        return [None if v != v else int(v) for v in floats]
    return [None if v != v else v for v in floats]


def _column_for(tensor: Tensor, values: np.ndarray, feature: str, numeric: bool) -> np.ndarray:
    if not numeric:
        return _as_categorical(_python_values(tensor.datatype, values))
    if tensor.datatype == "BYTES":
        raise BadRequest(
            f"input {tensor.name!r}: feature {feature!r} is numeric; send it as FP64, FP32, "
            "an INT type or BOOL, not BYTES"
        )
    return values


def _named_batch(tensors: list[Tensor], columns: FeatureColumns) -> FeatureBatch:
    by_name: dict[str, Tensor] = {}
    for tensor in tensors:
        if tensor.name in by_name:
            raise BadRequest(f"input {tensor.name!r} is given twice")
        by_name[tensor.name] = tensor
    unknown = [name for name in by_name if name not in columns.all]
    if unknown:
        raise BadRequest(
            f"unknown input(s) {', '.join(map(repr, unknown))}; the model's features are {', '.join(columns.all)}"
        )
    missing = [name for name in columns.all if name not in by_name]
    if missing:
        raise BadRequest(f"missing input(s) for feature(s) {', '.join(missing)}")
    rows = None
    for tensor in tensors:
        if len(tensor.shape) not in (1, 2) or len(tensor.shape) == 2 and tensor.shape[1] != 1:
            raise BadRequest(
                f"input {tensor.name!r}: shape {list(tensor.shape)} is not [n] or [n, 1] "
                "(one value per row for each feature)"
            )
        if rows is not None and tensor.shape[0] != rows:
            raise BadRequest(
                f"inputs have different numbers of rows ({rows} and {tensor.shape[0]} for {tensor.name!r})"
            )
        rows = tensor.shape[0]
    assert rows is not None
    numeric = np.empty((rows, len(columns.numeric)), dtype=np.float64)
    for j, name in enumerate(columns.numeric):
        tensor = by_name[name]
        numeric[:, j] = _column_for(tensor, tensor.values.reshape(rows), name, numeric=True)
    categorical = np.empty((rows, len(columns.categorical)), dtype=object)
    for j, name in enumerate(columns.categorical):
        tensor = by_name[name]
        categorical[:, j] = _column_for(tensor, tensor.values.reshape(rows), name, numeric=False)
    return FeatureBatch(rows=rows, numeric=numeric, categorical=categorical)


def _matrix_batch(tensor: Tensor, columns: FeatureColumns) -> FeatureBatch:
    width = len(columns.all)
    shape = tensor.shape
    if len(shape) != 2 or shape[1] != width:
        raise BadRequest(
            f"input {tensor.name!r}: shape {list(shape)} is not [n, {width}]; send one 2-D tensor "
            f"with the features in this order: {', '.join(columns.all)}, or one tensor per feature "
            "named after it"
        )
    rows = shape[0]
    values = tensor.values
    numeric = np.empty((rows, len(columns.numeric)), dtype=np.float64)
    for j, name in enumerate(columns.numeric):
        numeric[:, j] = _column_for(tensor, values[:, j], name, numeric=True)
    offset = len(columns.numeric)
    categorical = np.empty((rows, len(columns.categorical)), dtype=object)
    for j, name in enumerate(columns.categorical):
        categorical[:, j] = _column_for(tensor, values[:, offset + j], name, numeric=False)
    return FeatureBatch(rows=rows, numeric=numeric, categorical=categorical)


def batch_from_inputs(
    inputs: Any, columns: FeatureColumns, max_rows: int = ServingLimits.max_rows, section: memoryview | None = None
) -> FeatureBatch:
    """The feature columns of a request's `inputs` list (BadRequest with the reason otherwise);
    `section` is the binary data that followed the JSON, if any."""
    if not isinstance(inputs, list) or not inputs:
        raise BadRequest("`inputs` must be a non-empty list of tensors")
    if section is None:
        tensors = [parse_tensor(document, position, max_rows) for position, document in enumerate(inputs)]
    else:
        shares = binary.input_sections(inputs, section)
        tensors = [parse_tensor(document, i, max_rows, raw) for i, (document, raw) in enumerate(zip(inputs, shares))]
    if len(tensors) == 1 and tensors[0].name not in columns.all:
        return _matrix_batch(tensors[0], columns)
    return _named_batch(tensors, columns)


def requested_outputs(
    document: dict[str, Any], available: tuple[str, ...]
) -> tuple[tuple[str, ...] | None, frozenset[str]]:
    """The outputs asked for by name (None for all), and those of them to answer in binary: an
    output's `binary_data` parameter, else the request's `binary_data_output`."""
    all_binary = binary.parameter(document, binary.BINARY_DATA_OUTPUT, bool, "the request") or False
    outputs = document.get("outputs")
    if outputs is None:
        return None, frozenset(available) if all_binary else frozenset()
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise BadRequest("`outputs` must be a list of objects with a `name`")
    names = tuple(o["name"] for o in outputs)
    unknown = [name for name in names if name not in available]
    if unknown:
        raise BadRequest(f"unknown output(s) {', '.join(map(repr, unknown))}; this model has {', '.join(available)}")

    def answered_in_binary(output: dict[str, Any]) -> bool:
        choice = binary.parameter(output, binary.BINARY_DATA, bool, f"output {output['name']!r}")
        return all_binary if choice is None else choice

    return names, frozenset(o["name"] for o in outputs if answered_in_binary(o))


def request_id(document: dict[str, Any], max_length: int = ServingLimits.max_id_length) -> str | None:
    value = document.get("id")
    if value is not None and not isinstance(value, str):
        raise BadRequest("`id` must be a string")
    if value is not None and len(value) > max_length:
        raise BadRequest(f"`id` has {len(value)} characters; at most {max_length}")
    if value is not None and not value:
        return None
    return value


def parse_infer_request(
    document: Any,
    columns: FeatureColumns,
    available_outputs: tuple[str, ...],
    limits: ServingLimits = ServingLimits(),
    section: memoryview | None = None,
) -> InferenceRequest:
    """An infer request's JSON document (already parsed) as the model's input; `section` is the
    binary data that followed the JSON, if any."""
    if not isinstance(document, dict):
        raise BadRequest("the request body must be a JSON object with `inputs`")
    outputs, binary_outputs = requested_outputs(document, available_outputs)
    return InferenceRequest(
        id=request_id(document, limits.max_id_length),
        batch=batch_from_inputs(document.get("inputs"), columns, limits.max_rows, section),
        outputs=outputs,
        binary_outputs=binary_outputs,
    )
