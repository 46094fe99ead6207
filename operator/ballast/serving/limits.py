"""How much one client may ask of the model server: every limit and its default, in one place.

A serving pod is reachable from the pod network, so each of these bounds what an
unauthenticated client can make the server hold or compute: the size and shape of a request,
how long it may take to arrive, how many connections it may hold open and how much the
prediction log keeps of it (docs/security.md, "What an unauthenticated client on the pod
network can and cannot do").
`ballast serve` sets each from a flag or an environment variable (ballast.runtime.serve).
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024
SERVER_ID_LENGTH = 22
"""Characters of an id the server makes up (16 random bytes, base64url): max_id_length cannot be less."""


@dataclass(frozen=True)
class ServingLimits:
    max_request_bytes: int = 4 * MIB
    """Largest request body, refused by Content-Length before it is read. 4 MiB of JSON holds
    ~100,000 numbers; a 15 MiB body once took 13 s and 450 MiB to parse."""
    max_rows: int = 10_000
    """Rows in one infer request or one feedback item."""
    max_json_depth: int = 32
    """Nesting of a JSON body; a request needs 5 levels, a list of feedback items 7."""
    max_id_length: int = 128
    """Characters of a request id (infer) or a response id (feedback)."""
    prediction_log_entries: int = 10_000
    """Responses remembered for feedback by id; the oldest are forgotten first."""
    prediction_log_bytes: int = 32 * MIB
    """Estimated bytes the prediction log may hold (ids and labels); the oldest are forgotten first."""
    read_timeout_seconds: float = 10.0
    """Time a client has to send a request's body once its headers arrived."""
    keepalive_timeout_seconds: float = 5.0
    """An open connection with no request under way (just opened, idle after an answer, or
    still sending its headers) is closed after this long."""
    max_connections: int = 1024
    """Open connections; one more is closed at once, before a byte of it is read."""
    max_connections_per_client: int = 256
    """Open connections from one address; one more is closed at once too. The kubelet's probes
    share `max_connections` with every client: without a share per address, one pod holding
    them all for the keep-alive timeout, again and again, failed the readiness probe and took
    the server out of its Service."""
    predict_threads: int = 2
    """Threads that parse large bodies and predict, so the event loop keeps answering
    health probes; requests beyond them wait their turn."""
    max_large_requests: int = 8
    """Requests over `inline_body_bytes` (or of unknown length) read, parsed and predicted at
    once; more wait for a turn within the read deadline, so their memory stays bounded."""
    inline_body_bytes: int = 64 * 1024
    """Bodies smaller than this are parsed and predicted on the event loop: a thread hop costs
    ~30 us (6% of a one-row request) and such a body takes at most a few milliseconds."""

    def __post_init__(self) -> None:
        for name in (
            "max_request_bytes",
            "max_rows",
            "max_json_depth",
            "max_id_length",
            "max_connections",
            "max_connections_per_client",
            "predict_threads",
            "max_large_requests",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("prediction_log_entries", "prediction_log_bytes", "inline_body_bytes"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.max_id_length < SERVER_ID_LENGTH:
            raise ValueError(f"max_id_length must be at least {SERVER_ID_LENGTH}, the length of the server's own ids")
        if self.read_timeout_seconds <= 0 or self.keepalive_timeout_seconds <= 0:
            raise ValueError("read_timeout_seconds and keepalive_timeout_seconds must be positive")
