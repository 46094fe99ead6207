"""Generated valid objects, really created: the operator must give each a Ready condition with
a reason for its generation, settling in a terminal or a waiting state, and never crash.

The generator knows nothing of what exists, so its objects are also semantically wrong in
the usual ways: TrainingRuns name Datasets that do not exist, ModelVersions name artifacts
that are not in the store, Datasets name files that are not on their volume. Those must be
refused with Ready False and a reason, and a Warning Event that says the same.

Nothing may leave this machine: every address a generated object names is pointed at a
closed port on the pod's own loopback first, and refresh intervals are dropped so that a
generated "1ms" does not start an ingest Job every second.
"""

from __future__ import annotations

import copy
import re

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ballast.build.naming import DATASET_SOURCE_LABEL
from tests.badinput.conftest import Submitter
from tests.badinput.crd_schema import places, spec_schema
from tests.badinput.generate import resource
from tests.badinput.test_api_server import cel_valid
from tests.badinput.test_hostile_cluster import warning_reasons
from tests.support.ballast_objects import condition
from tests.support.kube import Kubectl, wait_for

PER_KIND = {"Dataset": 3, "TrainingRun": 4, "ModelVersion": 4, "DriftPolicy": 4}
CLOSED_PORT = "http://127.0.0.1:1/nothing"
REASON = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
# Ready False reasons that mean "the operator judged the input"; IngestFailed is the ingest
# pod dying of an unexpected exception, which bad input must never cause.
CRASHES = {"IngestFailed"}


def local_only(kind: str, spec: dict) -> dict:
    spec = copy.deepcopy(spec)
    for place in places(spec_schema(kind), spec):
        if isinstance(place.value, str) and place.schema.get("pattern", "").startswith("^https?://"):
            place.parent[place.key] = CLOSED_PORT
    if kind == "Dataset":
        spec.pop("refreshInterval", None)
        if "objectStore" in spec["source"]:  # an s3 client would go looking for the real endpoint
            spec["source"] = {"url": CLOSED_PORT}
    return spec


def settled(document: dict) -> bool:
    ready = condition(document, "Ready")
    generation = document["metadata"]["generation"]
    if not ready or ready.get("observedGeneration") != generation:
        return False
    if document["kind"] == "Dataset":
        return ready["status"] in ("True", "False")  # every ingest here ends: its claim exists
    return True


def test_generated_objects_get_a_condition_with_a_reason_and_refusals_an_event(
    kubectl: Kubectl, namespace: str, api, crds, operator_for_badinput
):
    k = kubectl.in_namespace(namespace)
    submit = Submitter(api, namespace)
    batches = st.fixed_dictionaries(
        {kind: st.lists(cel_valid(kind), min_size=count, max_size=count) for kind, count in PER_KIND.items()}
    )

    # one batch, created at once and awaited together: each object costs the cluster a real
    # reconcile (and a Dataset an ingest pod), so this is drawn once and never shrunk
    @settings(
        max_examples=1, phases=[Phase.generate], database=None, deadline=None, suppress_health_check=list(HealthCheck)
    )
    @given(batch=batches)
    def create_and_judge(batch: dict) -> None:
        created = []
        for kind, drawn in batch.items():
            for index, spec in enumerate(drawn):
                spec = local_only(kind, spec)
                claim = (spec.get("source") or {}).get("pvc", {}).get("claimName")
                if claim:  # the claim exists, so the ingest runs and finds no such file
                    k.apply(
                        {
                            "apiVersion": "v1",
                            "kind": "PersistentVolumeClaim",
                            "metadata": {"name": claim, "labels": {DATASET_SOURCE_LABEL: "true"}},
                            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Mi"}}},
                        }
                    )
                name = f"{kind.lower()}-{index}"
                answer = submit.create(resource(kind, spec, name), dry_run=False)
                assert answer.status == 201, (kind, spec, answer.message)
                created.append((kind, name))
        documents = {}

        def all_settled() -> bool:
            for kind, name in created:
                documents[name] = k.get_json(kind.lower() + ".ballast.dev", name)
            return all(settled(document) for document in documents.values())

        wait_for(
            all_settled,
            timeout=150,
            interval=2,
            message="a settled Ready condition on every generated object: "
            + ", ".join(f"{n}={condition(d, 'Ready')}" for n, d in documents.items() if not settled(d)),
        )
        for kind, name in created:
            document = k.get_json(kind.lower() + ".ballast.dev", name)
            ready = condition(document, "Ready")
            assert REASON.match(ready["reason"]) and ready["reason"] not in CRASHES, (name, document["spec"], ready)
            if kind == "TrainingRun":  # no Dataset exists in this namespace
                assert (ready["status"], ready["reason"]) == ("False", "DatasetNotReady"), ready
            if kind == "ModelVersion":  # nothing was put in the store for these
                assert ready["status"] == "False", (document["spec"], ready)
            if ready["status"] == "False":
                wait_for(
                    lambda: ready["reason"] in warning_reasons(k, kind, name),
                    timeout=30,
                    message=f"a {ready['reason']} Event on {kind} {name}",
                )

    create_and_judge()
