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
