"""Reading and appending an audit log in the artifact store."""

from __future__ import annotations

import threading
from collections import defaultdict

from ballast.audit.chain import Verification, next_line, verify
from ballast.audit.decisions import Decision
from ballast.store import ArtifactNotFound, ArtifactStore

TAIL_BYTES = 256 << 10
"""How much of a log's end an append reads: its newest ~500 entries, the ones a decision made
again after a crash is looked for among (a crash is followed by a reconcile within seconds)."""

# One appender per log within the process: kopf runs handlers in threads, and the store's
# lock is per log file on file:// only.
_LOCKS: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
_LOCKS_GUARD = threading.Lock()


def _lock_of(key: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS[key]


def append(store: ArtifactStore, decision: Decision) -> bool:
    """Appends the decision to its log; False when the log's tail holds its id already."""
    with _lock_of(store.uri_of(decision.log_key)):
        return store.append(decision.log_key, lambda tail: next_line(tail, decision.draft), TAIL_BYTES)


def read_and_verify(store: ArtifactStore, key: str) -> Verification:
    """The whole log, verified; ArtifactNotFound when there is none."""
    try:
        content = store.read_bytes(key)
    except ArtifactNotFound:
        raise ArtifactNotFound(f"no audit log {store.uri_of(key)}") from None
    return verify(content)
