from ballast.conditions import find_condition, set_condition

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"


def test_adding_a_condition_appends_it_with_the_current_time():
    conditions = set_condition(
        [], type="Ready", status="Unknown", reason="Reconciling", message="m", observed_generation=3, now=T0
    )
    assert conditions == [
        {
            "type": "Ready",
            "status": "Unknown",
            "reason": "Reconciling",
            "message": "m",
            "lastTransitionTime": T0,
            "observedGeneration": 3,
        }
    ]


def test_same_status_keeps_the_transition_time_but_updates_reason_and_generation():
    first = set_condition([], type="Ready", status="False", reason="A", message="a", observed_generation=1, now=T0)
    second = set_condition(first, type="Ready", status="False", reason="B", message="b", observed_generation=2, now=T1)
    ready = find_condition(second, "Ready")
    assert ready["lastTransitionTime"] == T0
    assert (ready["reason"], ready["message"], ready["observedGeneration"]) == ("B", "b", 2)


def test_a_status_flip_moves_the_transition_time():
    first = set_condition([], type="Ready", status="False", reason="A", message="", observed_generation=1, now=T0)
    second = set_condition(first, type="Ready", status="True", reason="A", message="", observed_generation=1, now=T1)
    assert find_condition(second, "Ready")["lastTransitionTime"] == T1


def test_other_conditions_keep_their_place_and_content():
    drifting = {"type": "Drifting", "status": "False", "reason": "NoDrift", "message": "", "lastTransitionTime": T0}
    updated = set_condition(
        [drifting], type="Ready", status="True", reason="Ok", message="", observed_generation=None, now=T1
    )
    assert updated[0] == drifting
    assert "observedGeneration" not in updated[1]


def test_the_input_list_is_not_mutated():
    original = [{"type": "Ready", "status": "False", "reason": "A", "message": "", "lastTransitionTime": T0}]
    snapshot = [dict(c) for c in original]
    set_condition(original, type="Ready", status="True", reason="B", message="", observed_generation=1, now=T1)
    assert original == snapshot
