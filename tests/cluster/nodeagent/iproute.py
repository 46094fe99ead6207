"""Runs iproute2's `ip`, bounded in time, turning its failures into one exception type that
callers can show to people (as a pod's waiting message, for instance)."""

from __future__ import annotations

import json
import shutil
import subprocess

IP_TIMEOUT_SECONDS = 10.0  # `ip` answers in milliseconds; anything slower is stuck on a lock


class IpCommandError(Exception):
    """`ip` failed or could not be run; the message carries its own error text."""


def ip_binary() -> str:
    # an absolute path, because the agent's PATH may lack /usr/sbin
    found = shutil.which("ip", path="/usr/sbin:/usr/bin:/sbin:/bin")
    if not found:
        raise IpCommandError("the node agent needs `ip` (iproute2) to give pods a network")
    return found


def run_ip(*args: str, netns: str | None = None, stdin: str | None = None) -> str:
    argv = [ip_binary(), *(["-n", netns] if netns else []), *args]
    try:
        result = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=IP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise IpCommandError(f"`{' '.join(argv[1:])}` did not finish within {IP_TIMEOUT_SECONDS:.0f}s") from None
    except OSError as error:
        raise IpCommandError(f"could not run `ip`: {error}") from None
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise IpCommandError(f"`{' '.join(argv[1:])}` failed: {detail[-1] if detail else f'exit {result.returncode}'}")
    return result.stdout


def ip_json(*args: str) -> list[dict]:
    output = run_ip("-j", *args).strip()
    return json.loads(output) if output else []
