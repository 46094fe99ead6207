"""One line of an audit log: a decision, with the digest that chains it to the line before."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

GENESIS = "0" * 64
"""The `prev` of a log's first entry: there is no line before it."""


class AuditDraft(BaseModel):
    """A decision as the operator records it, before the log gives it its place (seq, prev)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    id: str
    """Derived from the decision, not from when it was recorded (ballast.audit.decisions): the
    same decision made again after a crash has the same id, and the log keeps it once."""
    time: str
    namespace: str
    kind: str
    name: str
    uid: str
    generation: int | None = None
    type: Literal["Normal", "Warning"]
    reason: str
    message: str
    approved_by: str | None = Field(default=None, alias="approvedBy")
    """On the promotion an approval let through: the field manager that set spec.rollout.approved,
    preceded by the approving user when the annotation ballast.dev/approved-by named one
    ("alice via kubectl-ballast")."""


class AuditEntry(AuditDraft):
    seq: int
    """1 for a log's first line, one more for each line after: a removed line leaves a gap."""
    prev: str
    """The previous entry's digest (GENESIS for the first)."""
    digest: str
    """The sha256 of this entry's canonical JSON without `digest`: an edited line no longer hashes to it."""

    def line(self) -> bytes:
        return canonical(self.model_dump(by_alias=True)) + b"\n"


def canonical(document: dict[str, Any]) -> bytes:
    """The one serialisation digests are taken of: sorted keys, no spaces, UTF-8."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest_of(document: dict[str, Any]) -> str:
    """The digest an entry's fields (all but `digest`) give."""
    return hashlib.sha256(canonical({k: v for k, v in document.items() if k != "digest"})).hexdigest()


def place(draft: AuditDraft, seq: int, prev: str) -> AuditEntry:
    """The draft as the log's entry number `seq`, after the entry whose digest is `prev`."""
    document = {**draft.model_dump(by_alias=True), "seq": seq, "prev": prev}
    return AuditEntry.model_validate({**document, "digest": digest_of(document)})
