"""The chart as users get it from a registry: `helm package`, `helm push` to the local OCI
registry, `helm install oci://...` from there; then the aggregated tenant roles it installs, as
Kubernetes' own `view`, `edit` and `admin` hand them out (SubjectAccessReviews, kube.can, for
users bound to those built-in roles in one namespace).

The release leaves the session's CRDs alone (crds.install false: the `crds` fixture applied
them, and test_helm_install.py covers the chart's own) and runs one operator replica watching
only its own namespace, outside the session operator's prefix.
"""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import make_namespace
from tests.support.helm import CHART, Release, cluster_values, helm
from tests.support.kube import REPO, Kubectl, can, wait_for

AGGREGATE_TO_ADMIN = "rbac.authorization.k8s.io/aggregate-to-admin"
KINDS = ("datasets", "trainingruns", "modelversions", "driftpolicies")


def local_registry() -> tuple[str, object]:
    """host:port of the cluster's registry, and tests/cluster/registry.py to read it back."""
    sys.path.insert(0, str(REPO / "tests" / "cluster"))
    import localcluster
    import registry

    return localcluster.registry_address(), registry


@pytest.fixture
def release_namespace(kubectl: Kubectl, crds) -> Iterator[str]:
    yield from make_namespace(kubectl, prefix="oci-")


@pytest.fixture
def team(kubectl: Kubectl) -> Iterator[str]:
    """Where the users below have their roles."""
    yield from make_namespace(kubectl, restricted=False, prefix="oci-team-")


@pytest.fixture
def elsewhere(kubectl: Kubectl) -> Iterator[str]:
    """Where they have none."""
    yield from make_namespace(kubectl, restricted=False, prefix="oci-other-")


def pushed_chart(tmp_path: Path, address: str) -> tuple[str, str, str]:
    """The chart packaged under a version of this test's own and pushed; (reference, version, digest)."""
    base = yaml.safe_load((CHART / "Chart.yaml").read_text())["version"]
    version = f"{base}-oci.{uuid.uuid4().hex[:8]}"
    helm("package", str(CHART), "--version", version, "--destination", str(tmp_path))
    pushed = helm("push", str(tmp_path / f"ballast-{version}.tgz"), f"oci://{address}/charts", "--plain-http")
    output = pushed.stdout + pushed.stderr
    assert f"Pushed: {address}/charts/ballast:{version}" in output, output
    digest = re.search(r"Digest: (sha256:[0-9a-f]{64})", output)
    assert digest, output
    return f"oci://{address}/charts/ballast", version, digest.group(1)


def test_the_chart_installs_from_an_oci_registry_and_its_roles_reach_kubernetes_view_edit_and_admin(
    kubectl: Kubectl, kubeconfig: Path, release_namespace: str, team: str, elsewhere: str, tmp_path: Path
):
    address, registry = local_registry()
    reference, version, digest = pushed_chart(tmp_path, address)
    assert registry.manifest_digest("charts/ballast", version) == digest

    suffix = uuid.uuid4().hex[:6]
    viewer, editor, admin = (f"{role}-{suffix}@example.com" for role in ("viewer", "editor", "admin"))
    for user, role in ((viewer, "view"), (editor, "edit"), (admin, "admin")):
        kubectl.run("create", "rolebinding", f"{role}-{suffix}", f"--clusterrole={role}", f"--user={user}", "-n", team)
    # nothing else on the cluster gives admin deletecollection on the four kinds: this release will
    # (once the aggregation controller has taken out the rules of a role an earlier test deleted)
    others = kubectl.run(
        "get", "clusterroles", "--selector", f"{AGGREGATE_TO_ADMIN}=true,app.kubernetes.io/name=ballast", "-o", "name"
    ).stdout.split()
    assert not others, f"the ClusterRoles of another Ballast release are aggregated into admin: {others}"
    wait_for(
        lambda: not can(kubectl, admin, "deletecollection", "datasets.ballast.dev", team),
        timeout=30,
        message="admin without deletecollection on datasets before the release",
    )

    release = Release(f"oci-{suffix}", release_namespace, kubeconfig)
    values = cluster_values([release_namespace]) | {"crds.install": False, "operator.replicas": 1}
    try:
        release.install(values, chart=reference, chart_args=("--version", version, "--plain-http"))
        metadata = release.helm("get", "metadata", release.name, "--output", "yaml").stdout
        assert yaml.safe_load(metadata)["version"] == version
        notes = release.helm("get", "notes", release.name).stdout
        assert f"release {release.name} in namespace {release_namespace}" in notes
        assert f"{release.name}-ballast-view, -edit and -admin" in notes

        # the aggregation controller copies the rules into view, edit and admin shortly after
        wait_for(
            lambda: can(kubectl, admin, "deletecollection", "datasets.ballast.dev", team),
            timeout=30,
            message="the -admin ClusterRole aggregated into admin",
        )
        for kind in KINDS:
            resource = f"{kind}.ballast.dev"
            assert can(kubectl, editor, "create", resource, team), kind
            assert can(kubectl, editor, "delete", resource, team), kind
            assert not can(kubectl, editor, "create", resource, elsewhere), kind
            assert not can(kubectl, editor, "deletecollection", resource, team), kind
            assert not can(kubectl, editor, "patch", f"{resource}/status", team), kind
            assert can(kubectl, viewer, "list", resource, team), kind
            assert can(kubectl, viewer, "get", f"{resource}/status", team), kind
            assert not can(kubectl, viewer, "create", resource, team), kind
            assert can(kubectl, admin, "create", resource, team), kind
            assert not can(kubectl, admin, "patch", f"{resource}/status", team), kind

        # what `kubectl apply` of the example does, as the editor: admitted here, forbidden there
        example = str(REPO / "examples" / "01-dataset.yaml")
        applied = kubectl.run("create", "--dry-run=server", "-f", example, "--as", editor, "-n", team, check=False)
        assert applied.returncode == 0, applied.stderr
        refused = kubectl.run("create", "--dry-run=server", "-f", example, "--as", editor, "-n", elsewhere, check=False)
        assert refused.returncode != 0 and "forbidden" in refused.stderr.lower(), refused.stderr
    finally:
        if release.exists():
            release.helm("uninstall", release.name, "--wait", "--timeout=60s", check=False, timeout=90)

    # gone with the release: the built-in admin no longer carries the -admin role's rule
    wait_for(
        lambda: not can(kubectl, admin, "deletecollection", "datasets.ballast.dev", team),
        timeout=30,
        message="admin without the uninstalled release's rule",
    )
