"""Hands out one address per pod from the pod CIDR and takes it back when the pod is gone.

Allocations are persisted (like the host-local IPAM plugin's directory), so a restarted agent
gives every pod it resumes the address it had, and a new pod never takes the address of a pod
the agent has not resumed yet.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import threading
from pathlib import Path

log = logging.getLogger(__name__)


def first_free_address(network: ipaddress.IPv4Network, taken: set[str], start_after: str | None) -> str | None:
    """The next unused host address after `start_after`, wrapping around once.

    Starting after the last one handed out (rather than at the lowest free one) keeps a
    just-released address unused for a while, so a client still talking to a deleted pod
    gets no answer instead of reaching its successor.
    """
    first, last = int(network.network_address) + 1, int(network.broadcast_address) - 1
    size = last - first + 1
    if size <= 0:
        return None
    begin = 0
    if start_after is not None and ipaddress.IPv4Address(start_after) in network:
        begin = (int(ipaddress.IPv4Address(start_after)) - first + 1) % size
    for offset in range(size):
        candidate = ipaddress.IPv4Address(first + (begin + offset) % size)
        # .0, .1 and .255 look like network, gateway and broadcast addresses to people
        # reading logs, whatever the prefix length; skipping them avoids that confusion.
        if candidate.packed[-1] in (0, 1, 255):
            continue
        if str(candidate) not in taken:
            return str(candidate)
    return None


class PodCIDRExhausted(RuntimeError):
    """Every address of the pod CIDR belongs to a pod."""


class PodIPAllocator:
    def __init__(self, network: ipaddress.IPv4Network, reserved: set[str] = frozenset(),
                 state_file: Path | None = None):
        self._network = network
        self._reserved = set(reserved)  # the gateway
        self._state_file = state_file
        self._by_pod: dict[str, str] = {}
        self._last: str | None = None
        self._lock = threading.Lock()
        self._load()

    def assign(self, pod_uid: str, preferred: str | None = None) -> str:
        """The pod's address; `preferred` (its status.podIP, for a pod the state file does not
        know) is kept when still free, so a pod does not change address under its clients."""
        with self._lock:
            if pod_uid in self._by_pod:
                return self._by_pod[pod_uid]
            taken = set(self._by_pod.values()) | self._reserved
            if preferred and preferred not in taken and ipaddress.IPv4Address(preferred) in self._network:
                address = preferred
            else:
                address = first_free_address(self._network, taken, self._last)
                if address is None:
                    raise PodCIDRExhausted(f"pod CIDR {self._network} is exhausted")
                self._last = address
            self._by_pod[pod_uid] = address
            self._save()
            return address

    def release(self, pod_uid: str) -> None:
        with self._lock:
            if self._by_pod.pop(pod_uid, None) is not None:
                self._save()

    def retain_only(self, pod_uids: set[str]) -> None:
        """Frees the addresses of pods deleted while no agent was watching."""
        with self._lock:
            gone = set(self._by_pod) - pod_uids
            for uid in gone:
                del self._by_pod[uid]
            if gone:
                self._save()

    def _load(self) -> None:
        if self._state_file is None or not self._state_file.exists():
            return
        try:
            state = json.loads(self._state_file.read_text())
            self._by_pod = {uid: ip for uid, ip in state.get("pods", {}).items()
                            if ipaddress.IPv4Address(ip) in self._network and ip not in self._reserved}
            self._last = state.get("last")
        except (OSError, ValueError, AttributeError) as error:
            # the pods' status.podIP still lets them keep their addresses
            log.warning("ignoring unreadable pod address state %s: %s", self._state_file, error)

    def _save(self) -> None:
        if self._state_file is None:
            return
        self._state_file.parent.mkdir(parents=True, exist_ok=True)
        staging = self._state_file.with_suffix(".tmp")
        staging.write_text(json.dumps({"last": self._last, "pods": self._by_pod}, indent=1, sort_keys=True))
        os.replace(staging, self._state_file)
