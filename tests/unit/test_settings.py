"""The operator's settings from its environment: placement given as JSON, refused clearly."""

import pytest

from ballast.settings import Settings


def test_placement_is_empty_unless_set():
    settings = Settings.from_env({"BALLAST_WORKLOAD_NODE_SELECTOR": "{}", "BALLAST_WORKLOAD_TOLERATIONS": " "})
    assert (settings.node_selector, settings.tolerations) == ({}, ())


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("BALLAST_WORKLOAD_NODE_SELECTOR", "pool=ml", "BALLAST_WORKLOAD_NODE_SELECTOR is not JSON"),
        ("BALLAST_WORKLOAD_NODE_SELECTOR", '["pool"]', "must be an object of strings"),
        ("BALLAST_WORKLOAD_NODE_SELECTOR", '{"replicas": 2}', "must be an object of strings"),
        ("BALLAST_WORKLOAD_TOLERATIONS", '{"key": "dedicated"}', "must be a list of objects"),
        ("BALLAST_WORKLOAD_TOLERATIONS", '["dedicated"]', "must be a list of objects"),
    ],
)
def test_placement_that_is_not_what_kubernetes_takes_stops_the_operator_naming_the_variable(name, text, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_env({name: text})
