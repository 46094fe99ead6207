"""What the operator calls itself to kopf."""

from ballast.controller import operator_identity


def test_the_operator_names_itself_without_a_login_name():
    """The image runs as uid 65532 with no passwd entry, where kopf's default identity
    (getpass.getuser()) raises KeyError before the operator starts."""
    assert operator_identity({}, "ballast-7d9f-x2") == "ballast@ballast-7d9f-x2"
    assert operator_identity({"POD_ID": "op-1"}, "host") == "op-1"
