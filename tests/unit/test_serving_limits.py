"""The server's limits: where they come from (flags, environment, defaults) and the pure pieces
that enforce them (the JSON depth scan, the byte-bounded prediction log)."""

from __future__ import annotations

import json
import random

import pytest

from ballast.runtime.serve import parse_serve_args
from ballast.serving.errors import BadRequest, IdInUse
from ballast.serving.feedback import PredictionLog, entry_bytes
from ballast.serving.jsonbody import json_depth, nesting_bound, parse_json
from ballast.serving.limits import ServingLimits

REQUIRED = ["--artifact-uri", "file:///m/model.skops", "--artifact-sha256", "0" * 64]


def test_limits_come_from_flags_then_environment_then_the_defaults() -> None:
    assert parse_serve_args(REQUIRED, {}).limits == ServingLimits()
    options = parse_serve_args(
        [*REQUIRED, "--max-rows", "7", "--read-timeout", "2.5"],
        {
            "BALLAST_MAX_ROWS": "9",
            "BALLAST_PREDICTION_LOG_BYTES": "1000",
            "BALLAST_FEEDBACK_TOKEN_FILE": "/var/run/ballast/feedback/token",
        },
    )
    assert options.limits.max_rows == 7 and options.limits.read_timeout_seconds == 2.5
    assert options.limits.prediction_log_bytes == 1000
    assert str(options.feedback_token_file) == "/var/run/ballast/feedback/token"
    assert parse_serve_args(REQUIRED, {}).feedback_token_file is None


def test_an_unusable_limit_is_a_usage_error() -> None:
    for flags in (["--max-rows", "0"], ["--max-id-length", "8"], ["--keepalive-timeout", "0"]):
        with pytest.raises(SystemExit):
            parse_serve_args([*REQUIRED, *flags], {})


def _reference_depth(value) -> int:
    if isinstance(value, list):
        return 1 + max((_reference_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_reference_depth(v) for v in value.values()), default=0)
    return 0


def _document(depth: int, rng: random.Random):
    if depth > 6 or rng.random() < 0.3:
        return rng.choice([1, 2.5, None, "a[", "]]", "\\", '\\"[{', "x\\\\", '"', "{", ""])
    if rng.random() < 0.5:
        return [_document(depth + 1, rng) for _ in range(rng.randint(0, 3))]
    return {rng.choice(["k", "[", '"q', "\\"]) + str(i): _document(depth + 1, rng) for i in range(rng.randint(0, 3))}


def test_the_depth_scan_agrees_with_the_parsed_document_and_ignores_brackets_in_strings() -> None:
    rng = random.Random(12)
    for _ in range(500):
        document = _document(0, rng)
        assert json_depth(json.dumps(document).encode()) == _reference_depth(document), document
    assert json_depth(b'{"a": "[[[[\\"[[", "b": [1]}') == 2


def test_the_cheap_bound_is_never_below_the_depth_and_tight_on_rows_of_numbers() -> None:
    rng = random.Random(13)
    for _ in range(2000):
        document = _document(0, rng)
        body = json.dumps(document, indent=rng.choice([None, 1])).encode()
        assert nesting_bound(body) >= json_depth(body), document
    rows = {"inputs": [{"name": "x", "shape": [100, 4], "data": [[5.1, 3.5, 1.4, 0.2]] * 100}]}
    assert nesting_bound(json.dumps(rows).encode()) == json_depth(json.dumps(rows).encode()) == 5
    assert nesting_bound(b"[" * 40 + b"]" * 40) == 40


def test_deep_json_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(BadRequest, match="nested too deeply \\(40 levels; at most 32\\)"):
        parse_json(b"[" * 40 + b"]" * 40, max_depth=32)
    assert parse_json(b"[" * 32 + b"]" * 32, max_depth=32) is not None
    # 100,000 deep: refused by the scan, never reaching the parser's recursion.
    with pytest.raises(BadRequest, match="nested too deeply"):
        parse_json(b"[" * 100_000 + b"]" * 100_000, max_depth=32)


def test_the_prediction_log_is_bounded_in_bytes_oldest_forgotten_first() -> None:
    labels = ["setosa"] * 100
    size = entry_bytes("r-0", labels)
    log = PredictionLog(capacity=1000, max_bytes=3 * size)
    for i in range(5):
        log.remember(f"r-{i}", labels)
    assert len(log) == 3 and log.bytes <= 3 * size
    assert log.peek("r-0") is None and log.peek("r-1") is None and log.peek("r-4") == labels
    log.forget("r-4")
    assert len(log) == 2 and log.bytes == 2 * size
    # One response larger than the whole budget is not remembered (and evicts nothing).
    log.remember("huge", ["setosa"] * 100_000)
    assert "huge" not in log and len(log) == 2


def test_the_bytes_count_grows_with_what_an_entry_holds() -> None:
    """12 requests with 8 MiB ids once held 137 MiB: ids and labels are both counted."""
    assert entry_bytes("x" * 10_000, ["a"]) > entry_bytes("x", ["a"]) + 9_000
    assert entry_bytes("x", ["a"] * 10_000) > entry_bytes("x", ["a"]) + 10_000 * 8


def test_a_remembered_id_is_refused_not_overwritten() -> None:
    log = PredictionLog()
    log.remember("mine", ["a"])
    with pytest.raises(IdInUse):
        log.remember("mine", ["b"])
    assert log.peek("mine") == ["a"]


def test_a_server_told_to_take_feedback_does_not_start_without_a_usable_token(tmp_path) -> None:
    from ballast.runtime.serve import EXIT_REFUSED, run_serve

    log = tmp_path / "termination-log"
    code = run_serve([*REQUIRED, "--termination-log", str(log), "--feedback-token-file", str(tmp_path / "absent")], {})
    assert code == EXIT_REFUSED
    assert json.loads(log.read_text())["reason"] == "FeedbackTokenUnreadable"
