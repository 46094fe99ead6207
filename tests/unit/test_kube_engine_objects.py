"""Creating another operator's object: a kind the cluster does not serve is KindNotServed with the
caller's reason, never an exception retried forever; one that exists already is fine."""

import json

import pytest
from kubernetes.client.exceptions import ApiException

from ballast import kube

MANIFEST = {"kind": "DaskJob", "metadata": {"name": "r-dask", "namespace": "ml"}}
MISSING = ("EngineNotInstalled", "no daskjobs.kubernetes.dask.org")


@pytest.fixture
def refused_with(monkeypatch):
    def install(status, body):
        def refuse(method, resource_path, **_):
            assert (method, resource_path) == ("POST", "/apis/kubernetes.dask.org/v1/namespaces/ml/daskjobs")
            error = ApiException(status=status, reason="x")
            error.body = body
            raise error

        monkeypatch.setattr(kube, "request", refuse)

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
