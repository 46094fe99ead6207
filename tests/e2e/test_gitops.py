"""GitOps: what a user or Argo CD applies stays exactly as applied while Ballast works on it.

The objects are applied with server-side apply under Argo CD's field manager, taken through
ingest, training, serving and drift evaluation, and then compared with Git the way Argo CD's
server-side diff does: `kubectl diff --server-side` against the same manifests finds nothing,
no other field manager owns anything outside status (and kopf's finalizer), no label or
annotation was added, and no spec generation moved.
"""

from __future__ import annotations

import json
import random

from tests.support import shifting
from tests.support.ballast_objects import condition, wait_for_condition, wait_for_stage
from tests.support.kube import Kubectl, wait_for
from tests.support.traffic import Traffic

ARGOCD = "argocd-controller"
ALLOWED_FOR_OTHERS = {"f:status", "f:metadata"}  # status, and kopf's finalizer under metadata


def _manifests() -> list[dict]:
    run = {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": "from-git"},
        "spec": shifting.training_spec(),
    }
    policy = shifting.drift_policy(shifting.training_spec())
    policy["spec"]["action"] = {"type": "notify"}
    documents = [shifting.dataset(shifting.rows(300, shifted=False, seed=1)), run, policy]
    for document in documents:
        document["metadata"]["labels"] = {"app.kubernetes.io/part-of": "fraud", "team": "risk"}
        document["metadata"]["annotations"] = {"example.com/owner": "risk-team"}
    return documents


def _apply(k: Kubectl, documents: list[dict], *extra: str):
    return k.run(
        "apply",
        "--server-side",
        f"--field-manager={ARGOCD}",
        *extra,
        "-f",
        "-",
        input="\n---\n".join(json.dumps(d) for d in documents),
        check=False,
    )


def test_ballast_changes_nothing_a_user_or_argo_cd_applied(kubectl: Kubectl, namespace: str, ballast_operator):
    k = kubectl.in_namespace(namespace)
    documents = _manifests()
    assert _apply(k, documents).returncode == 0
    run = wait_for_condition(k, "trainingrun", "from-git", "Succeeded")
    assert condition(run, "Succeeded")["status"] == "True", run["status"]
    version = run["status"]["modelVersion"]
    wait_for_stage(k, version, "Production", timeout=120)
    pool = shifting.rows(500, shifted=False, seed=4)
    with Traffic(
        k,
        shifting.MODEL,
        shifting.MODEL,
        shifting.FEATURES,
        shifting.LABEL,
        rows=lambda: random.sample(pool, 5),
        pause=0.02,
    ):
        wait_for(
            lambda: k.get_json("driftpolicy", f"{shifting.MODEL}-drift").get("status", {}).get("checks"),
            timeout=60,
            interval=1,
            message="a drift evaluation",
        )

    # What Argo CD's server-side diff would show: nothing.
    diff = _apply(k, documents, "--dry-run=server", "-o", "json")
    assert diff.returncode == 0, diff.stderr
    live = {d["kind"]: d for d in [json.loads(line) for line in _split_json(diff.stdout)]}
    for document in documents:
        current = k.get_json(document["kind"].lower(), document["metadata"]["name"], "--show-managed-fields")
        assert current["metadata"]["generation"] == 1, f"{document['kind']} spec was changed"
        assert current["metadata"].get("labels") == document["metadata"]["labels"], current["metadata"]
        assert current["metadata"].get("annotations") == document["metadata"]["annotations"], current["metadata"]
        assert live[document["kind"]]["metadata"]["generation"] == 1, "re-applying Git would change the spec"
        for entry in current["metadata"]["managedFields"]:
            if entry["manager"] == ARGOCD:
                continue
            fields = entry.get("fieldsV1", {})
            assert set(fields) <= ALLOWED_FOR_OTHERS, (entry["manager"], fields)
            assert set(fields.get("f:metadata", {})) <= {"f:finalizers"}, (entry["manager"], fields)
    result = k.run(
        "diff",
        "--server-side",
        f"--field-manager={ARGOCD}",
        "-f",
        "-",
        input="\n---\n".join(json.dumps(d) for d in documents),
        check=False,
    )
    assert result.returncode == 0, f"kubectl diff found changes:\n{result.stdout}{result.stderr}"


def _split_json(text: str) -> list[str]:
    """`kubectl apply -o json` of several objects prints a List or several documents."""
    parsed = json.loads(text)
    items = parsed["items"] if parsed.get("kind") == "List" else [parsed]
    return [json.dumps(item) for item in items]
