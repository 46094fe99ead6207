from ballast.latest_bodies import LatestBodies, version_of


def body(version: str, **status) -> dict:
    return {"metadata": {"name": "a", "resourceVersion": version}, "status": status}


def test_the_body_of_the_event_that_queued_a_reconcile_is_handed_over_once():
    bodies: LatestBodies[str] = LatestBodies()
    bodies.observe("a", body("10"), queued=True)
    assert bodies.take("a") == body("10")
    assert bodies.take("a") is None


def test_an_event_that_queued_nothing_keeps_nothing_but_refreshes_a_kept_body():
    bodies: LatestBodies[str] = LatestBodies()
    bodies.observe("a", body("10"), queued=False)
    assert bodies.take("a") is None
    bodies.observe("a", body("11"), queued=True)
    bodies.observe("a", body("12", phase="newer"), queued=False)
    assert bodies.take("a") == body("12", phase="newer")


def test_a_body_from_before_the_operators_own_write_is_never_handed_over():
    bodies: LatestBodies[str] = LatestBodies()
    bodies.observe("a", body("10"), queued=True)
    bodies.wrote("a", "15")
    assert bodies.take("a") is None, "the write made the kept body stale"
    # the watch lags: an event from before the write arrives after it
    bodies.observe("a", body("14"), queued=True)
    assert bodies.take("a") is None
    # the write's own event: the watch has caught up, and later events count again
    bodies.observe("a", body("15"), queued=False)
    bodies.observe("a", body("16"), queued=True)
    assert bodies.take("a") == body("16")
    assert len(bodies) == 0


def test_a_write_of_unknown_version_drops_the_body_and_an_unreadable_version_keeps_none():
    bodies: LatestBodies[str] = LatestBodies()
    bodies.observe("a", body("10"), queued=True)
    bodies.wrote("a", None)
    assert bodies.take("a") is None
    bodies.observe("a", body("not-a-number"), queued=True)
    assert bodies.take("a") is None
    assert version_of("0042") == 42 and version_of(None) is None and version_of("12a") is None


def test_forget_drops_everything_kept_for_the_object():
    bodies: LatestBodies[str] = LatestBodies()
    bodies.observe("a", body("10"), queued=True)
    bodies.wrote("b", "20")
    bodies.forget("a")
    bodies.forget("b")
    assert len(bodies) == 0


def test_bodies_waiting_for_their_reconcile_take_little_more_than_their_json():
    import json
    import tracemalloc

    def status(i: int) -> dict:
        return {
            "conditions": [{"type": f"T{c}", "status": "True", "reason": "R", "message": f"m{i}"} for c in range(8)]
        }

    bodies: LatestBodies[int] = LatestBodies()
    json_bytes = sum(len(json.dumps(body(str(i), **status(i)), separators=(",", ":"))) for i in range(500))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(500):
            # the watch's copy of the body is gone once its event is handled
            bodies.observe(i, body(str(i), **status(i)), queued=True)
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 1.5 * json_bytes
    assert bodies.take(7) == body("7", **status(7))


def test_a_handed_over_body_is_the_one_observed_even_if_the_watchs_copy_changes_later():
    bodies: LatestBodies[str] = LatestBodies()
    observed = body("10", phase="Ready")
    bodies.observe("a", observed, queued=True)
    observed["status"]["phase"] = "changed by someone else"
    assert bodies.take("a") == body("10", phase="Ready")
