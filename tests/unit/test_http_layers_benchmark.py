"""The pure parts of benchmarks/http_layers.py: the candidates' virtualenvs, the work each server
does per request, the table and the command line. Installing and driving the servers is the
benchmark's job."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.support.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
script = load_script(ROOT / "benchmarks" / "http_layers.py")

CONSTRAINTS = """# pins
aiohappyeyeballs==2.7.1
aiohttp==3.14.5  # the model server
aiosignal==1.4.0
attrs==26.1.0
frozenlist==1.8.0
multidict==7.2.1
propcache==0.5.4
yarl==1.25.1
"""


def test_pins_are_read_from_the_constraints_in_the_order_asked():
    assert script.ballast_pins(("yarl", "aiohttp"), CONSTRAINTS) == ("yarl==1.25.1", "aiohttp==3.14.5")


def test_a_package_the_constraints_do_not_pin_is_refused():
    with pytest.raises(ValueError, match="not pinned in the constraints: uvloop"):
        script.ballast_pins(("aiohttp", "uvloop"), CONSTRAINTS)


def test_aiohttp_is_measured_with_the_stack_ballast_pins_on_both_loops():
    candidates = script.candidates(CONSTRAINTS.replace("aiohttp==3.14.5", "aiohttp==3.99.0"))
    today, uvloop = candidates["aiohttp"], candidates["aiohttp-uvloop"]
    assert today.requirements[0] == "aiohttp==3.99.0" and today.version == "3.99.0"
    assert {"multidict==7.2.1", "yarl==1.25.1", "propcache==0.5.4"} <= set(today.requirements)
    assert uvloop.requirements == (*today.requirements, "uvloop==0.23.0")
    assert "(Ballast)" in today.label and "web.Server" in today.label and today.loop == "asyncio"
    assert candidates["aiohttp-app"].requirements == today.requirements


def test_the_repositorys_constraints_give_the_aiohttp_ballast_runs_on():
    pinned = next(line for line in script.CONSTRAINTS.read_text().splitlines() if line.startswith("aiohttp=="))
    assert script.CANDIDATES["aiohttp"].requirements[0] == pinned


def test_each_candidate_installs_uvloop_exactly_when_it_runs_on_it():
    candidates = script.candidates(CONSTRAINTS)
    assert list(candidates) == [
        "aiohttp",
        "aiohttp-app",
        "aiohttp-uvloop",
        "uvicorn",
        "uvicorn-uvloop",
        "granian",
        "granian-uvloop",
        "floor",
    ]
    for candidate in candidates.values():
        assert (script.UVLOOP in candidate.requirements) == (candidate.loop == "uvloop"), candidate.name
        assert candidate.server in script.SERVERS
        assert all("==" in requirement for requirement in candidate.requirements)
    assert candidates["uvicorn"].requirements == ("uvicorn==0.55.0", "httptools==0.9.0")
    assert candidates["granian"].requirements == ("granian==2.8.9",)
    assert candidates["floor"].requirements == ("httptools==0.9.0", "uvloop==0.23.0")
    assert len({candidate.label for candidate in candidates.values()}) == len(candidates)


def test_the_fixed_answer_is_an_oip_infer_answer_of_about_160_bytes():
    answer = json.loads(script.ANSWER)
    assert set(answer) == {"model_name", "model_version", "id", "outputs"}
    assert [output["name"] for output in answer["outputs"]] == ["predict"]
    assert 140 <= len(script.ANSWER) <= 180


def test_every_server_parses_the_infer_body_and_answers_readiness():
    body = json.dumps({"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": [[1, 2, 3, 4]]}]})
    assert script.answer_for(script.INFER_PATH, body.encode()) == script.ANSWER
    assert json.loads(script.answer_for(script.READY_PATH, b"")) == {"ready": True}
    with pytest.raises(json.JSONDecodeError):
        script.answer_for(script.INFER_PATH, b"{not json")


def test_the_asgi_callable_reads_a_body_in_chunks_and_answers_with_its_length():
    sent = []
    messages = iter(
        [{"type": "http.request", "body": b'{"inputs":', "more_body": True}, {"type": "http.request", "body": b"[]}"}]
    )

    async def receive():
        return next(messages)

    async def send(message):
        sent.append(message)

    asyncio.run(script.asgi_app({"type": "http", "path": script.INFER_PATH}, receive, send))
    start, body = sent
    assert start["status"] == 200
    assert dict(start["headers"]) == {
        b"content-type": b"application/json",
        b"content-length": str(len(script.ANSWER)).encode(),
    }
    assert body == {"type": "http.response.body", "body": script.ANSWER}


def test_the_rsgi_callable_answers_the_whole_body():
    answered = []

    class Protocol:
        async def __call__(self):
            return b'{"inputs":[]}'

        def response_bytes(self, status, headers, body):
            answered.append((status, headers, body))

    asyncio.run(script.rsgi_app(SimpleNamespace(path=script.INFER_PATH), Protocol()))
    assert answered == [(200, [("content-type", "application/json")], script.ANSWER)]


def test_the_floors_response_is_one_whole_http_answer_for_the_load_generator():
    buffer = bytearray(script.response_bytes(script.ANSWER) * 2)
    assert script.serve_latency.take_response(buffer) == 200
    assert bytes(buffer) == script.response_bytes(script.ANSWER)
    assert buffer.startswith(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")


def test_the_table_lists_each_candidate_and_row_count_with_the_rounds_and_errors_beside():
    candidates = script.candidates(CONSTRAINTS)
    results = [
        script.Measured(candidates["aiohttp"], 1, 0.4104, 0.9, 2301.4, 0, (2250.2, 2400.6, 2260.0)),
        script.Measured(candidates["floor"], 100, 0.2, 0.35, 4012.0, 3, (4012.0,)),
    ]
    lines = script.table(results).splitlines()
    assert lines[0].split() == ["candidate", "rows", "p50", "ms", "p99", "ms", "req/s", "req/s", "by", "round"]
    assert set(lines[1]) == {"-"} and len(lines[1]) == len(lines[0])
    assert lines[2].startswith(candidates["aiohttp"].label)
    assert lines[2].split()[-7:] == ["1", "0.410", "0.900", "2301", "2250", "2401", "2260"]
    assert lines[3].startswith(candidates["floor"].label)
    assert lines[3].split()[-7:] == ["100", "0.200", "0.350", "4012", "4012", "(3", "errors)"]
    # the figures line up under the header whatever the labels' length
    assert lines[0].index("req/s") + len("req/s") == lines[2].index(" 2301") + len(" 2301")


def test_the_rounds_alternate_direction():
    names = ["aiohttp", "uvicorn", "floor"]
    assert [script.round_order(names, index) for index in range(3)] == [names, names[::-1], names]
    assert names == ["aiohttp", "uvicorn", "floor"]


def test_a_candidates_rounds_are_pooled_and_each_rounds_rate_kept():
    candidate = script.candidates(CONSTRAINTS)["uvicorn"]
    fast = {"latencies": [0.001] * 99, "errors": 0, "seconds": 0.1}
    slow = {"latencies": [0.002] * 50 + [0.010], "errors": 2, "seconds": 0.12}
    measured = script.pooled(candidate, 100, [fast, slow])
    assert (measured.candidate, measured.rows, measured.errors) == (candidate, 100, 2)
    assert measured.p50_ms == pytest.approx(1.0) and measured.p99_ms == pytest.approx(2.0)
    assert measured.requests_per_second == pytest.approx(150 / 0.22)
    assert measured.rates_by_round == pytest.approx((990.0, 51 / 0.12))


def test_the_command_line_measures_every_candidate_by_default_and_refuses_unknown_ones(capsys):
    parser = script.build_parser()
    args = parser.parse_args([])
    assert (args.duration, args.warmup, args.rounds, args.update, args.serve) == (10.0, 2.0, 3, False, None)
    assert args.candidates == list(script.CANDIDATES)
    picked = parser.parse_args(
        ["--candidates", "aiohttp", "granian", "--duration", "5", "--warmup", "1", "--rounds", "1"]
    )
    assert (picked.candidates, picked.duration, picked.warmup, picked.rounds) == (["aiohttp", "granian"], 5.0, 1.0, 1)
    served = parser.parse_args(["--serve", "floor", "--port", "8080"])
    assert (served.serve, served.port) == ("floor", 8080)
    with pytest.raises(SystemExit):
        parser.parse_args(["--candidates", "tornado"])
    assert "invalid choice: 'tornado'" in capsys.readouterr().err
    for bad in ("0", "-1", "1.5"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--rounds", bad])
        assert "not a whole number of rounds of at least 1" in capsys.readouterr().err


def test_the_figures_go_to_their_own_section_of_the_benchmarks_doc():
    assert script.FIGURES.name == "http_layers"
    text = script.FIGURES.doc.read_text()
    section = text.index(script.FIGURES.begin)
    assert text.index("## Model server beside MLServer and KServe") < section < text.index(script.FIGURES.end)
    assert section < text.index("## Model server as models and requests grow wide")
