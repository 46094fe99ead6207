import threading
import time

from ballast.workqueue import WorkQueue


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


KEYS = ("a", "b", "c", "now", "later")


def take_ready(queue: WorkQueue, clock: Clock) -> list:
    """Every key due now, in order, each marked done."""
    taken = []
    while min((d for k in KEYS if (d := queue.next_due_in(k)) is not None), default=1) <= 0:
        key = queue.take()
        taken.append(key)
        queue.done(key)
    return taken


def test_a_key_added_many_times_is_taken_once():
    clock = Clock()
    queue = WorkQueue(clock)
    for _ in range(10):
        queue.add("a")
    queue.add("b")
    assert take_ready(queue, clock) == ["a", "b"]
    assert len(queue) == 0


def test_the_earliest_due_time_stands():
    clock = Clock()
    queue = WorkQueue(clock)
    queue.add("a", after=60)
    queue.add("a", after=5)
    queue.add("a", after=30)
    assert queue.next_due_in("a") == 5
    clock.now += 5
    assert take_ready(queue, clock) == ["a"]
    assert queue.next_due_in("a") is None, "the later wake-ups were folded into the earlier one"


def test_a_key_not_due_yet_is_not_taken():
    clock = Clock()
    queue = WorkQueue(clock)
    queue.add("later", after=10)
    queue.add("now")
    assert take_ready(queue, clock) == ["now"]
    clock.now += 10
    assert take_ready(queue, clock) == ["later"]


def test_a_key_added_while_taken_comes_back_after_done_and_never_twice_at_once():
    clock = Clock()
    queue = WorkQueue(clock)
    queue.add("a")
    assert queue.take() == "a"
    queue.add("a")  # an event while a worker reconciles it
    queue.add("b")
    assert queue.take() == "b", "a is still with its worker"
    queue.done("b")
    queue.done("a")
    assert queue.take() == "a"


def test_forget_drops_queued_and_pending_work():
    clock = Clock()
    queue = WorkQueue(clock)
    queue.add("a", after=5)
    queue.add("b")
    queue.forget("a")
    clock.now += 5
    assert take_ready(queue, clock) == ["b"]
    queue.add("c")
    assert queue.take() == "c"
    queue.add("c")
    queue.forget("c")
    queue.done("c")
    assert len(queue) == 0


def test_take_waits_for_the_due_time_and_close_releases_waiting_workers():
    queue: WorkQueue[str] = WorkQueue()
    queue.add("soon", after=0.2)
    started = time.monotonic()
    assert queue.take() == "soon"
    assert time.monotonic() - started >= 0.19
    taken = []
    worker = threading.Thread(target=lambda: taken.append(queue.take()))
    worker.start()
    time.sleep(0.05)
    queue.add("woken")
    worker.join(2)
    assert taken == ["woken"], "an add wakes a worker waiting on an empty queue"
    waiting = threading.Thread(target=lambda: taken.append(queue.take()))
    waiting.start()
    queue.close()
    waiting.join(2)
    assert taken == ["woken", None]


def test_each_take_reports_how_long_the_key_waited_past_its_due_time():
    clock = Clock()
    heard: list[tuple[str, float]] = []
    queue: WorkQueue[str] = WorkQueue(clock, on_taken=lambda key, seconds: heard.append((key, seconds)))
    queue.add("later", after=1.0)
    queue.add("now")
    clock.now += 3.0
    assert take_ready(queue, clock) == ["now", "later"]
    assert heard == [("now", 3.0), ("later", 2.0)]
