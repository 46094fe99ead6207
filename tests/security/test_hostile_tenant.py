"""Issue 12's rows attempted by the attacker (impersonated, the chart's tenant edit role only)
and by an unauthenticated client on the pod network, against the suite's own operator
(conftest.py `tenant_operator`: the default egress policy plus what an administrator sets).

One served model per tenant for the whole suite (served.py): the victim's `iris` (its signals: a
DriftPolicy that scrapes its pods every 2 s), and the attacker's `payments`, named after a
Service the platform team runs in the attacker's namespace (row 9). Each test asserts a clear
reason on the attacker's object; the last one, which the suite runs after every other test
(conftest.py, `after_every_attack`), asserts that the victim's objects, artifacts and signals
are what they were before any of it: these rows' and those of the other modules.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
import uuid
from datetime import datetime

import pytest

from ballast.serving.auth import FEEDBACK_SECRET_NAME
from tests.security.clients import attempt
from tests.security.conftest import Tenants
from tests.security.pod_network import FakeMetadataServer, PodNetworkClient, SlowServer, wait_for_requests
from tests.security.served import (
    FEATURES,
    PLATFORM_SERVICE,
    Served,
    drift_policy,
    last_evaluation,
    served_restarts,
    tree_digest,
    victim_pod_address,
    victim_state,
)
from tests.support.ballast_objects import condition, dataset, iris_rows, training_run, wait_for_condition
from tests.support.kube import shared_store_dir, wait_for
from tests.support.traffic import feedback_token

DRIPPING_POLICIES = 8
MAX_VICTIM_GAP_SECONDS = 8
"""The victim's 2 s policy under the drip: its interval, the 1 s poll and second-precision
timestamps, with room for a loaded CI node. Without a cap per namespace on outbound reads the
attacker's reads took every handler thread and the victim's gaps were 10-11 s."""


def no_secret_in(text: str, server: FakeMetadataServer) -> None:
    leaked = [secret for secret in server.secrets if secret in text]
    assert not leaked, f"metadata server credentials found: {leaked}"


def attacker_events(served: Served) -> str:
    return json.dumps(served.attacker.get_json("events")["items"])


# --- row 1: Prometheus URLs ---------------------------------------------------------------------


def test_row1_a_prometheus_url_at_the_metadata_server_is_egress_denied_and_never_read(
    served: Served, tenants: Tenants, metadata_server: FakeMetadataServer
):
    tenants.attacker.client.apply(drift_policy("exfil", "payments", metadata_server.credentials_url))

    document = wait_for_condition(served.attacker, "driftpolicy", "exfil", "Ready", statuses=("False",), timeout=60)
    ready = condition(document, "Ready")
    assert ready["reason"] == "EgressDenied", ready
    assert "the cluster's service or pod range" in ready["message"], ready
    no_secret_in(json.dumps(document) + attacker_events(served), metadata_server)
    assert metadata_server.requests == []
    # ...though the operator's host reaches it: the policy refused it, not the network
    with urllib.request.urlopen(metadata_server.credentials_url, timeout=5) as answer:
        assert json.loads(answer.read())["SecretAccessKey"] == metadata_server.credentials["SecretAccessKey"]


def test_row1_dripping_prometheus_reads_end_at_their_deadline_and_the_victim_keeps_being_served(
    served: Served, tenants: Tenants, allowed_slow_server: SlowServer
):
    """Eight policies at an allowed server that drips one byte every half second for 120 s
    (the egress policy allows public addresses too, so any tenant can find such a server):
    each read ends at the operator's 10 s deadline (PrometheusUnreachable), and the attacker's
    namespace reads two at a time (handlers/driftpolicy.OUTBOUND_READS), so the victim's 2 s
    policy keeps its rhythm while the drip lasts."""
    before = len(allowed_slow_server.requests)
    for index in range(DRIPPING_POLICIES):
        tenants.attacker.client.apply(drift_policy(f"drip-{index}", "payments", allowed_slow_server.url))
    wait_for_requests(allowed_slow_server, before + DRIPPING_POLICIES, timeout=90)

    evaluations, started = [last_evaluation(served.victim, "watch")], time.monotonic()
    while len(evaluations) < 4 and time.monotonic() - started < 90:
        latest = last_evaluation(served.victim, "watch")
        if latest != evaluations[-1]:
            evaluations.append(latest)
        time.sleep(0.5)
    assert len(evaluations) == 4, f"the victim's policy evaluated {evaluations} in 90 s of drip"
    moments = [datetime.fromisoformat(moment.replace("Z", "+00:00")) for moment in evaluations]
    gaps = [(later - earlier).total_seconds() for earlier, later in zip(moments, moments[1:])]
    assert max(gaps) <= MAX_VICTIM_GAP_SECONDS, gaps  # the drip lasts 120 s

    for index in range(DRIPPING_POLICIES):
        ready = condition(
            wait_for_condition(
                served.attacker, "driftpolicy", f"drip-{index}", "Ready", statuses=("False",), timeout=30
            ),
            "Ready",
        )
        assert ready["reason"] == "PrometheusUnreachable", ready
        assert "x" * 8 not in ready["message"]  # nothing the server sent
    tenants.attacker.client.run(
        "delete", "driftpolicy", *(f"drip-{i}" for i in range(DRIPPING_POLICIES)), "--wait=false"
    )


# --- row 2: Dataset URLs ------------------------------------------------------------------------


def test_row2_a_dataset_url_at_the_metadata_server_is_egress_denied_with_no_job_and_no_version(
    served: Served, tenants: Tenants, metadata_server: FakeMetadataServer
):
    tenants.attacker.client.apply(dataset("exfil", {"url": metadata_server.credentials_url}))

    document = wait_for_condition(served.attacker, "dataset", "exfil", "Ready", statuses=("False",), timeout=60)
    assert (document["status"].get("ingest") or {}).get("reason") == "EgressDenied", document["status"]
    assert "latestVersion" not in document["status"] and not document["status"].get("versions")
    jobs = served.attacker.get_json("jobs", "-l", "app.kubernetes.io/component=ingest")["items"]
    assert not [job for job in jobs if job["metadata"]["name"].startswith("exfil")], jobs
    no_secret_in(json.dumps(document) + attacker_events(served), metadata_server)
    assert metadata_server.requests == []


def test_row2_an_allowed_values_violation_names_the_column_and_count_never_the_value(served: Served, tenants: Tenants):
    """The values a source holds stay out of status and Events: were they echoed, any content
    the ingest pod can read (an allowed internal URL, a labelled claim) could be read back
    through a Dataset's status by someone who may only read Datasets."""
    secret = f"AKIA{uuid.uuid4().hex[:16].upper()}"
    rows = [dict(row) for row in iris_rows()[:20]]
    for row in rows[3:5]:
        row["species"] = secret
    tenants.attacker.client.apply(dataset("echo", {"inline": {"rows": rows}}))

    document = wait_for_condition(served.attacker, "dataset", "echo", "Ready", statuses=("False",), timeout=120)
    assert condition(document, "Ready")["reason"] == "InvalidData", document["status"]
    [version] = document["status"]["versions"]
    assert "column species: 2 values are not among the allowed values (first at row 4)" in version["violations"]
    # the spec holds the rows (inline is the attacker's own source), and so does kopf's copy of
    # the spec in status.kopf; what Ballast writes in status, and its Events, must not
    written = {key: value for key, value in document["status"].items() if key != "kopf"}
    assert secret not in json.dumps(written) + attacker_events(served)


# --- row 3: custom images and the store ---------------------------------------------------------


def test_row3_a_custom_image_is_refused_with_image_not_allowed_and_no_job(served: Served, tenants: Tenants):
    run = training_run("own-image", "iris", model="payments")
    run["spec"].update(image="docker.io/library/busybox:1.36", command=["sh", "-c", "cat /var/lib/ballast/*/*"])
    tenants.attacker.client.apply(run)

    document = wait_for_condition(served.attacker, "trainingrun", "own-image", "Succeeded", timeout=60)
    succeeded = condition(document, "Succeeded")
    assert (succeeded["status"], succeeded["reason"]) == ("False", "ImageNotAllowed"), succeeded
    assert "spec.image" in succeeded["message"]
    jobs = served.attacker.get_json("jobs")["items"]
    assert not [job for job in jobs if job["metadata"]["name"].startswith("own-image")], jobs


def test_row3_a_retrain_template_cannot_carry_an_image_its_author_could_not_run(served: Served, tenants: Tenants):
    """The operator creates a retrain template's run itself: refused before any firing."""
    template = training_run("unused", "iris", model="payments")["spec"]
    template.update(image="docker.io/library/busybox:1.36", command=["sh", "-c", "id"])
    policy = drift_policy("retrain-own-image", "payments")
    policy["spec"]["action"] = {"type": "retrain", "retrain": {"template": {"spec": template}}}
    tenants.attacker.client.apply(policy)

    document = wait_for_condition(
        served.attacker, "driftpolicy", "retrain-own-image", "Ready", statuses=("False",), timeout=60
    )
    ready = condition(document, "Ready")
    assert ready["reason"] == "ImageNotAllowed" and "spec.action.retrain.template.spec.image" in ready["message"]
    assert not served.attacker.get_json("trainingruns", "-l", "ballast.dev/drift-policy=retrain-own-image")["items"]
    tenants.attacker.client.run("delete", "driftpolicy", "retrain-own-image", "--wait=false")


def test_row3_the_attackers_pods_mount_only_the_attackers_part_of_the_store(served: Served, tenants: Tenants):
    """The training pod mounts the store at its namespace's subPath (read-write), the serving
    pod the same, read-only: what the victim wrote is not in either pod's file system."""
    namespace = tenants.attacker.namespace
    deployment = served.attacker.get_json("deployment", f"{served.attacker_version}-serve")
    for workload, read_only in ((served.attacker_training_job, False), (deployment, True)):
        pod = workload["spec"]["template"]["spec"]
        store_volumes = {
            volume["name"]
            for volume in pod["volumes"]
            if "persistentVolumeClaim" in volume and volume["persistentVolumeClaim"]["claimName"] == "ballast-artifacts"
        }
        mounts = [
            mount
            for container in pod.get("initContainers", []) + pod["containers"]
            for mount in container.get("volumeMounts", [])
            if mount["name"] in store_volumes
        ]
        assert mounts, workload["metadata"]["name"]
        for mount in mounts:
            assert mount.get("subPath") == namespace, mount
            if read_only:
                assert mount.get("readOnly") is True, mount
    # and everything the attacker's work wrote is under its own prefix
    attacker_store = shared_store_dir() / namespace
    assert tree_digest(attacker_store), "the attacker's model and snapshot are under its prefix"
    assert served.victim_before["store"], "the victim's are under its own"


# --- row 9: a Service taken over by name --------------------------------------------------------


def test_row9_a_model_named_after_someone_elses_service_gets_service_conflict_and_leaves_it_alone(served: Served):
    version = wait_for(
        lambda: (lambda v: v if condition(v, "ServiceConflict").get("status") == "True" else None)(
            served.attacker.get_json("modelversion", served.attacker_version)
        ),
        timeout=60,
        interval=1,
        message="ServiceConflict on the attacker's version",
    )
    assert condition(version, "ServiceConflict")["reason"] == "ServiceConflict"
    service = served.attacker.get_json("service", "payments")
    assert service["metadata"].get("ownerReferences") is None
    assert service["spec"]["selector"] == PLATFORM_SERVICE["spec"]["selector"]
    assert service["metadata"]["labels"] == PLATFORM_SERVICE["metadata"]["labels"]
    assert [port["port"] for port in service["spec"]["ports"]] == [5432]


# --- row 6: the model server on the pod network -------------------------------------------------


def post(client: PodNetworkClient, url: str, body: dict, token: str | None = None):
    header = f"--header 'Authorization: Bearer {token}' " if token else ""
    return client.sh(
        f"timeout 10 wget -q -O - --header 'Content-Type: application/json' {header}"
        f"--post-data '{json.dumps(body)}' '{url}' 2>&1"
    )


def test_row6_an_unauthenticated_client_cannot_label_the_victims_predictions(
    served: Served, tenants: Tenants, pod_network_client: PodNetworkClient
):
    base = f"http://{victim_pod_address(served)}/v2/models/iris"
    row = iris_rows()[0]
    infer = {
        "inputs": [{"name": name, "shape": [1], "datatype": "FP64", "data": [float(row[name])]} for name in FEATURES]
    }
    ids = []
    for _ in range(2):
        answer = post(pod_network_client, f"{base}/infer", infer)
        assert answer.returncode == 0, answer.stdout  # inference is open to the network, by design
        ids.append(json.loads(answer.stdout)["id"])
    # random ids: nothing but the two answers' own ids is shared (no per-process prefix, no counter)
    assert ids[0] != ids[1] and min(len(i) for i in ids) >= 22, ids
    assert len(os.path.commonprefix(ids)) < 8, ids

    for token in (None, "guessed"):
        answer = post(pod_network_client, f"{base}/feedback", {"id": ids[0], "labels": ["virginica"]}, token)
        assert answer.returncode != 0 and "401" in answer.stdout, answer.stdout
    # the control: the same request with the namespace's token gets past authorisation (to an
    # id nobody was answered with, so that no prediction of the victim's is labelled)
    answer = post(
        pod_network_client,
        f"{base}/feedback",
        {"id": uuid.uuid4().hex, "labels": ["virginica"]},
        feedback_token(served.victim),
    )
    assert "401" not in answer.stdout, answer.stdout
    # the token's Secret is out of the attacker's reach, in either namespace
    for namespace in (tenants.victim.namespace, tenants.attacker.namespace):
        assert attempt(tenants.attacker.client.in_namespace(namespace), "get", "secret", FEEDBACK_SECRET_NAME).by_rbac


def test_row5_malformed_requests_from_the_pod_network_are_4xx_and_the_server_keeps_serving(
    served: Served, pod_network_client: PodNetworkClient
):
    address = victim_pod_address(served)
    restarts = served_restarts(served)
    tensor = {"name": "sepal_length", "datatype": "FP64", "shape": [1], "data": [1.0]}
    bodies = {
        "nested 50,000 deep": "[" * 50_000,
        "a number beyond a double": json.dumps({"inputs": [{**tensor, "data": ["NUMBER"]}]}).replace(
            '"NUMBER"', "1" + "0" * 400
        ),
        "65 dimensions": json.dumps({"inputs": [{**tensor, "shape": [1] * 65}]}),
    }
    for what, body in bodies.items():
        answer = pod_network_client.sh(
            f"timeout 10 wget -q -O - --header 'Content-Type: application/json' "
            f"--post-data '{body}' 'http://{address}/v2/models/iris/infer' 2>&1"
        )
        assert answer.returncode != 0 and re.search(r"HTTP/1\.[01] 4\d\d", answer.stdout), (what, answer.stdout[:300])
    assert victim_pod_address(served) == address and served_restarts(served) == restarts


# --- row 11: pvc and secretRef sources ----------------------------------------------------------


def test_row11_the_attacker_cannot_mount_the_store_nor_inject_the_feedback_token(served: Served, tenants: Tenants):
    victim_snapshot = f"{tenants.victim.namespace}/datasets/iris"
    tenants.attacker.client.apply(
        dataset("the-store", {"pvc": {"claimName": "ballast-artifacts", "path": victim_snapshot}})
    )
    tenants.attacker.client.apply(
        dataset(
            "the-token", {"objectStore": {"uri": "s3://bucket/iris.csv", "secretRef": {"name": FEEDBACK_SECRET_NAME}}}
        )
    )
    for name, field in (
        ("the-store", "spec.source.pvc.claimName"),
        ("the-token", "spec.source.objectStore.secretRef.name"),
    ):
        ready = condition(
            wait_for_condition(served.attacker, "dataset", name, "Ready", statuses=("False",), timeout=60), "Ready"
        )
        assert ready["reason"] == "SourceNotAllowed" and field in ready["message"], ready
    jobs = served.attacker.get_json("jobs", "-l", "app.kubernetes.io/component=ingest")["items"]
    assert not [job for job in jobs if re.match(r"the-(store|token)", job["metadata"]["name"])], jobs


# --- the victim, after all of the above ---------------------------------------------------------


@pytest.mark.after_every_attack
def test_the_victims_objects_artifacts_and_signals_are_unchanged(served: Served):
    assert victim_state(served.victim, served.victim_version) == served.victim_before
    policy = served.victim.get_json("driftpolicy", "watch")
    assert condition(policy, "Ready").get("status") == "True", policy["status"]
    first = last_evaluation(served.victim, "watch")
    wait_for(
        lambda: last_evaluation(served.victim, "watch") != first,
        timeout=15,
        message="the victim's policy still evaluating",
    )
