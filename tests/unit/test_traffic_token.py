"""tests/support/traffic.py sends feedback with the namespace's token, read from its Secret."""

from __future__ import annotations

import base64
import json
import subprocess

from tests.support.traffic import feedback_token


class FakeKubectl:
    def __init__(self, secret: dict | None) -> None:
        self.secret, self.calls = secret, []

    def run(self, *args: str, check: bool = True, **_) -> subprocess.CompletedProcess:
        self.calls.append(args)
        if self.secret is None:
            return subprocess.CompletedProcess(args, 1, "", 'secrets "ballast-feedback" not found')
        return subprocess.CompletedProcess(args, 0, json.dumps(self.secret), "")


def test_the_token_is_read_from_the_ballast_feedback_secret() -> None:
    k = FakeKubectl({"data": {"token": base64.b64encode(b"s3cret-token-0123456789\n").decode()}})
    assert feedback_token(k) == "s3cret-token-0123456789"
    assert k.calls == [("get", "secret", "ballast-feedback", "-o", "json")]


def test_no_secret_yet_is_none() -> None:
    assert feedback_token(FakeKubectl(None)) is None
    assert feedback_token(FakeKubectl({"data": {}})) is None
