"""The audit entries of what `ballast gc` and `ballast erase` delete from the store. They are no
reconcile's: the objects that named the version may be gone, so the entry names the store's
version directory, and is appended to the model's (or Dataset's) log before the files go."""

from __future__ import annotations

import hashlib

from ballast.audit.decisions import Decision
from ballast.audit.entry import AuditDraft, canonical
from ballast.lifecycle.references import VersionDirectory
from ballast.store.layout import audit_log_key

DELETED_KIND = "StoredVersion"
"""What an entry of a deletion names in place of a Kubernetes kind."""


def deletion_decision(namespace: str, directory: VersionDirectory, reason: str, why: str, now: str) -> Decision:
    """Its id is the version's and the reason's: a gc cut short and run again records it once."""
    draft = AuditDraft(
        id=hashlib.sha256(canonical({"deleted": [namespace, directory.key, reason]})).hexdigest()[:32],
        time=now,
        namespace=namespace,
        kind=DELETED_KIND,
        name=directory.key,
        uid=directory.sha256,
        type="Normal",
        reason=reason,
        message=why,
    )
    return Decision(audit_log_key(namespace, directory.kind, directory.name), draft)
