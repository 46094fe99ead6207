"""A request body to a JSON document, or a BadRequest that says what is wrong with it.

Stricter than `json.loads`, because each laxity is a way to make the server work or guess:
  - UTF-8 only (json.loads would also take UTF-16 and UTF-32);
  - nesting checked before parsing, with a vectorised scan (the parser recurses in C);
  - a duplicate key is refused, not silently resolved to its last value;
  - `Infinity` and `-Infinity` are refused (no input or label may be infinite); `NaN` stays a
    missing value, as Python's json module writes one.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ballast.serving.errors import BadRequest

# +1 for a byte that opens an array or object, -1 for one that closes it.
_NESTING_STEP = np.zeros(256, dtype=np.int8)
_NESTING_STEP[[ord("["), ord("{")]] = 1
_NESTING_STEP[[ord("]"), ord("}")]] = -1
_QUOTE = ord('"')
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
"""What json_depth drops before its scan: everything but brackets and quotes."""


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in `body` (0 for a scalar), brackets inside
    strings not counted; exact for valid JSON (anything else the parser refuses anyway).

    Linear in C and numpy, never a loop in Python: escaped backslashes then escaped quotes are
    removed (left to right, as a parser reads them), so every quote left opens or closes a
    string; everything but brackets and quotes is dropped; a bracket is outside every string
    when an even number of quotes precede it. A regex over the strings would be quadratic on
    bad input."""
    structure = body.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    if not structure:
        return 0
    raw = np.frombuffer(structure, dtype=np.uint8)
    quote = raw == _QUOTE
    inside = np.logical_xor.accumulate(quote)  # after an odd number of quotes, this one included
    step = _NESTING_STEP[raw[~(inside | quote)]]
    return int(np.cumsum(step, dtype=np.int32).max(initial=0))  # a body is far below 2**31 bytes


def nesting_bound(body: bytes) -> int:
    """An upper bound of json_depth(body) in three C passes, which spares its scan on the usual
    request. Every opener counts (those inside strings too) but the openers of innermost pairs:
    a row of numbers like [5.1,3.5] is "[]" once all but brackets and quotes is dropped, and
    dropping every such adjacent pair lowers the depth by at most one (a quote between two
    brackets keeps them apart, so both of a pair are inside a string or both outside)."""
    structure = body.translate(None, _NOT_STRUCTURE).replace(b"[]", b"")
    return structure.count(b"[") + structure.count(b"{") + 1


def _refuse_infinity(token: str) -> float:
    if token == "NaN":
        return float("nan")
    raise BadRequest(f"an infinite number ({token}) is not a valid input or label")


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise BadRequest(f"the key {key[:64]!r} appears twice in one object")
            seen.add(key)
    return document


_DECODER = json.JSONDecoder(parse_constant=_refuse_infinity, object_pairs_hook=_object_without_duplicates)
"""Made once: json.loads with hooks would build a decoder for every request."""


def parse_json(body: bytes, max_depth: int) -> Any:
    if not body:
        raise BadRequest("the request has no body; send a JSON object")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest(f"the body is not UTF-8 (byte {error.start})") from None
    if nesting_bound(body) > max_depth and (depth := json_depth(body)) > max_depth:
        raise BadRequest(f"the JSON is nested too deeply ({depth} levels; at most {max_depth})")
    try:
        return _DECODER.decode(text)
    except ValueError as error:
        raise BadRequest(f"malformed JSON: {error}") from None
    except RecursionError:
        raise BadRequest("the JSON is nested too deeply") from None
