"""Outbound requests made on a user's behalf: the egress policy (egress), the bounded HTTP read
(http) and the cluster ranges found at start (discovery)."""
