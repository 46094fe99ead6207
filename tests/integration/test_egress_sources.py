"""Dataset URLs under the egress policy on the real local cluster: the operator refuses a denied
address before any Job exists, the ingest pod (which gets the policy from the operator) refuses
a name that resolves to one, and an allowed URL still becomes a version.

The tests' operator allows 127.0.0.0/8 and the pod network (tests/support/operator_process.py);
the service range (10.96.0.0/16) it discovers from the cluster's ServiceCIDR, and ::1 (what the
pod's /etc/hosts gives for ip6-localhost) stays loopback."""

from __future__ import annotations

import pytest

from tests.integration.test_training import _serve_iris_csv, _valid_version
from tests.support.ballast_objects import condition, dataset, wait_for_condition
from tests.support.kube import Kubectl


@pytest.fixture
def k(kubectl: Kubectl, namespace: str, ballast_operator) -> Kubectl:
    return kubectl.in_namespace(namespace)


def _refused(k: Kubectl, name: str) -> dict:
    document = wait_for_condition(k, "dataset", name, "Ready", timeout=120)
    ingest = document["status"].get("ingest") or {}
    assert condition(document, "Ready")["status"] == "False", document["status"]
    assert ingest.get("reason") == "EgressDenied", document["status"]
    return ingest


def test_denied_dataset_urls_fail_with_egress_denied_and_an_allowed_one_is_read(k: Kubectl):
    k.apply(dataset("metadata", {"url": "http://169.254.169.254/latest/meta-data/iam/security-credentials/"}))
    k.apply(dataset("cluster-service", {"url": "https://10.96.0.1:443/api/v1/secrets"}))
    k.apply(dataset("ip6-loopback", {"url": "http://ip6-localhost:8000/iris.csv"}))
    pod_ip = _serve_iris_csv(k)
    k.apply(dataset("from-url", {"url": f"http://{pod_ip}:8000/iris.csv"}))

    # literal addresses: refused by the operator itself, no ingest Job ever created
    assert "link-local" in _refused(k, "metadata")["message"]
    assert "the cluster's service or pod range" in _refused(k, "cluster-service")["message"]
    jobs = {job["metadata"]["name"] for job in k.get_json("jobs")["items"]}
    assert not [job for job in jobs if job.startswith(("metadata-", "cluster-service-"))], jobs
    # a name: resolved and refused in the ingest pod, with the policy the operator gave it
    assert "loopback" in _refused(k, "ip6-loopback")["message"]
    # the pod network is allowed to the tests, as an administrator allows an in-cluster source
    assert _valid_version(k, "from-url")["status"]["latestVersion"]
