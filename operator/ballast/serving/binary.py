"""The binary tensor data extension of the Open Inference Protocol's REST API (Triton's
`binary_tensor_data`, what tritonclient's HTTP client sends by default): the wire format only.

A body with binary tensors is a JSON header of `Inference-Header-Content-Length` bytes followed
by each binary input's bytes, in the order of `inputs`; an input says how many are its own with
`parameters.binary_data_size` and has no `data`. Values are little-endian, row-major, unpadded;
a BOOL is one byte (0 or 1); a BYTES element is a 4-byte little-endian length and that many
bytes. A response is framed the same way for the outputs the client asked in binary
(`binary_data` on an output, or `binary_data_output` on the request for all of them).

Every size a client states is checked against the bytes that arrived before anything is sized
from it, so a hostile header costs no more than the body it came with (ballast.serving.limits).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from ballast.serving.errors import BadRequest

HEADER = "Inference-Header-Content-Length"
MEDIA_TYPE = "application/octet-stream"
BINARY_DATA_SIZE = "binary_data_size"
BINARY_DATA = "binary_data"
BINARY_DATA_OUTPUT = "binary_data_output"
_LENGTH = struct.Struct("<I")
_MAX_HEADER_DIGITS = 20
"""Digits of a 64-bit length: a longer header value is refused before it is turned into a number."""


def split_body(body: bytes, header_length: str) -> tuple[bytes, memoryview]:
    """The JSON header and the binary section of a body whose JSON is `header_length` bytes long."""
    value = header_length.strip()
    if not (value.isascii() and value.isdigit()) or len(value) > _MAX_HEADER_DIGITS:
        raise BadRequest(f"{HEADER} must be a decimal number of bytes, got {header_length[:32]!r}")
    length = int(value)
    if length > len(body):
        raise BadRequest(f"{HEADER} is {length} bytes, but the body has only {len(body)}")
    return body[:length], memoryview(body)[length:]


def parameter(document: dict[str, Any], name: str, kind: type, where: str) -> Any:
    """`document.parameters[name]` if given (None otherwise), refused unless it is of `kind`."""
    parameters = document.get("parameters")
    if parameters is None:
        return None
    if not isinstance(parameters, dict):
        raise BadRequest(f"{where}: `parameters` must be an object")
    value = parameters.get(name)
    if value is not None and (type(value) is not kind):
        raise BadRequest(f"{where}: `parameters.{name}` must be a {'boolean' if kind is bool else kind.__name__}")
    return value


def input_sections(inputs: list[Any], section: memoryview) -> list[memoryview | None]:
    """Each input's share of the binary section (None for an input given as JSON `data`); every
    byte of the section must belong to exactly one input."""
    shares: list[memoryview | None] = []
    offset = 0
    for position, document in enumerate(inputs):
        size = parameter(document, BINARY_DATA_SIZE, int, f"input {position}") if isinstance(document, dict) else None
        if size is None:
            shares.append(None)
            continue
        left = len(section) - offset
        if size < 0 or size > left:
            raise BadRequest(
                f"input {position}: {BINARY_DATA_SIZE} is {size}, but {left} bytes of binary data are left"
            )
        shares.append(section[offset : offset + size])
        offset += size
    if offset != len(section):
        raise BadRequest(f"{len(section) - offset} bytes of binary data belong to no input")
    return shares


def unpack_bytes(raw: memoryview, count: int, where: str) -> list[str]:
    """`count` BYTES elements (each a 4-byte length and the UTF-8 text), exactly filling `raw`."""
    if count * _LENGTH.size > len(raw):
        raise BadRequest(f"{where}: {len(raw)} bytes cannot hold {count} BYTES elements")
    values = []
    offset = 0
    for _ in range(count):
        if offset + _LENGTH.size > len(raw):
            raise BadRequest(f"{where}: the binary data ends before its {count} BYTES elements")
        (length,) = _LENGTH.unpack_from(raw, offset)
        offset += _LENGTH.size
        if length > len(raw) - offset:
            raise BadRequest(f"{where}: a BYTES element of {length} bytes runs past the end of the binary data")
        try:
            values.append(str(raw[offset : offset + length], "utf-8"))
        except UnicodeDecodeError:
            raise BadRequest(f"{where}: a BYTES element is not UTF-8 text") from None
        offset += length
    if offset != len(raw):
        raise BadRequest(f"{where}: {len(raw) - offset} bytes follow its {count} BYTES elements")
    return values


def pack_bytes(values: Iterable[Any]) -> bytes:
    """BYTES elements as the wire has them: each value's text in UTF-8 after its length."""
    parts = []
    for value in values:
        encoded = str(value).encode()
        parts.append(_LENGTH.pack(len(encoded)))
        parts.append(encoded)
    return b"".join(parts)
