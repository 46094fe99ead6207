"""Which decision a reconcile's Events record, as audit drafts: a pure function of the object as
read, the Events and the status the reconcile wants written.

A decision's id is derived from the state it was taken from, never from when: the object's uid,
the Event's reason, its generation, the digest of its status as read, and the Event's rank
among that reconcile's Events of the same reason. A reconcile whose status write never happened
(the operator was killed in between) leaves that status as it was, so the reconcile after it
takes the same decision from the same state and gets the same id: the log keeps it once. A
decision that was written moved the status on, so the next one has another id.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ballast.api.kinds import DATASET
from ballast.audit.entry import AuditDraft, canonical
from ballast.reasons.modelversion import Reason
from ballast.reconcile.outcome import Event
from ballast.store.layout import DATASETS, MODELS, audit_log_key

KOPF_STATUS = "kopf"
"""kopf's own progress in status: it changes when kopf retries, not when Ballast decides."""


@dataclass(frozen=True)
class Decision:
    log_key: str
    """Root-relative: the log lives outside the namespace's part of the store."""
    draft: AuditDraft


def audit_log_of(body: dict[str, Any]) -> str:
    """A Dataset has a log of its own; every other kind is its model's (spec.model)."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    if body["kind"] == DATASET.kind:
        return audit_log_key(namespace, DATASETS, name)
    return audit_log_key(namespace, MODELS, body["spec"]["model"])


def state_digest(body: dict[str, Any]) -> str:
    status = {key: value for key, value in (body.get("status") or {}).items() if key != KOPF_STATUS}
    return hashlib.sha256(canonical(status)).hexdigest()


def decision_id(body: dict[str, Any], reason: str, rank: int) -> str:
    metadata = body["metadata"]
    parts = [metadata.get("uid") or "", reason, metadata.get("generation"), state_digest(body), rank]
    return hashlib.sha256(canonical({"decision": parts})).hexdigest()[:32]


def decisions(
    body: dict[str, Any], events: Iterable[Event], desired_status: dict[str, Any], now: str
) -> list[Decision]:
    """One draft per Event, in the order the Events are posted."""
    metadata = body["metadata"]
    log_key = audit_log_of(body)
    approval = desired_status.get("approval") if "approval" not in (body.get("status") or {}) else None
    ranks: Counter[str] = Counter()
    found = []
    for event in events:
        rank = ranks[event.reason]
        ranks[event.reason] += 1
        draft = AuditDraft(
            id=decision_id(body, event.reason, rank),
            time=now,
            namespace=metadata["namespace"],
            kind=body["kind"],
            name=metadata["name"],
            uid=metadata.get("uid") or "",
            generation=metadata.get("generation"),
            type="Warning" if event.type == "Warning" else "Normal",
            reason=event.reason,
            message=event.message,
            approved_by=approver(approval) if event.reason == Reason.PROMOTED else None,
        )
        found.append(Decision(log_key, draft))
    return found


def approver(approval: dict | None) -> str | None:
    """Who let a promotion through, as the audit trail records it: the user the approval
    annotation names and the field manager that set the approval ("alice via kubectl-ballast"),
    or the field manager alone when no user was named (a kubectl patch, a commit Argo CD synced)."""
    if not approval:
        return None
    by, user = approval.get("by"), approval.get("user")
    return f"{user} via {by}" if user else by
