"""Everything a pod worker shares with the rest of the agent, bundled once."""

from __future__ import annotations

import dataclasses

from kubernetes import client

from .config import AgentConfig
from .kubeapi import EventRecorder
from .objectstore import ObjectStore
from .podips import PodIPAllocator
from .podnetwork import PodNetwork
from .processes import ProcessTracker
from .sandbox import Tools
from .tokens import TokenSource


@dataclasses.dataclass(frozen=True)
class NodeContext:
    config: AgentConfig
    core: client.CoreV1Api
    store: ObjectStore
    tokens: TokenSource
    ips: PodIPAllocator
    network: PodNetwork
    tracker: ProcessTracker
    tools: Tools
    events: EventRecorder
    image_entrypoints: dict
