"""Before kopf's indexes are first complete, its workers handle each event at once and the
Runner waits; afterwards kopf's own hold stands (ballast.index_readiness)."""

from __future__ import annotations

import asyncio
import threading
import time

import kopf
from kopf._cogs.aiokits import aiotoggles
from kopf._cogs.clients import watching
from kopf._cogs.structs import references
from kopf._core.reactor import queueing

from ballast.handlers import runner
from ballast.index_readiness import IndexReadiness, _handling_before_indexed, reconciles_wait_for_the_first_index
from ballast.reconcile.outcome import Outcome
from ballast.wakeups import ObjectKey
from ballast.workqueue import WorkQueue

DATASETS = references.Resource("ballast.dev", "v1alpha1", "datasets")


def _listing(count: int):
    async def listed_then_quiet(**_: object):
        for uid in range(count):
            yield {"type": None, "object": {"metadata": {"uid": str(uid), "name": f"d{uid}", "namespace": "team-a"}}}
        yield watching.Bookmark.LISTED
        await asyncio.Event().wait()

    return listed_then_quiet


async def _handled_while_another_kind_is_unlisted(readiness: IndexReadiness | None) -> tuple[int, int]:
    """Objects whose handlers ran (as kopf's processing runs them: after waiting for every
    index) while another kind has not listed yet, then once it has."""
    handled: list[str] = []

    async def process_like_kopf(*, raw_event, operator_indexed, resource_indexed, **_: object) -> None:
        await operator_indexed.drop_toggle(resource_indexed)
        await operator_indexed.wait_for(True)
        handled.append(raw_event["object"]["metadata"]["uid"])

    operator_indexed = aiotoggles.ToggleSet(all)
    this_kind = await operator_indexed.make_toggle(name="datasets")
    other_kind = await operator_indexed.make_toggle(name="jobs")
    settings = kopf.OperatorSettings()
    settings.queueing.idle_timeout = 0.01
    watcher = asyncio.create_task(
        queueing.watcher(
            namespace="team-a",
            settings=settings,
            resource=DATASETS,
            processor=process_like_kopf,
            operator_indexed=operator_indexed,
            resource_indexed=this_kind,
        )
    )
    await asyncio.sleep(0.1)
    before = len(handled)
    if readiness is not None:
        assert not readiness.is_complete()
    await operator_indexed.drop_toggle(other_kind)
    await asyncio.sleep(0.1)
    if readiness is not None:
        assert readiness.is_complete()
    watcher.cancel()
    await asyncio.gather(watcher, return_exceptions=True)
    return before, len(handled)


def test_kopf_holds_every_handler_until_every_kind_is_listed(monkeypatch):
    """The behaviour that fills the memory on a start; when it changes, revisit the module."""
    monkeypatch.setattr(watching, "infinite_watch", _listing(5))
    monkeypatch.setattr(queueing, "watcher", queueing.watcher)
    monkeypatch.setattr(queueing, "worker", queueing.worker)
    assert asyncio.run(_handled_while_another_kind_is_unlisted(None)) == (0, 5)


def test_before_the_first_complete_index_each_event_is_handled_at_once(monkeypatch):
    monkeypatch.setattr(watching, "infinite_watch", _listing(5))
    monkeypatch.setattr(queueing, "watcher", queueing.watcher)
    monkeypatch.setattr(queueing, "worker", queueing.worker)
    readiness = IndexReadiness()
    reconciles_wait_for_the_first_index(readiness)
    reconciles_wait_for_the_first_index(readiness)  # once is enough: never wrapped twice
    assert not getattr(queueing.worker.__wrapped__, "handles_before_indexed", False)
    assert asyncio.run(_handled_while_another_kind_is_unlisted(readiness)) == (5, 5)


def test_after_the_first_complete_index_a_worker_waits_as_kopf_makes_it():
    async def scenario() -> bool:
        readiness = IndexReadiness()
        operator_indexed = aiotoggles.ToggleSet(all)
        readiness.follow(operator_indexed)
        await asyncio.sleep(0)  # an empty set is on
        assert readiness.is_complete()
        late_namespace = await operator_indexed.make_toggle(name="datasets@team-b")
        seen: list[object] = []

        async def run(*, operator_indexed, **_: object) -> None:
            seen.append(operator_indexed)

        await _handling_before_indexed(run, readiness)(operator_indexed=operator_indexed)
        waiting = asyncio.create_task(seen[0].wait_for(True))
        await asyncio.sleep(0.05)
        held = not waiting.done()
        await operator_indexed.drop_toggle(late_namespace)
        await asyncio.wait_for(waiting, 1)
        return held and seen[0] is operator_indexed

    assert asyncio.run(scenario())


def test_another_operators_toggles_start_unindexed():
    async def scenario() -> list[bool]:
        readiness = IndexReadiness()
        first = aiotoggles.ToggleSet(all)
        readiness.follow(first)
        await asyncio.sleep(0)
        states = [readiness.is_complete()]
        second = aiotoggles.ToggleSet(all)
        unlisted = await second.make_toggle(name="datasets")
        readiness.follow(second)
        states.append(readiness.is_complete())
        await second.drop_toggle(unlisted)
        await asyncio.sleep(0)
        states.append(readiness.is_complete())
        return states

    assert asyncio.run(scenario()) == [True, False, True]


class _Readiness:
    def __init__(self) -> None:
        self.complete = threading.Event()

    def wait(self, timeout: float) -> bool:
        return self.complete.wait(timeout)


def test_the_runner_reconciles_nothing_before_the_indexes_are_complete(monkeypatch):
    reconciled: list[str] = []
    monkeypatch.setattr(runner, "INDEX_POLL_SECONDS", 0.01)
    monkeypatch.setattr(runner.kube, "read_custom_object", lambda plural, namespace, name: {"metadata": {"name": name}})
    monkeypatch.setattr(
        runner, "TIMED", {"Dataset": lambda body, **_: reconciled.append(body.metadata["name"]) or Outcome()}
    )
    queue: WorkQueue[ObjectKey] = WorkQueue()
    readiness = _Readiness()
    worker = runner.Runner(queue, {}, reporter="test", readiness=readiness)  # type: ignore[arg-type]
    worker.start(2)
    queue.add(ObjectKey("Dataset", "n", "d"))
    time.sleep(0.1)
    assert reconciled == []
    readiness.complete.set()
    deadline = time.monotonic() + 5
    while not reconciled and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.stop(timeout=5)
    assert reconciled == ["d"]


def test_a_runner_stopped_while_waiting_for_the_indexes_ends():
    queue: WorkQueue[ObjectKey] = WorkQueue()
    worker = runner.Runner(queue, {}, reporter="test", readiness=_Readiness())  # type: ignore[arg-type]
    worker.start(2)
    worker.stop(timeout=5)
    assert not any(thread.is_alive() for thread in worker._threads)
