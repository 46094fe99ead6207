"""`ballast rollback <model> [--to <version>]`: bring an earlier version back to Production.

The request is an annotation on the target version (what `kubectl annotate` or a commit in Git
would write too); the operator scales it up, promotes it once its pods are ready, and the
current Production version is Superseded: traffic moves only to ready pods.
"""

from __future__ import annotations

from ballast.api.annotations import ROLLBACK_ANNOTATION


class NoRollbackTarget(Exception):
    pass


def rollback_target(versions: list[dict], model: str, to: str | None) -> dict:
    """--to, else the version that was in Production most recently before the current one."""
    mine = [v for v in versions if v["spec"]["model"] == model]
    if to:
        target = next((v for v in mine if v["metadata"]["name"] == to), None)
        if target is None:
            raise NoRollbackTarget(f"no ModelVersion {to} of model {model}")
        if (target.get("status") or {}).get("stage") == "Production":
            raise NoRollbackTarget(f"{to} is already in Production")
        return target
    superseded = [v for v in mine if (v.get("status") or {}).get("stage") == "Superseded"]
    if not superseded:
        raise NoRollbackTarget(f"model {model} has no Superseded version to roll back to; name one with --to")
    return max(superseded, key=lambda v: v["status"].get("supersededAt") or "")


def rollback_patch(requested_at: str) -> dict:
    return {"metadata": {"annotations": {ROLLBACK_ANNOTATION: requested_at}}}
