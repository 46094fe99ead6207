"""Which of a Job's pods speaks for it."""

from ballast.reconcile.jobs import result_termination

RESULT = {"exitCode": 0, "finishedAt": "2026-01-01T12:00:10Z", "message": '{"artifact": {}}', "reason": "Completed"}
# deleted mid-run, SIGKILLed at the end of its grace period: after its replacement succeeded
KILLED = {"exitCode": 137, "finishedAt": "2026-01-01T12:00:30Z", "message": "", "reason": "Error"}
FIRST_FAILURE = {"exitCode": 1, "finishedAt": "2026-01-01T11:59:00Z", "message": "boom", "reason": "Error"}


def test_a_succeeded_pod_speaks_for_the_job_even_when_a_deleted_one_ended_later():
    assert result_termination([RESULT, KILLED]) == RESULT
    assert result_termination([KILLED, RESULT]) == RESULT


def test_without_a_success_the_newest_failure_speaks():
    assert result_termination([FIRST_FAILURE, KILLED]) == KILLED
    assert result_termination([]) is None
