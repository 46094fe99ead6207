"""Creating another operator's object: a kind the cluster does not serve is KindNotServed with the
caller's reason, never an exception retried forever; one that exists already is fine."""

import json

import pytest
from kubernetes.client.exceptions import ApiException

from ballast import kube

MANIFEST = {"kind": "DaskJob", "metadata": {"name": "r-dask", "namespace": "ml"}}
MISSING = ("EngineNotInstalled", "no daskjobs.kubernetes.dask.org")


class Refusing:
    def __init__(self, status, body):
        self.error = ApiException(status=status, reason="x")
        self.error.body = body

    def __call__(self, _client):
        return self

    def create_namespaced_custom_object(self, *args):
        raise self.error


@pytest.fixture
def refused_with(monkeypatch):
    def install(status, body):
        monkeypatch.setattr(kube, "api_client", lambda: None)
        monkeypatch.setattr(kube.client, "CustomObjectsApi", Refusing(status, body))

    return install


def create():
    return kube.create_engine_object("kubernetes.dask.org", "v1", "daskjobs", MANIFEST, missing=MISSING)


def test_a_kind_without_its_crd_is_not_served(refused_with):
    refused_with(404, "404 page not found")  # what the API server answers for an unknown resource
    with pytest.raises(kube.KindNotServed) as raised:
        create()
    assert (raised.value.reason, str(raised.value)) == MISSING


def test_a_missing_namespace_is_not_a_missing_kind(refused_with):
    refused_with(404, json.dumps({"reason": "NotFound", "details": {"name": "ml", "kind": "namespaces"}}))
    with pytest.raises(ApiException):
        create()


def test_an_existing_object_is_left_as_it_is(refused_with):
    refused_with(409, json.dumps({"reason": "AlreadyExists"}))
    assert create() is False
