"""The operator's life under election: a standby that answers its liveness probe and waits for
the Lease, then the leader that runs kopf while it keeps the Lease, and gives it up on the way out."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from aiohttp import web
from kubernetes import client

from ballast.leadership.config import LeaderElection
from ballast.leadership.election import Elector
from ballast.leadership.lease_store import KubernetesLeaseStore
from ballast.metrics import LEADER

log = logging.getLogger(__name__)

Operate = Callable[[asyncio.Event], Coroutine[Any, Any, None]]
"""Runs the operator until the event is set (kopf.operator with stop_flag)."""

# A leader that lost the Lease exits at once with this code, so kubelet restarts it as a
# standby: kopf keeps no state worth saving, and handler threads still running must not write.
LOST_LEASE_EXIT_CODE = 3


@asynccontextmanager
async def standby_liveness(host: str, port: int) -> AsyncIterator[None]:
    """/healthz on the port of kopf's liveness endpoint while kopf does not run yet: a standby
    is alive. Closed before kopf binds the same port."""

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="standby")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    try:
        yield
    finally:
        await runner.cleanup()


async def acquire(elector: Elector) -> None:
    while not await asyncio.to_thread(elector.try_lead):
        await asyncio.sleep(elector.timing.retry_seconds)


async def hold(elector: Elector, monotonic: Callable[[], float] = time.monotonic) -> None:
    """Renews the Lease every retry_seconds; returns when leadership is lost: another replica
    holds it, or no renewal succeeded for renew_deadline_seconds."""
    timing = elector.timing
    renewed = monotonic()
    while True:
        await asyncio.sleep(timing.retry_seconds)
        if await asyncio.to_thread(elector.try_lead):
            renewed = monotonic()
        elif elector.holder not in (elector.identity, "") or monotonic() - renewed >= timing.renew_deadline_seconds:
            return


async def lead_when_elected(
    elector: Elector, operate: Operate, standby: Callable[[], AbstractAsyncContextManager[None]] | None = None
) -> None:
    """Stands by until elected, then operates while the Lease is held. On a normal stop
    (SIGTERM: kopf stops itself) the Lease is released for a prompt hand-over."""
    LEADER.set(0)
    log.info("leader election: %s stands by", elector.identity)
    if standby is None:
        await acquire(elector)
    else:
        async with standby():
            await acquire(elector)
    LEADER.set(1)
    stop = asyncio.Event()
    operating = asyncio.create_task(operate(stop), name="operator")
    holding = asyncio.create_task(hold(elector), name="leader lease")
    await asyncio.wait({operating, holding}, return_when=asyncio.FIRST_COMPLETED)
    if holding.done():
        LEADER.set(0)
        log.error("leader election: %s lost the Lease (now %r); stopping", elector.identity, elector.holder)
        stop.set()
        # the other replica may lead once the Lease has gone unrenewed for its whole duration
        await asyncio.wait({operating}, timeout=elector.timing.stop_margin_seconds)
        logging.shutdown()
        os._exit(LOST_LEASE_EXIT_CODE)
    holding.cancel()
    LEADER.set(0)
    await asyncio.to_thread(elector.release)
    operating.result()


async def operate_unelected(operate: Operate) -> None:
    """Leader election off: this operator is the only one and acts at once."""
    LEADER.set(1)
    await operate(asyncio.Event())


async def run_operator(
    election: LeaderElection, identity: str, operate: Operate, *, health_host: str, health_port: int
) -> None:
    """The operator, elected or not as configured."""
    if not election.enabled:
        await operate_unelected(operate)
        return
    from ballast.kube import api_client

    api_client()  # loads the in-cluster or kubeconfig credentials once
    # a client of its own: renewals never queue behind the handlers' requests
    store = KubernetesLeaseStore(client.ApiClient(), election.lease_name, election.namespace)
    await lead_when_elected(Elector(store, identity), operate, lambda: standby_liveness(health_host, health_port))
