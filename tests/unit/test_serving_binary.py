"""The binary tensor data extension's parsing, with hostile sizes and bytes: every refusal is a
BadRequest that says what is wrong, and nothing is sized from a number the body does not back."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ballast.serving import binary
from ballast.serving.errors import BadRequest
from ballast.serving.protocol import output_tensors
from ballast.serving.signature import ModelSignature
from ballast.serving.tensors import batch_from_inputs, parse_infer_request, parse_tensor, requested_outputs
from ballast.training.features import FeatureColumns

COLUMNS = FeatureColumns(numeric=("a", "b"), categorical=("c",), target="y")


def packed(*texts: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(t)) + t for t in texts)


def request(*tensors: tuple[str, list[int], str, bytes]) -> tuple[dict, memoryview]:
    inputs = [
        {"name": name, "shape": shape, "datatype": datatype, "parameters": {"binary_data_size": len(raw)}}
        for name, shape, datatype, raw in tensors
    ]
    return {"inputs": inputs}, memoryview(b"".join(raw for *_, raw in tensors))


def good_request(rows: int = 2) -> tuple[dict, memoryview]:
    return request(
        ("a", [rows], "FP64", np.arange(rows, dtype="<f8").tobytes()),
        ("b", [rows, 1], "INT32", np.arange(rows, dtype="<i4").tobytes()),
        ("c", [rows], "BYTES", packed(*[f"k{i}".encode() for i in range(rows)])),
    )


def test_binary_inputs_mean_what_the_same_json_means() -> None:
    document, section = good_request(3)
    batch = batch_from_inputs(document["inputs"], COLUMNS, section=section)
    as_json = batch_from_inputs(
        [
            {"name": "a", "shape": [3], "datatype": "FP64", "data": [0.0, 1.0, 2.0]},
            {"name": "b", "shape": [3, 1], "datatype": "INT32", "data": [[0], [1], [2]]},
            {"name": "c", "shape": [3], "datatype": "BYTES", "data": ["k0", "k1", "k2"]},
        ],
        COLUMNS,
    )
    assert batch.numeric.tolist() == as_json.numeric.tolist() == [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]
    assert batch.categorical.tolist() == as_json.categorical.tolist() == [["k0"], ["k1"], ["k2"]]


def one_tensor(datatype: str, raw: bytes) -> np.ndarray:
    document, section = request(("a", [2], datatype, raw))
    return parse_tensor(document["inputs"][0], 0, raw=section).values


def test_a_nan_is_missing_and_fp16_bool_and_unsigned_types_decode() -> None:
    assert np.isnan(one_tensor("FP64", np.array([np.nan, 1], "<f8").tobytes())[0])
    cases = [
        ("FP16", np.array([1.5, -2], "<f2").tobytes(), [1.5, -2.0]),
        ("FP32", np.array([0.1, 3], "<f4").tobytes(), [float(np.float32(0.1)), 3.0]),
        ("UINT64", np.array([2**63, 7], "<u8").tobytes(), [float(2**63), 7.0]),
        ("INT8", np.array([-128, 127], "<i1").tobytes(), [-128.0, 127.0]),
        ("BOOL", b"\x01\x00", [1.0, 0.0]),
    ]
    for datatype, raw, expected in cases:
        assert one_tensor(datatype, raw).tolist() == expected, datatype


def refusal(document: dict, section: memoryview | None = None) -> str:
    with pytest.raises(BadRequest) as error:
        batch_from_inputs(document["inputs"], COLUMNS, max_rows=100, section=section)
    return str(error.value)


@pytest.mark.parametrize(
    ("tensor", "message"),
    [
        (("a", [2], "FP64", b"\x00" * 15), "take 16 bytes, not 15"),
        (("a", [2], "FP64", b"\x00" * 17), "take 16 bytes, not 17"),
        (("a", [2], "FP64", np.array([1, np.inf], "<f8").tobytes()), "infinite"),
        (("a", [2], "FP32", np.array([1, -np.inf], "<f4").tobytes()), "infinite"),
        (("a", [2], "BOOL", b"\x01\x02"), "0 or 1"),
        (("a", [101], "FP64", b""), "at most 100"),
        (("a", [1, 2**62], "FP64", b"\x00" * 8), "bytes, not 8"),
        (("c", [1, 2**62], "BYTES", packed(b"x")), "cannot hold"),
        (("c", [2], "BYTES", packed(b"x")), "cannot hold 2"),
        (("c", [2], "BYTES", packed(b"abcd")), "ends before"),
        (("c", [1], "BYTES", struct.pack("<I", 2**32 - 1) + b"xy"), "runs past the end"),
        (("c", [1], "BYTES", packed(b"x") + b"z"), "1 bytes follow"),
        (("c", [1], "BYTES", packed(b"\xff\xfe")), "not UTF-8"),
    ],
)
def test_hostile_tensor_bytes_are_refused(tensor: tuple, message: str) -> None:
    assert message in refusal(*request(tensor))


def test_sizes_that_do_not_add_up_to_the_section_are_refused() -> None:
    document, section = good_request()
    assert "belong to no input" in refusal(document, memoryview(bytes(section) + b"extra"))
    assert "bytes of binary data are left" in refusal(document, section[:-1])
    for size in (-1, 2**64, True, "16", 1.5):
        document, section = good_request()
        document["inputs"][0]["parameters"]["binary_data_size"] = size
        assert "binary_data_size" in refusal(document, section), size
    document, section = good_request()
    document["inputs"][0]["parameters"] = ["binary_data_size", 16]
    assert "`parameters` must be an object" in refusal(document, section)


def test_data_and_binary_data_at_once_or_binary_data_without_the_header_are_refused() -> None:
    document, section = good_request()
    document["inputs"][0]["data"] = [1.0, 2.0]
    assert "both `data` and" in refusal(document, section)
    document, _ = good_request()
    assert binary.HEADER in refusal(document)


@pytest.mark.parametrize("value", ["", "abc", "-1", "1e3", "0x10", "١٢", "9" * 21, "+5"])
def test_a_header_length_that_is_not_a_plain_number_is_refused(value: str) -> None:
    with pytest.raises(BadRequest, match=binary.HEADER):
        binary.split_body(b"{}", value)


def test_a_header_length_beyond_the_body_is_refused_and_one_within_splits_it() -> None:
    with pytest.raises(BadRequest, match="has only 2"):
        binary.split_body(b"{}", "3")
    with pytest.raises(BadRequest, match="has only 2"):
        binary.split_body(b"{}", "99999999999999999999")
    header, section = binary.split_body(b'{"a":1}XYZ', "7")
    assert header == b'{"a":1}' and bytes(section) == b"XYZ"


def test_a_huge_bytes_count_is_refused_before_a_loop_over_it() -> None:
    # Refused by the bytes it would need, not after 1,024 empty elements were read.
    with pytest.raises(BadRequest, match="4096 bytes cannot hold 1000000000000 BYTES elements"):
        binary.unpack_bytes(memoryview(b"\x00" * 4096), 10**12, "input 'c'")


SIGNATURE = ModelSignature(
    name="m",
    version="v",
    sha256="0" * 64,
    task="classification",
    columns=COLUMNS,
    classes=("no", "yes"),
    dataset_name=None,
    dataset_sha256=None,
    snapshot_uri=None,
)


def test_outputs_are_chosen_binary_by_output_then_by_request() -> None:
    available = ("predict", "predict_proba")
    assert requested_outputs({}, available) == (None, frozenset())
    assert requested_outputs({"parameters": {"binary_data_output": True}}, available) == (None, frozenset(available))
    mixed = {
        "parameters": {"binary_data_output": True},
        "outputs": [{"name": "predict"}, {"name": "predict_proba", "parameters": {"binary_data": False}}],
    }
    assert requested_outputs(mixed, available) == (("predict", "predict_proba"), frozenset({"predict"}))
    for bad in ({"parameters": {"binary_data_output": 1}}, {"outputs": [{"name": "predict", "parameters": "x"}]}):
        with pytest.raises(BadRequest, match="parameters"):
            requested_outputs(bad, available)


def test_binary_outputs_are_little_endian_and_length_prefixed() -> None:
    probabilities = np.array([[0.25, 0.75], [1.0, 0.0]])
    outputs, sections = output_tensors(
        SIGNATURE, ["yes", "no"], probabilities, None, frozenset(["predict", "predict_proba"])
    )
    assert sections == [packed(b"yes", b"no"), probabilities.astype("<f8").tobytes()]
    assert [o["parameters"]["binary_data_size"] for o in outputs] == [len(s) for s in sections]
    assert outputs[1]["parameters"]["classes"] == json.dumps(["no", "yes"], separators=(",", ":"))
    assert all("data" not in o for o in outputs)


@settings(max_examples=300, deadline=None)
@given(
    header=st.binary(max_size=64),
    section=st.binary(max_size=64),
    sizes=st.lists(st.integers(-(2**70), 2**70), max_size=4),
    shape=st.lists(st.integers(0, 2**64), min_size=1, max_size=3),
    datatype=st.sampled_from(["FP64", "FP32", "FP16", "INT64", "UINT8", "BOOL", "BYTES"]),
)
def test_any_body_is_a_request_or_a_bad_request(header, section, sizes, shape, datatype) -> None:
    inputs = [
        {"name": name, "shape": shape, "datatype": datatype, "parameters": {"binary_data_size": size}}
        for name, size in zip(("a", "b", "c"), sizes)
    ]
    body = json.dumps({"inputs": inputs}).encode() + header + section
    try:
        json_part, rest = binary.split_body(body, str(len(body) - len(section)))
        parse_infer_request(json.loads(json_part), COLUMNS, ("predict",), section=rest)
    except (BadRequest, json.JSONDecodeError, UnicodeDecodeError):
        pass
