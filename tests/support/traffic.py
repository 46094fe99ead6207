"""Traffic to a model's Service as production would send it: each request to a ready endpoint
of the Service's EndpointSlices (as kube-proxy routes), optionally followed by the true label.

Feedback carries the namespace's feedback token (`Authorization: Bearer`), read from the Secret
the operator provisions (ballast.serving.auth: Secret `ballast-feedback`, key `token`)."""

from __future__ import annotations

import base64
import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from ballast.serving.auth import FEEDBACK_SECRET_KEY, FEEDBACK_SECRET_NAME
from tests.support.kube import Kubectl


def ready_endpoints(k: Kubectl, service: str, port_name: str = "http") -> list[str]:
    """host:port of each ready pod behind `service`, on its port named `port_name` (a model's
    Service also names `grpc`)."""
    slices = k.get_json("endpointslices", "-l", f"kubernetes.io/service-name={service}")["items"]
    return [
        f"{endpoint['addresses'][0]}:{port['port']}"
        for s in slices
        for endpoint in s.get("endpoints") or []
        if endpoint["conditions"].get("ready")
        for port in s.get("ports") or []
        if port.get("name") == port_name
    ]


def infer(endpoint: str, model: str, features: list[str], rows: list[dict], timeout: float = 5) -> dict:
    body = {
        "inputs": [
            {"name": name, "shape": [len(rows)], "datatype": "FP64", "data": [float(row[name]) for row in rows]}
            for name in features
        ]
    }
    request = urllib.request.Request(
        f"http://{endpoint}/v2/models/{model}/infer",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def feedback_token(k: Kubectl) -> str | None:
    """The feedback token of k's namespace, None while the operator has not provisioned it."""
    result = k.run("get", "secret", FEEDBACK_SECRET_NAME, "-o", "json", check=False)
    if result.returncode != 0:
        return None
    encoded = (json.loads(result.stdout).get("data") or {}).get(FEEDBACK_SECRET_KEY)
    return base64.b64decode(encoded).decode().strip() if encoded else None


def send_feedback(endpoint: str, model: str, answer_id: str, labels: list, token: str) -> None:
    body = json.dumps({"id": answer_id, "labels": labels}).encode()
    request = urllib.request.Request(
        f"http://{endpoint}/v2/models/{model}/feedback",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    urllib.request.urlopen(request, timeout=5).read()


class MissingToken(Exception):
    pass


class Traffic:
    """A background client. `rows()` gives the next batch; it can be swapped while running
    (`traffic.rows = ...`), which is how a test makes the world shift."""

    def __init__(
        self,
        k: Kubectl,
        service: str,
        model: str,
        features: list[str],
        label: str | None,
        rows: Callable[[], list[dict]],
        pause: float = 0.0,
        max_rows_per_second: float | None = None,
        endpoints: Callable[[], list[str]] | None = None,
    ):
        """endpoints: where to send, re-read every half second; the Service's ready endpoints by default."""
        self.k, self.service, self.model, self.features, self.label = k, service, model, features, label
        self.endpoints = endpoints or (lambda: ready_endpoints(k, service))
        self.rows, self.pause, self.max_rows_per_second = rows, pause, max_rows_per_second
        self.failures: list[str] = []
        self._token: str | None = None
        self._token_read = 0.0
        self.answered = 0
        self.rows_sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _feedback_token(self) -> str:
        if self._token is None and time.monotonic() - self._token_read > 1.0:
            self._token, self._token_read = feedback_token(self.k), time.monotonic()
        if self._token is None:
            raise MissingToken(
                f"no Secret {FEEDBACK_SECRET_NAME} with a `{FEEDBACK_SECRET_KEY}` in the namespace "
                "(the operator provisions it): feedback not sent"
            )
        return self._token

    def _run(self) -> None:
        endpoints, refreshed, started = [], 0.0, time.monotonic()
        while not self._stop.is_set():
            if time.monotonic() - refreshed > 0.5:  # follow the EndpointSlices, as kube-proxy does
                endpoints, refreshed = self.endpoints(), time.monotonic()
            if not endpoints:
                time.sleep(0.05)
                continue
            batch = self.rows()
            endpoint = random.choice(endpoints)
            try:
                answer = infer(endpoint, self.model, self.features, batch)
                self.answered += 1
                self.rows_sent += len(batch)
                if self.label is not None:
                    send_feedback(
                        endpoint, self.model, answer["id"], [row[self.label] for row in batch], self._feedback_token()
                    )
            except urllib.error.HTTPError as error:
                if error.code == 401:  # the Secret was replaced: read it again
                    self._token = None
                self.failures.append(f"{endpoint}: {error!r}")
            except (urllib.error.URLError, OSError) as error:
                self.failures.append(f"{endpoint}: {error!r}")
            except MissingToken as error:
                self.failures.append(str(error))
            if self.pause:
                time.sleep(self.pause)
            if self.max_rows_per_second:  # a steady rate, the same on a fast machine as on a slow one
                time.sleep(max(0.0, started + self.rows_sent / self.max_rows_per_second - time.monotonic()))


class PooledTraffic(Traffic):
    """Traffic drawn from one of several pools of rows: `world` names the pool, and a test
    switches it while the traffic runs to make the world shift."""

    def __init__(
        self,
        k: Kubectl,
        model: str,
        features: list[str],
        label: str | None,
        pools: Mapping[str, list[dict]],
        world: str,
        *,
        batch: int = 5,
        **options: Any,
    ):
        """The model's Service has the model's name; options: Traffic's pause, max_rows_per_second."""
        self.pools, self.world, self.batch = pools, world, batch
        super().__init__(k, model, model, features, label, rows=self._draw, **options)

    def _draw(self) -> list[dict]:
        return random.sample(self.pools[self.world], self.batch)
