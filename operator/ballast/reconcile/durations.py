"""Go-style durations (30s, 5m, 1h30m), as the API's Duration fields hold them."""

from __future__ import annotations

import re
from datetime import datetime

_PART = re.compile(r"([0-9]+)(ms|s|m|h)")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> float:
    """Seconds in a duration the API server already validated against DURATION_PATTERN."""
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(int(number) * _SECONDS[unit] for number, unit in parts)


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp as the API server writes it."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
