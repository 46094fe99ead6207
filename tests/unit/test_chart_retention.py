"""The chart's retention policy (retention-*.yaml), rendered by a real helm: a CronJob that runs
`ballast gc` over the namespaces Ballast works in, a dry run until retention.apply, with the
store mounted as the operator mounts it, the operator's image and restricted security context,
and an account of its own that may only list the four kinds.

That the real cluster runs it is in tests/integration/test_helm_install.py; what a run of
`ballast gc` deletes is in tests/integration/test_data_lifecycle.py.
"""

from __future__ import annotations

import pytest

from ballast import cli
from ballast.build.pods import SCRATCH_DIR, STORE_VOLUME
from ballast.build.security import restricted_container_security_context, restricted_pod_security_context
from tests.security.release import render
from tests.support.helm import find, rendered, template

DIGEST = "sha256:" + "cd" * 32
NAMESPACED = {"watch.namespaces": ["team-a", "team-b"]}
FOUR_KINDS = ["datasets", "trainingruns", "modelversions", "driftpolicies"]


def retention(values: dict | None = None) -> tuple[list[dict], dict, dict, dict]:
    """The rendered objects, the CronJob, its pod spec and its one container."""
    objects = rendered(values)
    (cronjob,) = find(objects, "CronJob")
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return objects, cronjob, pod, container


def operator_pod(objects: list[dict]) -> tuple[dict, dict]:
    (deployment,) = find(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    return pod, pod["containers"][0]


def env(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def gc_options(container: dict) -> dict:
    """What `ballast gc` makes of the container's arguments (so the chart and the CLI agree)."""
    assert container["command"] == ["ballast"] and container["args"][0] == "gc"
    return (
        cli.main.commands["gc"]
        .make_context("gc", list(container["args"][1:]), default_map={"store_uri": env(container)["BALLAST_STORE_URI"]})
        .params
    )


@pytest.mark.tools
def test_by_default_a_daily_dry_run_over_every_namespace_in_the_store():
    objects, cronjob, pod, container = retention()
    assert cronjob["metadata"]["namespace"] == "ballast-system"
    assert cronjob["metadata"]["labels"]["app.kubernetes.io/component"] == "retention"
    assert cronjob["spec"]["schedule"] == "17 3 * * *" and "timeZone" not in cronjob["spec"]
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    assert cronjob["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 0
    assert pod["restartPolicy"] == "Never"
    options = gc_options(container)
    assert options["all_namespaces"] and options["namespaces"] == ()
    assert options["apply"] is False  # dry run first
    assert options["keep_versions"] == 10 and options["older_than"] == "30d"


@pytest.mark.tools
def test_apply_deletes_and_only_then_mounts_the_store_writable():
    _, _, _, dry = retention()
    assert {"name": STORE_VOLUME, "mountPath": "/var/lib/ballast", "readOnly": True} in dry["volumeMounts"]
    _, _, _, applying = retention(
        {
            "retention.apply": True,
            "retention.keepVersions": 3,
            "retention.olderThan": "",
            "retention.timeZone": "Europe/Berlin",
        }
    )
    options = gc_options(applying)
    assert options["apply"] is True and options["keep_versions"] == 3 and options["older_than"] is None
    assert {"name": STORE_VOLUME, "mountPath": "/var/lib/ballast", "readOnly": False} in applying["volumeMounts"]


@pytest.mark.tools
def test_the_store_is_the_operators_same_uri_claim_and_path():
    objects, _, pod, container = retention({"store.uri": "file:///data/ballast", "store.claim.name": "shared"})
    operator, operator_container = operator_pod(objects)
    assert env(container)["BALLAST_STORE_URI"] == env(operator_container)["BALLAST_STORE_URI"] == "file:///data/ballast"
    (store,) = [v for v in pod["volumes"] if v["name"] == STORE_VOLUME]
    assert store in operator["volumes"] and store["persistentVolumeClaim"] == {"claimName": "shared"}
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == STORE_VOLUME]
    assert mount["mountPath"] == "/data/ballast"


@pytest.mark.tools
def test_an_s3_store_gets_the_operators_credentials_and_no_volume():
    objects, _, pod, container = retention({"store.uri": "s3://models/ballast", "store.secret": "store-credentials"})
    _, operator_container = operator_pod(objects)
    assert container["envFrom"] == operator_container["envFrom"] == [{"secretRef": {"name": "store-credentials"}}]
    assert all(v["name"] != STORE_VOLUME for v in pod["volumes"])
    assert env(container)["BALLAST_STORE_URI"] == "s3://models/ballast"


@pytest.mark.tools
def test_the_pod_runs_the_operators_image_by_digest_restricted_as_the_store_writers():
    objects, _, pod, container = retention(
        {"image.digest": DIGEST, "workloads.runAsUser": 4321, "imagePullSecrets": ["pull"]}
    )
    _, operator_container = operator_pod(objects)
    assert container["image"] == operator_container["image"] == f"ballast@{DIGEST}"
    # the user the ingest and training pods write the store as, so it may delete what they wrote
    assert pod["securityContext"] == restricted_pod_security_context(4321)
    assert container["securityContext"] == restricted_container_security_context()
    assert {"name": "TMPDIR", "value": SCRATCH_DIR} in container["env"]
    assert {"name": "scratch", "emptyDir": {}} in pod["volumes"]
    assert pod["imagePullSecrets"] == [{"name": "pull"}]


def _grants(rules: list[dict]) -> dict[tuple[str, str], set[str]]:
    return {
        (group, resource): set(rule["verbs"])
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }


@pytest.mark.tools
def test_cluster_wide_its_own_account_may_only_list_the_four_kinds():
    objects, _, pod, _ = retention()
    (account,) = find(objects, "ServiceAccount", "ballast-retention")
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    assert pod["automountServiceAccountToken"] is True
    (role,) = find(objects, "ClusterRole", "ballast-retention")
    # no Namespaces: gc --all-namespaces finds them in the store's top level
    assert _grants(role["rules"]) == {("ballast.dev", kind): {"list"} for kind in FOUR_KINDS}
    (binding,) = find(objects, "ClusterRoleBinding", "ballast-retention")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "ballast-retention",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "ballast-retention", "namespace": "ballast-system"}
    ]
    # the only Role is the operator's leader Lease, in the release's namespace
    assert not [
        o
        for o in objects
        if o["kind"] in ("Role", "RoleBinding") and o["metadata"]["name"] != "ballast-leader-election"
    ]


@pytest.mark.tools
def test_namespaced_it_collects_and_reads_the_watched_namespaces_only():
    objects, _, _, container = retention(NAMESPACED)
    options = gc_options(container)
    assert options["namespaces"] == ("team-a", "team-b") and not options["all_namespaces"]
    assert find(objects, "ClusterRole", "ballast-retention") == []
    roles = find(objects, "Role", "ballast-retention")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    assert all(_grants(r["rules"]) == {("ballast.dev", kind): {"list"} for kind in FOUR_KINDS} for r in roles)
    bindings = find(objects, "RoleBinding", "ballast-retention")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    assert all(
        b["subjects"] == [{"kind": "ServiceAccount", "name": "ballast-retention", "namespace": "ballast-system"}]
        for b in bindings
    )


@pytest.mark.tools
def test_a_long_release_name_still_gives_a_valid_cronjob_name():
    # the API refuses CronJob names over 52 characters (its Jobs' names add 11)
    (cronjob,) = find(rendered(release="r" * 53), "CronJob")  # the longest release name Helm takes
    assert len(cronjob["metadata"]["name"]) <= 52 and cronjob["metadata"]["name"].endswith("-retention")


@pytest.mark.tools
def test_disabled_renders_nothing_of_it():
    objects = rendered({"retention.enabled": False})
    assert not [o for o in objects if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "retention"]
    assert not [o for o in objects if "retention" in o["metadata"]["name"]]


@pytest.mark.tools
def test_the_admission_policy_does_not_match_the_retention_pods_creator():
    """The policy bounds what the operator's account creates; the CronJob's Jobs and pods are
    created by the cluster's controllers from a template the administrator installed."""
    objects = render("ballast", "ballast-system", {})
    (policy,) = find(objects, "ValidatingAdmissionPolicy", "ballast-workloads")
    (condition,) = policy["spec"]["matchConditions"]
    assert condition["expression"] == 'request.userInfo.username == "system:serviceaccount:ballast-system:ballast"'
    (cronjob,) = find(objects, "CronJob")
    assert cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["serviceAccountName"] == "ballast-retention"


@pytest.mark.tools
@pytest.mark.parametrize(
    "key, value, message",
    [
        ("retention.keepVersions", 0, "minimum"),
        ("retention.olderThan", "30 days", "pattern"),
        ("retention.apply", "yes", "boolean"),
        ("retention.schedulee", "x", "schedulee"),
    ],
)
def test_schema_rejects_wrong_retention_values(key, value, message):
    result = template({key: value}, check=False)
    assert result.returncode != 0 and message in result.stderr, result.stderr
