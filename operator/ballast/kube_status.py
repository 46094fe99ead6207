"""The Status document the API server answers a refused request with, read from the response
body alone (no Kubernetes client), for every place that reports the API server's own words."""

from __future__ import annotations

import json
from typing import Any


def status_document(body: str | bytes | None) -> dict[str, Any]:
    """The decoded Status, or {} for a body that is not a JSON object (a proxy's HTML page)."""
    try:
        decoded = json.loads(body or "{}")
    except (TypeError, ValueError):
        return {}
    return decoded if isinstance(decoded, dict) else {}


def status_message(body: str | bytes | None) -> str:
    """What the API server said (`... is forbidden: User ...`), or "" when it said nothing."""
    return str(status_document(body).get("message") or "")


def status_reason(body: str | bytes | None) -> str:
    """The machine-readable reason (NotFound, AlreadyExists, Invalid...), or ""."""
    return str(status_document(body).get("reason") or "")


def status_causes(body: str | bytes | None) -> list[str]:
    """Each field the API server refused, as `field: message`."""
    return [
        f"{cause.get('field', '')}: {cause.get('message', '')}".lstrip(": ")
        for cause in (status_document(body).get("details") or {}).get("causes") or []
    ]
