import re

from hypothesis import given
from hypothesis import strategies as st

from ballast.build.naming import ballast_labels, child_name

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
name_parts = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=80).map(
    lambda s: s.strip("-") or "x"
)


def test_short_names_are_joined_unchanged():
    assert child_name("credit", "ingest", "3") == "credit-ingest-3"


@given(st.lists(name_parts, min_size=1, max_size=4))
def test_names_are_deterministic_dns_labels(parts):
    name = child_name(*parts)
    assert name == child_name(*parts)
    assert len(name) <= 63
    assert DNS_LABEL.match(name), name


def test_long_names_that_share_a_prefix_stay_distinct():
    base = "a" * 70
    assert child_name(base, "1") != child_name(base, "2")


def test_labels_never_include_anything_but_ballasts_own():
    labels = ballast_labels(component="ingest", instance="credit", model="credit-risk")
    assert all(key.startswith(("app.kubernetes.io/", "ballast.dev/")) for key in labels)
    assert labels["app.kubernetes.io/managed-by"] == "ballast"
