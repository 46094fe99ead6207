"""Starts the kopf operator: settings, the liveness endpoint and the metrics port."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

import kopf
from prometheus_client import start_http_server

from ballast.build.naming import MANAGED_BY
from ballast.index_readiness import READINESS, reconciles_wait_for_the_first_index
from ballast.kopf_workarounds import (
    close_watch_streams_with_their_watcher,
    keep_watching_terminating_namespaces,
    let_stopped_streams_release_the_index_hold,
)
from ballast.leadership import running as leadership
from ballast.leadership.config import LeaderElection
from ballast.lean_events import lean_watch_events
from ballast.memory import limit_malloc_arenas, start_trimming
from ballast.net.discovery import keep_discovering, publish_discovered_cluster_ranges, rediscovery_interval


@dataclass(frozen=True)
class OperatorOptions:
    namespaces: tuple[str, ...] = ()
    """Watch only these namespaces; every namespace when empty."""
    bind_address: str = "0.0.0.0"
    health_port: int = 8080
    metrics_port: int = 9090
    verbose: bool = False
    leader_election: bool = True
    """Act only while holding the leader Lease (ballast.leadership); off for a single operator."""


HANDLER_THREADS = 4
CHILD_RESOURCES = (
    ("", "v1", "pods"),
    ("", "v1", "services"),
    ("apps", "v1", "deployments"),
    ("apps", "v1", "replicasets"),
    ("batch", "v1", "jobs"),
    ("networking.k8s.io", "v1", "networkpolicies"),
)
"""The kinds of Ballast's children that kopf watches, each only for the objects Ballast made."""
MANAGED_SELECTOR = f"app.kubernetes.io/managed-by={MANAGED_BY}"
LIST_CHUNK_SIZE = 10
"""Objects per page of a start's lists. A watch hands each page's objects to kopf's workers
before it asks for the next, so the page bounds how far the parsed objects run ahead of the
workers: after a restart with 2,000 objects, 40 s after the first pass (host process),
pages of 500 left 178 MiB resident, of 25 136 MiB, of 10 131 MiB, of 5 125 MiB. What was parsed
all at once stayed as fragmentation of Python's small-object arenas (64-byte blocks, mostly).
The price is more list requests at a start (about one per 10 objects)."""
IDLE_WORKER_SECONDS = 0.5
RECONCILE_WORKERS = 16
"""Objects reconciled at once, across every namespace. Outbound reads hold a worker up to
their deadline (two per namespace at most: handlers/driftpolicy.OUTBOUND_READS), so there are
enough for several namespaces waiting on slow servers at once, not just one per CPU."""
STOP_SECONDS = 5.0
"""How long a stopping operator waits for reconciles in progress (a scrape may be mid-request)."""


def configure(settings: kopf.OperatorSettings) -> None:
    """kopf settings that keep user objects clean and the operator responsive."""
    # Ballast registers none of kopf's create/update/delete handlers (ballast.handlers.triggers),
    # so kopf never writes to its objects; should one be added, its bookkeeping would go to
    # status.kopf, not to the annotations a user or Argo CD owns.
    settings.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf.progress")
    settings.persistence.diffbase_storage = kopf.StatusDiffBaseStorage(field="status.kopf.diffbase")
    # Ballast posts its own Events with meaningful reasons; kopf's per-handler chatter is noise.
    settings.posting.level = logging.WARNING
    # A watch that silently stalls is worse than a reconnect: bound every watch request.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 30
    # kopf's pool runs only the NetworkPolicy restorer (the index functions are coroutines):
    # the reconciles run on the runner's own workers (RECONCILE_WORKERS)
    settings.execution.max_workers = HANDLER_THREADS
    # kopf keeps a task per object for this long after its last event, holding that event's
    # whole body: after a start that lists thousands of objects, 5 s (kopf's default) kept
    # nearly all of them in memory at once
    settings.queueing.idle_timeout = IDLE_WORKER_SECONDS
    # the API server filters the children: kopf never receives, parses or remembers the other
    # pods, Jobs or Services of a shared namespace (every handler of theirs asks for Ballast's)
    for resource in CHILD_RESOURCES:
        settings.watching.label_selectors[resource] = MANAGED_SELECTOR
    # a start lists each kind in small pages, not as one answer of every object at once
    settings.watching.chunk_size = LIST_CHUNK_SIZE


class EventsIntoDeletedNamespaces(logging.Filter):
    """Drops kopf's complaints about Events refused because their namespace is being deleted
    or is gone.

    kopf logs each retry as an ERROR, but nothing is lost: the Event, like every object in
    that namespace, disappears with it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "NamespaceTerminating" not in message and not (
            "Failed to post an event" in message and "namespaces" in message and "not found" in message
        )


class RoutineHandlerSuccesses(logging.Filter):
    """Drops kopf's "Handler '...' succeeded." lines.

    Ballast's kopf handlers only queue reconciles, once per watch event of every Ballast object
    and child: a line each would say nothing (a reconcile's effects show in status, Events and
    metrics). A failing handler is still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg if isinstance(record.msg, str) else ""
        return not (record.levelno == logging.INFO and message.endswith(" succeeded."))


def operator_identity(environ: Mapping[str, str], hostname: str) -> str:
    """What kopf calls this operator: $POD_ID (kopf's own variable), else `ballast@<host>`, which
    in a pod is the pod's name. kopf's default asks for the login name, and the image's numeric
    user (65532) has none: getpass.getuser() raises KeyError without a passwd entry."""
    return environ.get("POD_ID") or f"ballast@{hostname}"


def run_operator(options: OperatorOptions) -> None:
    # before any thread exists, so that every thread shares the few arenas
    limit_malloc_arenas()
    # a misconfigured election stops the operator before it does anything else
    election = LeaderElection.from_env(os.environ, enabled=options.leader_election)
    # the cluster's service and pod ranges join the egress policy before the settings are read
    found = publish_discovered_cluster_ranges(os.environ)
    import ballast.handlers  # noqa: F401  (registers the handlers)
    from ballast.handlers.context import LIVE_SETTINGS

    keep_watching_terminating_namespaces()
    let_stopped_streams_release_the_index_hold()
    close_watch_streams_with_their_watcher()
    lean_watch_events()
    reconciles_wait_for_the_first_index()

    logging.basicConfig(
        level=logging.DEBUG if options.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("kopf._core.engines.posting").addFilter(EventsIntoDeletedNamespaces())
    logging.getLogger("kopf.objects").addFilter(RoutineHandlerSuccesses())
    start_http_server(options.metrics_port, addr=options.bind_address)
    start_trimming(every_seconds=30)
    interval = rediscovery_interval(os.environ)
    if interval is not None:  # a Node that joins, a ServiceCIDR added: refused while the operator runs
        keep_discovering(interval, LIVE_SETTINGS.add_cluster_ranges, problems_at_start=found.problems if found else ())

    from ballast.handlers.runner import Runner
    from ballast.handlers.triggers import BODIES, QUEUE

    identity = operator_identity(os.environ, socket.gethostname())
    runners: list[Runner] = []

    @kopf.on.startup()
    def _startup(settings: kopf.OperatorSettings, **kwargs: object) -> None:
        configure(settings)
        # the indices are live views: filled by the watches, read by every reconcile
        indices = {name: value for name, value in kwargs.items() if isinstance(value, kopf.Index)}
        runner = Runner(QUEUE, indices, reporter=identity, bodies=BODIES, readiness=READINESS)
        runner.start(RECONCILE_WORKERS)
        runners.append(runner)

    @kopf.on.cleanup()
    def _cleanup(**_: object) -> None:
        for runner in runners:
            runner.stop(timeout=STOP_SECONDS)

    liveness_endpoint = f"http://{options.bind_address}:{options.health_port}/healthz"

    def operate(stop_flag: asyncio.Event):
        return kopf.operator(
            identity=identity,
            standalone=True,  # the leader Lease (ballast.leadership) keeps the other replicas idle
            clusterwide=not options.namespaces,
            namespaces=list(options.namespaces),
            liveness_endpoint=liveness_endpoint,
            stop_flag=stop_flag,
        )

    asyncio.run(
        leadership.run_operator(
            election, identity, operate, health_host=options.bind_address, health_port=options.health_port
        )
    )
