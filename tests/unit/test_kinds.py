"""The one lookup between Ballast's kinds and the plurals the API server's paths use."""

import pytest

from ballast.api.kinds import ALL_KINDS, ALL_PLURALS, DRIFT_POLICY, kind_info, kind_of, plural_of


def test_plural_of_and_kind_of_agree_for_every_kind():
    for info in ALL_KINDS:
        assert plural_of(info.kind) == info.plural
        assert kind_of(info.plural) == info.kind
        assert kind_info(info.kind) is info


def test_plurals_are_the_api_servers_names():
    assert plural_of("DriftPolicy") == "driftpolicies"
    assert kind_of("trainingruns") == "TrainingRun"
    assert ALL_PLURALS == ("datasets", "trainingruns", "modelversions", "driftpolicies")
    assert kind_info("DriftPolicy") is DRIFT_POLICY


@pytest.mark.parametrize("unknown", ["Deployment", "dataset", "datasets"])
def test_a_kind_that_is_not_ballasts_is_refused(unknown):
    with pytest.raises(KeyError):
        plural_of(unknown)


@pytest.mark.parametrize("unknown", ["deployments", "Dataset", "dataset"])
def test_a_plural_that_is_not_ballasts_is_refused(unknown):
    with pytest.raises(KeyError):
        kind_of(unknown)
