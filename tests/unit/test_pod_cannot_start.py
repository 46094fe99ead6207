"""Which waiting pods Ballast calls stuck: the scheduler's and the kubelet's own words."""

import pytest

from ballast.reconcile.jobs import pod_cannot_start

UNSCHEDULABLE = {
    "conditions": [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.",
        }
    ]
}


def _waiting(reason: str, message: str = "", init: bool = False) -> dict:
    key = "initContainerStatuses" if init else "containerStatuses"
    return {key: [{"name": "ingest", "state": {"waiting": {"reason": reason, "message": message}}}]}


@pytest.mark.parametrize(
    "status, expected",
    [
        (UNSCHEDULABLE, "Unschedulable: 0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."),
        (
            _waiting("ImagePullBackOff", 'Back-off pulling image "ballast:9"'),
            'ImagePullBackOff: Back-off pulling image "ballast:9"',
        ),
        (_waiting("ErrImagePull"), "ErrImagePull"),
        (
            _waiting("CreateContainerConfigError", 'secret "s3" not found', init=True),
            'CreateContainerConfigError: secret "s3" not found',
        ),
    ],
)
def test_a_pod_that_will_not_start_by_itself_is_stuck(status, expected):
    assert pod_cannot_start(status) == expected


@pytest.mark.parametrize(
    "status",
    [
        {},  # just created
        {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]},
        {"conditions": [{"type": "PodScheduled", "status": "True"}], **_waiting("ContainerCreating")},
        _waiting("PodInitializing"),
        {"containerStatuses": [{"name": "ingest", "state": {"running": {}}}]},
    ],
)
def test_a_pod_on_its_way_is_not(status):
    assert pod_cannot_start(status) is None


def test_a_stuck_pod_is_named_only_once_it_has_lasted_the_grace_and_is_looked_at_again_then():
    from datetime import UTC, datetime, timedelta

    from ballast.reconcile.jobs import POD_START_GRACE_SECONDS, lasting_problem, stuck_pod

    began = datetime(2026, 12, 5, 11, 0, 0, tzinfo=UTC)
    unschedulable = {"conditions": [{**UNSCHEDULABLE["conditions"][0], "lastTransitionTime": "2026-12-05T11:00:00Z"}]}
    stuck = stuck_pod(unschedulable, created_at="2026-12-05T10:59:00Z")
    assert stuck is not None and stuck.since == began, "since PodScheduled turned False, not since creation"
    grace = timedelta(seconds=POD_START_GRACE_SECONDS)
    assert lasting_problem(stuck, began + grace / 2) == (None, began + grace)
    assert lasting_problem(stuck, began + grace) == (stuck.problem, None)
    pulling = stuck_pod(_waiting("ErrImagePull", "not found"), created_at="2026-12-05T11:00:00Z")
    assert pulling is not None and pulling.since == began, "a container's trouble counts from the pod's creation"
    assert stuck_pod({}, created_at="2026-12-05T11:00:00Z") is None
    assert lasting_problem(None, began) == (None, None)


def test_the_outcome_wakes_by_the_earlier_of_its_own_time_and_the_grace():
    from datetime import UTC, datetime

    from ballast.reconcile.outcome import Outcome, waking_by

    early, late = datetime(2026, 12, 5, 11, 0, tzinfo=UTC), datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    assert waking_by(Outcome(wake_at=late), early).wake_at == early
    assert waking_by(Outcome(wake_at=early), late).wake_at == early
    assert waking_by(Outcome(), early).wake_at == early
    assert waking_by(Outcome(wake_at=late), None).wake_at == late
