"""The election's Lease (coordination.k8s.io/v1) through the official client: read, create and
replace, each replace conditional on the resourceVersion the candidate read."""

from __future__ import annotations

from datetime import UTC, datetime

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ballast.leadership.election import LeaseRecord, LeaseSpec

# A request that hangs must not outlast a renewal round: the leader would keep acting on a
# Lease it can no longer show it holds.
REQUEST_TIMEOUT_SECONDS = 5
CONFLICT, NOT_FOUND = 409, 404
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def record_of(lease: client.V1Lease) -> LeaseRecord:
    spec = lease.spec or client.V1LeaseSpec()
    return LeaseRecord(
        LeaseSpec(
            holder=spec.holder_identity or "",
            lease_seconds=spec.lease_duration_seconds or 0,
            acquired_at=spec.acquire_time or EPOCH,
            renewed_at=spec.renew_time or EPOCH,
            transitions=spec.lease_transitions or 0,
        ),
        # a Lease read from the API server always carries its metadata and resourceVersion
        version=str(lease.metadata.resource_version) if lease.metadata else "",
    )


def lease_of(name: str, namespace: str, spec: LeaseSpec, version: str | None) -> client.V1Lease:
    return client.V1Lease(
        metadata=client.V1ObjectMeta(
            name=name,
            namespace=namespace,
            resource_version=version,
            labels={"app.kubernetes.io/part-of": "ballast", "app.kubernetes.io/component": "operator"},
        ),
        spec=client.V1LeaseSpec(
            holder_identity=spec.holder,
            lease_duration_seconds=spec.lease_seconds,
            acquire_time=spec.acquired_at,
            renew_time=spec.renewed_at,
            lease_transitions=spec.transitions,
        ),
    )


class KubernetesLeaseStore:
    def __init__(self, api: client.ApiClient, name: str, namespace: str):
        self._leases = client.CoordinationV1Api(api)
        self.name, self.namespace = name, namespace

    def read(self) -> LeaseRecord | None:
        try:
            lease = self._leases.read_namespaced_lease(
                self.name, self.namespace, _request_timeout=REQUEST_TIMEOUT_SECONDS
            )
        except ApiException as error:
            if error.status == NOT_FOUND:
                return None
            raise
        return record_of(lease)

    def create(self, spec: LeaseSpec) -> LeaseRecord | None:
        return self._written(
            lambda: self._leases.create_namespaced_lease(
                self.namespace,
                lease_of(self.name, self.namespace, spec, None),
                _request_timeout=REQUEST_TIMEOUT_SECONDS,
            )
        )

    def replace(self, spec: LeaseSpec, version: str) -> LeaseRecord | None:
        return self._written(
            lambda: self._leases.replace_namespaced_lease(
                self.name,
                self.namespace,
                lease_of(self.name, self.namespace, spec, version),
                _request_timeout=REQUEST_TIMEOUT_SECONDS,
            )
        )

    @staticmethod
    def _written(write) -> LeaseRecord | None:
        try:
            return record_of(write())
        except ApiException as error:
            if error.status == CONFLICT:  # another replica wrote first
                return None
            raise
