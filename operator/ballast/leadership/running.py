"""The operator's life under election: a standby that answers its liveness probe and waits for
the Lease, then the leader that runs kopf while it keeps the Lease, and gives it up on the way out."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager, nullcontext
from typing import Any, NoReturn, TypeVar

from aiohttp import web
from kubernetes import client

from ballast.leadership.config import LeaderElection
from ballast.leadership.election import Elector, seconds_left_to_stop
from ballast.leadership.lease_store import KubernetesLeaseStore
from ballast.metrics import LEADER

log = logging.getLogger(__name__)
Result = TypeVar("Result")

Operate = Callable[[asyncio.Event], Coroutine[Any, Any, None]]
"""Runs the operator until the event is set (kopf.operator with stop_flag)."""

# A leader that lost the Lease exits at once with this code, so kubelet restarts it as a
# standby: kopf keeps no state worth saving, and handler threads still running must not write.
LOST_LEASE_EXIT_CODE = 3
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def lease_thread() -> ThreadPoolExecutor:
    """Where a candidate's Lease requests run: on a thread of their own, since in the loop's
    default executor, shared with whatever else blocks there, a renewal could wait past its
    deadline during a burst. One thread also keeps a release from overtaking a renewal."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="ballast-lease")


async def on_thread(thread: ThreadPoolExecutor, call: Callable[[], Result]) -> Result:
    return await asyncio.get_running_loop().run_in_executor(thread, call)


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


async def set_within(event: asyncio.Event, seconds: float) -> bool:
    """Whether `event` is set, waiting for it at most `seconds`."""
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        return False
    return True


async def acquire(elector: Elector, stop: asyncio.Event, thread: ThreadPoolExecutor | None = None) -> bool:
    """Tries every retry_seconds until this candidate leads (True) or `stop` is set (False). A
    round under way when `stop` is set finishes first: abandoned, it could win a Lease that
    nobody then releases."""
    thread = thread or lease_thread()
    while not stop.is_set():
        if await on_thread(thread, elector.try_lead):
            return True
        await set_within(stop, elector.timing.retry_seconds)
    return False


async def hold(elector: Elector, stop_holding: asyncio.Event, thread: ThreadPoolExecutor | None = None) -> bool:
    """Renews the Lease every retry_seconds. Returns False when leadership is lost: another
    replica holds it, or renew_deadline_seconds passed since the start of the last round won
    (a round that hangs is given up at that deadline, not when its requests time out). Returns
    True, still holding, once `stop_holding` is set, between rounds."""
    timing, thread = elector.timing, thread or lease_thread()
    while not await set_within(stop_holding, timing.retry_seconds):
        remaining = timing.renew_deadline_seconds - elector.since_last_win()
        if remaining <= 0:
            return False
        try:
            renewed = await asyncio.wait_for(on_thread(thread, elector.try_lead), remaining)
        except TimeoutError:
            return False
        if not renewed and (
            elector.holder != elector.identity or elector.since_last_win() >= timing.renew_deadline_seconds
        ):
            return False
    return True


def exit_at_once(code: int) -> NoReturn:
    """Ends the process without waiting for threads: reconciles still running must not write."""
    logging.shutdown()
    os._exit(code)


async def lead_when_elected(
    elector: Elector,
    operate: Operate,
    standby: Callable[[], AbstractAsyncContextManager[None]] | None = None,
    stop: asyncio.Event | None = None,
    exit_process: Callable[[int], NoReturn] = exit_at_once,
) -> None:
    """Stands by until elected, then operates while the Lease is held. `stop` (SIGTERM, see
    stop_on_signals) ends the standby, or a leadership won before kopf started; once kopf runs
    it stops on SIGTERM by itself. On every stop the Lease is released for a prompt hand-over."""
    stop = stop if stop is not None else asyncio.Event()
    thread = lease_thread()
    LEADER.set(0)
    log.info("leader election: %s stands by", elector.identity)
    async with standby() if standby is not None else nullcontext():
        elected = await acquire(elector, stop, thread)
    if stop.is_set():
        if elected:
            await on_thread(thread, elector.release)
        log.info("leader election: %s stopped before leading", elector.identity)
        return
    LEADER.set(1)
    stop_holding = asyncio.Event()
    operating = asyncio.create_task(operate(stop), name="operator")
    holding = asyncio.create_task(hold(elector, stop_holding, thread), name="leader lease")
    await asyncio.wait({operating, holding}, return_when=asyncio.FIRST_COMPLETED)
    if holding.done():
        LEADER.set(0)
        log.error("leader election: %s lost the Lease (now %r); stopping", elector.identity, elector.holder)
        stop.set()
        # kopf may stop cleanly only while no other replica can lead yet
        left = seconds_left_to_stop(elector.holder, elector.identity, elector.since_last_win(), elector.timing)
        await asyncio.wait({operating}, timeout=left)
        exit_process(LOST_LEASE_EXIT_CODE)
    stop_holding.set()
    await holding  # a renewal under way finishes before the release, which would otherwise race it
    LEADER.set(0)
    await on_thread(thread, elector.release)
    operating.result()


async def operate_unelected(operate: Operate, stop: asyncio.Event) -> None:
    """Leader election off: this operator is the only one and acts at once."""
    LEADER.set(1)
    await operate(stop)


@contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set `stop` from the operator's start, until kopf installs handlers of
    its own. The operator is PID 1 of its container, and the kernel drops a signal PID 1 has no
    handler for: a standby, or a leader whose kopf has not started yet, would otherwise run on
    until the kubelet's SIGKILL at the end of the grace period, the Lease held to its expiry."""
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    try:
        yield
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)


async def run_operator(
    election: LeaderElection, identity: str, operate: Operate, *, health_host: str, health_port: int
) -> None:
    """The operator, elected or not as configured."""
    stop = asyncio.Event()
    with stop_on_signals(stop):
        if not election.enabled:
            await operate_unelected(operate, stop)
            return
        from ballast.kube_api import api_client

        api_client()  # loads the in-cluster or kubeconfig credentials once
        # a client of its own: renewals never queue behind the handlers' requests
        store = KubernetesLeaseStore(client.ApiClient(), election.lease_name, election.namespace)
        await lead_when_elected(
            Elector(store, identity), operate, lambda: standby_liveness(health_host, health_port), stop
        )
