"""One active operator among replicas: a coordination.k8s.io Lease decides which one reconciles.

election: the rules (pure) and one round of them against a Lease; lease_store: the Lease's
reads and writes; config: where the Lease is and whether to elect; running: the operator's
life as a standby, then as the leader.
"""
