"""Fixtures of the bad-input suite: a way to ask the API server, and the operator with a log
that must stay clean through this suite."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests.badinput.crd_schema import KINDS


@dataclass(frozen=True)
class Answer:
    status: int
    """201 for a created (or dry-run created) object; the HTTP status of a refusal otherwise."""
    message: str
    body: dict[str, Any]


class Submitter:
    """Creates Ballast objects through the API, as any client would, and reports the answer."""

    def __init__(self, api, namespace: str):
        from kubernetes import client

        self.objects = client.CustomObjectsApi(api)
        self.namespace = namespace

    def create(self, document: dict, *, dry_run: bool = True, strict: bool = True) -> Answer:
        from kubernetes.client.exceptions import ApiException

        options = {"dry_run": "All"} if dry_run else {}
        if strict:
            options["field_validation"] = "Strict"
        plural = KINDS[document["kind"]].plural
        try:
            created = self.objects.create_namespaced_custom_object(
                "ballast.dev", "v1alpha1", self.namespace, plural, document, **options
            )
        except ApiException as error:
            body = json.loads(error.body) if error.body else {}
            return Answer(error.status, body.get("message", ""), body)
        return Answer(201, "", created)


@pytest.fixture
def submit(api, namespace: str, crds) -> Submitter:
    return Submitter(api, namespace)


@pytest.fixture(scope="package")
def operator_for_badinput(ballast_operator):
    """The session's operator; when the last test of this suite that used it is done, the log
    it wrote meanwhile must hold no traceback and no ERROR line. (The session fixture checks
    the whole log at the very end; this pins a problem on this suite.)"""
    earlier = len(ballast_operator.log_problems())
    yield ballast_operator
    problems = ballast_operator.log_problems()[earlier:]
    assert not problems, "the operator logged problems during the bad-input suite:\n" + "\n".join(problems[:40])
