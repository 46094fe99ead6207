"""The audit trail: the hash chain (append, verify, an edited, removed or reordered line named),
a decision made again kept once, appends through both store backends (a torn last line, racing
appenders), the decisions a reconcile's Events record, and `ballast audit`."""

from __future__ import annotations

import json
import multiprocessing
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from ballast import plugin
from ballast.audit.chain import next_line, verify
from ballast.audit.decisions import Decision, decision_id, decisions
from ballast.audit.entry import GENESIS, AuditDraft
from ballast.audit.log import append, read_and_verify
from ballast.commands.audit import entries_since, parse_since
from ballast.commands.errors import ExitCode
from ballast.reasons.modelversion import Reason
from ballast.reconcile.outcome import Event
from ballast.store import ArtifactStore
from ballast.store.layout import MODELS, audit_log_key

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = audit_log_key("ml", MODELS, "iris")


def draft(number: int, *, reason: str = "CanaryStep", time: datetime = NOW) -> AuditDraft:
    return AuditDraft(
        id=f"decision-{number}",
        time=time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        namespace="ml",
        kind="ModelVersion",
        name="iris-v2",
        uid="u-1",
        generation=1,
        type="Normal",
        reason=reason,
        message=f"step {number} passed; ünïcode kept",
    )


def log_of(drafts: list[AuditDraft]) -> bytes:
    content = b""
    for each in drafts:
        line = next_line(content, each)
        assert line is not None
        content += line
    return content


def lines(content: bytes) -> list[bytes]:
    return content.splitlines(keepends=True)


# ---- the chain -------------------------------------------------------------------------------


def test_entries_chain_from_genesis_and_verify():
    content = log_of([draft(n) for n in range(1, 4)])
    result = verify(content)
    assert result.ok and [e.seq for e in result.entries] == [1, 2, 3]
    assert result.entries[0].prev == GENESIS
    assert result.entries[1].prev == result.entries[0].digest and result.head == result.entries[2].digest
    assert all(line.endswith(b"\n") and b"\n" not in line[:-1] for line in lines(content))


def test_an_edited_line_is_named():
    content = lines(log_of([draft(n) for n in range(1, 5)]))
    content[1] = content[1].replace(b"step 2 passed", b"step 2 failed")
    result = verify(b"".join(content))
    assert result.bad_line == 2 and "changed" in result.problem and len(result.entries) == 1


def test_an_edit_with_its_digest_recomputed_breaks_the_next_line():
    from ballast.audit.entry import digest_of

    content = lines(log_of([draft(n) for n in range(1, 4)]))
    document = json.loads(content[1])
    document["message"] = "forged"
    document["digest"] = digest_of(document)
    content[1] = json.dumps(document).encode() + b"\n"
    result = verify(b"".join(content))
    assert result.bad_line == 3 and "replaced" in result.problem


@pytest.mark.parametrize("removed", [0, 1, 2])
def test_a_removed_line_is_named(removed):
    content = lines(log_of([draft(n) for n in range(1, 5)]))
    del content[removed]
    result = verify(b"".join(content))
    assert result.bad_line == removed + 1 and "removed" in result.problem


def test_a_line_that_is_no_entry_is_named():
    content = lines(log_of([draft(1), draft(2)]))
    content.insert(1, b'{"hello": "world"}\n')
    assert verify(b"".join(content)).bad_line == 2


def test_a_decision_already_in_the_tail_is_not_appended_again():
    content = log_of([draft(1), draft(2)])
    assert next_line(content, draft(1)) is None
    assert next_line(content, draft(3)) is not None


def test_an_append_after_a_foreign_last_line_still_numbers_on():
    content = log_of([draft(1), draft(2)]) + b"garbage\n"
    line = next_line(content, draft(3))
    assert line is not None and json.loads(line)["seq"] == 4
    assert verify(content + line).bad_line == 3


@settings(max_examples=60, deadline=None)
@given(count=st.integers(min_value=1, max_value=12), data=st.data())
def test_any_single_edit_or_removal_is_found_at_its_line(count, data):
    content = lines(log_of([draft(n) for n in range(1, count + 1)]))
    index = data.draw(st.integers(min_value=0, max_value=count - 1))
    if data.draw(st.booleans()):
        del content[index]
        # removing the last line leaves a valid, shorter log: only the head digest vouches for the end
        expected = None if index == count - 1 else index + 1
    else:
        content[index] = content[index].replace(b'"Normal"', b'"Warning"')
        expected = index + 1
    assert verify(b"".join(content)).bad_line == expected


@settings(max_examples=40, deadline=None)
@given(ids=st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=20))
def test_replayed_decisions_are_kept_once(ids):
    content = b""
    for number in ids:
        content += next_line(content, draft(number)) or b""
    result = verify(content)
    assert result.ok and [e.id for e in result.entries] == [f"decision-{n}" for n in dict.fromkeys(ids)]


# ---- --since ---------------------------------------------------------------------------------


def test_since_takes_a_duration_or_a_time():
    assert parse_since("2h", NOW) == NOW - timedelta(hours=2)
    assert parse_since("7d", NOW) == NOW - timedelta(days=7)
    assert parse_since("2026-02-01T00:00:00Z", NOW) == datetime(2026, 2, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="neither"):
        parse_since("yesterday", NOW)


def test_since_filters_by_the_entries_time():
    entries = verify(log_of([draft(n, time=NOW - timedelta(hours=5 - n)) for n in range(1, 5)])).entries
    assert [e.seq for e in entries_since(entries, NOW - timedelta(hours=2))] == [3, 4]
    assert entries_since(entries, None) == entries


# ---- appending through the store -------------------------------------------------------------


@pytest.fixture(params=["file", "memory"])
def store(request, tmp_path):
    if request.param == "file":
        return ArtifactStore(f"file://{tmp_path}")
    return ArtifactStore(f"memory://audit-{uuid.uuid4().hex}/root")


def test_appends_go_through_the_store_once_each(store):
    assert append(store, Decision(KEY, draft(1)))
    assert append(store, Decision(KEY, draft(2)))
    assert not append(store, Decision(KEY, draft(1)))
    result = read_and_verify(store, KEY)
    assert result.ok and [e.seq for e in result.entries] == [1, 2]


def test_a_torn_last_line_is_no_entry_and_the_next_append_replaces_it(tmp_path):
    store = ArtifactStore(f"file://{tmp_path}")
    append(store, Decision(KEY, draft(1)))
    path = tmp_path / KEY
    path.write_bytes(path.read_bytes() + b'{"seq":2,"id":"half')
    assert verify(path.read_bytes()).ok
    append(store, Decision(KEY, draft(2)))
    result = verify(path.read_bytes())
    assert result.ok and [e.seq for e in result.entries] == [1, 2]
    assert b"half" not in path.read_bytes()


def test_the_lock_file_is_no_object_of_the_store(tmp_path):
    store = ArtifactStore(f"file://{tmp_path}")
    append(store, Decision(KEY, draft(1)))
    assert [stored.key for stored in store.list()] == [KEY]


def _append_many(root: str, first: int) -> None:
    store = ArtifactStore(f"file://{root}")
    for number in range(first, first + 25):
        append(store, Decision(KEY, draft(number)))


def test_racing_processes_keep_the_chain_whole(tmp_path):
    """The flock, not the in-process lock, keeps two operators' appends apart."""
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append_many, args=(str(tmp_path), first)) for first in (1, 101, 201)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    result = read_and_verify(ArtifactStore(f"file://{tmp_path}"), KEY)
    assert result.ok and len(result.entries) == 75 and len({e.id for e in result.entries}) == 75


# ---- the decisions a reconcile records -------------------------------------------------------


def version_body(**status):
    return {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "ModelVersion",
        "metadata": {"name": "iris-v2", "namespace": "ml", "uid": "u-1", "generation": 3},
        "spec": {"model": "iris"},
        "status": status,
    }


def test_a_decision_gets_the_same_id_from_the_same_state_and_another_after_it_was_written():
    before = version_body(stage="Canary", canary={"step": 0})
    retried = version_body(stage="Canary", canary={"step": 0}, kopf={"progress": {"x": 1}})
    after = version_body(stage="Canary", canary={"step": 1})
    assert decision_id(before, "CanaryStep", 0) == decision_id(retried, "CanaryStep", 0)
    assert decision_id(before, "CanaryStep", 0) != decision_id(after, "CanaryStep", 0)
    assert decision_id(before, "CanaryStep", 0) != decision_id(before, "CanaryStep", 1)


def test_a_promotion_after_an_approval_names_the_approver_in_the_models_log():
    body = version_body(stage="Canary")
    events = [Event("Normal", Reason.CANARY_PASSED, "every step passed"), Event("Normal", Reason.PROMOTED, "in prod")]
    desired = {"approval": {"by": "kubectl-patch", "at": "2026-03-01T12:00:00Z"}}
    found = decisions(body, events, desired, "2026-03-01T12:00:00Z")
    assert [d.log_key for d in found] == ["ballast.audit/ml/models/iris.jsonl"] * 2
    assert [d.draft.approved_by for d in found] == [None, "kubectl-patch"]
    again = decisions(version_body(stage="Canary", approval=desired["approval"]), events[1:], desired, "later")
    assert again[0].draft.approved_by is None  # the approval was recorded with the promotion already
    by_alice = {"approval": {"by": "kubectl-ballast", "at": "2026-03-01T12:00:00Z", "user": "alice"}}
    named = decisions(body, events[1:], by_alice, "2026-03-01T12:00:00Z")
    assert named[0].draft.approved_by == "alice via kubectl-ballast"


def test_a_datasets_decisions_go_to_its_own_log():
    body = {"kind": "Dataset", "metadata": {"name": "iris", "namespace": "ml", "uid": "d"}, "spec": {}, "status": {}}
    (found,) = decisions(body, [Event("Warning", "InvalidData", "3 rows break the schema")], {}, "t")
    assert found.log_key == "ballast.audit/ml/datasets/iris.jsonl" and found.draft.type == "Warning"


# ---- ballast audit ---------------------------------------------------------------------------


def run_audit(tmp_path, *args):
    return CliRunner().invoke(plugin.plugin, ["audit", "iris", "-n", "ml", "--store", f"file://{tmp_path}", *args])


def test_ballast_audit_prints_the_trail_and_verifies_it(tmp_path):
    store = ArtifactStore(f"file://{tmp_path}")
    for number in range(1, 4):
        append(store, Decision(KEY, draft(number, time=NOW - timedelta(days=4 - number))))
    shown = run_audit(tmp_path)
    assert shown.exit_code == 0, shown.output
    assert "step 3 passed" in shown.output and shown.output.strip().splitlines()[-1].startswith("verified: 3 entries")
    recent = run_audit(tmp_path, "--since", "2026-02-27T00:00:00Z", "-o", "json")
    assert recent.exit_code == 0 and [e["seq"] for e in json.loads(recent.output)["items"]] == [2, 3]


def test_ballast_audit_fails_naming_the_first_bad_line(tmp_path):
    store = ArtifactStore(f"file://{tmp_path}")
    for number in range(1, 4):
        append(store, Decision(KEY, draft(number)))
    path = tmp_path / KEY
    path.write_bytes(path.read_bytes().replace(b"step 2 passed", b"step 2 skipped"))
    broken = run_audit(tmp_path)
    assert broken.exit_code == ExitCode.FAILED
    assert f"error: audit log file://{tmp_path}/{KEY} is broken at line 2: it was changed" in broken.output


def test_ballast_audit_of_a_model_without_a_log_is_not_found(tmp_path):
    missing = run_audit(tmp_path)
    assert missing.exit_code == ExitCode.NOT_FOUND and "no audit log" in missing.output


def test_a_store_that_refuses_the_append_does_not_hold_the_status_back(tmp_path):
    from ballast.audit.recording import record_decisions
    from ballast.metrics import AUDIT_APPEND_FAILURES

    (tmp_path / "ballast.audit").write_text("a file where the logs' directory would be")
    before = AUDIT_APPEND_FAILURES.labels("ml")._value.get()
    warnings = record_decisions(f"file://{tmp_path}", version_body(), [Event("Normal", "Promoted", "in prod")], {})
    assert [(w.type, w.reason) for w in warnings] == [("Warning", "AuditUnavailable")]
    assert "Promoted is not in the audit trail" in warnings[0].message
    assert AUDIT_APPEND_FAILURES.labels("ml")._value.get() == before + 1


def test_the_operator_records_a_reconciles_events_in_order(tmp_path):
    from ballast.audit.recording import record_decisions

    events = [Event("Normal", "Verified", "artifact ok"), Event("Normal", "Promoted", "in prod")]
    assert record_decisions(f"file://{tmp_path}", version_body(), events, {}) == []
    assert record_decisions(f"file://{tmp_path}", version_body(), events, {}) == []  # the same decisions again
    result = read_and_verify(ArtifactStore(f"file://{tmp_path}"), KEY)
    assert result.ok and [e.reason for e in result.entries] == ["Verified", "Promoted"]
