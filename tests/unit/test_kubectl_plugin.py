"""The CLI as kubectl's plugin: flags, output formats, the rollout verbs' patches and the
one-line errors with their exit codes; the krew manifest against a fresh build of its archive."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from kubernetes.client.exceptions import ApiException
from kubernetes.config import ConfigException
from urllib3.exceptions import MaxRetryError, NewConnectionError

from ballast import __version__, cli, plugin
from ballast.api.annotations import APPROVED_BY_ANNOTATION, ROLLBACK_ANNOTATION
from ballast.commands import api
from ballast.commands.errors import ExitCode, explain
from ballast.commands.rollout_requests import Refused, abort, approve, promote
from ballast.commands.status import canary_progress, changes, model_statuses
from tests.support.kube import REPO, kubectl_binary

BIN = Path(sys.executable).parent


def model_version(name, stage, *, model="iris", namespace="ml", created="2026-01-01T00:00:00Z", **spec):
    status = {"stage": stage, "replicas": 1, "readyReplicas": 1}
    return {
        "kind": "ModelVersion",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": created},
        "spec": {"model": model, "artifact": {"uri": "file:///s/m.skops", "sha256": "f" * 64}, **spec},
        "status": status,
    }


def canary(name="iris-b", *, step=0, passed=False, auto_promote=False, approved=False, **kwargs):
    version = model_version(
        name,
        "Canary",
        rollout={"steps": [25, 50], "autoPromote": auto_promote, **({"approved": True} if approved else {})},
        serving={"replicas": 1},
        **kwargs,
    )
    version["status"].update(
        trafficPercent=25,
        canary={"step": step, "stepStartedAt": "2026-01-01T00:00:00Z", **({"passedAllSteps": True} if passed else {})},
        analysis={"time": "2026-01-01T00:01:00Z", "step": step, "verdict": "Pass"},
        conditions=[{"type": "Ready", "status": "Unknown", "reason": "Canary", "message": "step 1 of 2 (25%)"}],
    )
    return version


def merged(target: dict, patch: dict) -> dict:
    """A JSON merge patch (RFC 7386), as the API server applies one."""
    result = dict(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            result[key] = merged(result.get(key) or {}, value)
        else:
            result[key] = value
    return result


class FakeCustomObjects:
    """The CustomObjectsApi calls the commands make, on a list of objects (ModelVersions unless
    their kind says otherwise)."""

    def __init__(self, objects):
        self.objects = objects
        self.patches = []

    def _of(self, plural):
        return [o for o in self.objects if f"{o.get('kind', 'ModelVersion').lower()}s" == plural]

    def list_namespaced_custom_object(self, group, version, namespace, plural):
        return {"items": [copy.deepcopy(o) for o in self._of(plural) if o["metadata"]["namespace"] == namespace]}

    def list_cluster_custom_object(self, group, version, plural):
        return {"items": copy.deepcopy(self._of(plural))}

    def get_namespaced_custom_object(self, group, version, namespace, plural, name):
        for o in self._of(plural):
            if (o["metadata"]["namespace"], o["metadata"]["name"]) == (namespace, name):
                return copy.deepcopy(o)
        raise ApiException(status=404, reason="Not Found")

    def patch_namespaced_custom_object(self, group, version, namespace, plural, name, body, field_manager=None):
        self.patches.append((namespace, name, body, field_manager))
        target = self.get_namespaced_custom_object(group, version, namespace, plural, name)
        return merged(target, body)


@pytest.fixture
def cluster(monkeypatch):
    """The objects the commands see, in the namespace "ml" by default; the Target each command
    connected with is recorded."""
    fake = FakeCustomObjects([])
    fake.targets = []

    def connect(target):
        fake.targets.append(target)
        return api.Cluster(fake, None if target.all_namespaces else target.namespace or "ml")

    monkeypatch.setattr(api, "connect", connect)
    return fake


def invoke(*args, group=plugin.plugin):
    return CliRunner().invoke(group, list(args), catch_exceptions=False)


# ---- flags ------------------------------------------------------------------------------------


@pytest.mark.parametrize("group", [plugin.plugin, cli.main], ids=["kubectl-ballast", "ballast"])
def test_every_cluster_verb_takes_kubectls_connection_flags(cluster, group):
    cluster.objects = [model_version("iris-a", "Production")]
    flags = ["--kubeconfig", "/k/config", "--context", "staging", "-n", "ml"]
    for verb in (["status"], ["runs", "iris"], ["approve", "x"], ["promote", "x"], ["abort", "x"]):
        invoke(*verb, *flags, group=group)
    invoke("rollback", "iris", "--to", "nope", *flags, group=group)
    invoke("lineage", "x", "-A", "--context", "prod", group=group)
    assert {(t.kubeconfig, t.context, t.namespace, t.all_namespaces) for t in cluster.targets[:-1]} == {
        ("/k/config", "staging", "ml", False)
    }
    assert len(cluster.targets) == 7
    assert (cluster.targets[-1].context, cluster.targets[-1].all_namespaces) == ("prod", True)


def test_namespace_and_all_namespaces_exclude_each_other_and_unknown_output_is_refused(cluster):
    both = CliRunner().invoke(plugin.plugin, ["status", "-n", "ml", "-A"])
    assert both.exit_code == ExitCode.USAGE and "exclude each other" in both.output
    xml = CliRunner().invoke(plugin.plugin, ["status", "-o", "xml"])
    assert xml.exit_code == ExitCode.USAGE and "'xml' is not one of 'table', 'json', 'yaml'" in xml.output
    assert not cluster.targets


def test_the_images_roles_stay_on_ballast_and_off_the_plugin():
    pod_roles = {"operator", "ingest", "train", "serve"}
    assert pod_roles <= set(cli.main.commands)
    assert not pod_roles & set(plugin.plugin.commands)
    assert set(plugin.plugin.commands) <= set(cli.main.commands)


# ---- status -----------------------------------------------------------------------------------


def test_canary_progress_names_the_step_and_share_or_the_approval_it_waits_for():
    assert canary_progress(canary(step=1)) == "step 2 of 2 (50%)"
    assert canary_progress(canary(step=1, passed=True)) == "all 2 steps passed, awaiting approval"
    assert canary_progress(canary(step=1, passed=True, approved=True)) == "all 2 steps passed, approved, promoting"
    assert canary_progress(model_version("iris-a", "Production")) is None


def test_status_groups_versions_by_model_canary_first_then_production_then_newest():
    versions = [
        model_version("iris-old", "Superseded", created="2026-01-01T00:00:00Z"),
        model_version("iris-a", "Production", created="2026-01-02T00:00:00Z"),
        canary("iris-b"),
        model_version("iris-newer", "Superseded", created="2026-01-03T00:00:00Z"),
        model_version("credit-a", "Production", model="credit"),
        model_version("iris-elsewhere", "Production", namespace="team-b"),
    ]
    models = model_statuses(versions)
    assert [(m.namespace, m.model, m.production, m.canary) for m in models] == [
        ("ml", "credit", "credit-a", None),
        ("ml", "iris", "iris-a", "iris-b"),
        ("team-b", "iris", "iris-elsewhere", None),
    ]
    assert [v.name for v in models[1].versions] == ["iris-b", "iris-a", "iris-newer", "iris-old"]
    assert [m.model for m in model_statuses(versions, "credit")] == ["credit"]


def test_status_prints_a_table_or_the_same_fields_as_json_and_yaml(cluster):
    cluster.objects = [model_version("iris-a", "Production"), canary("iris-b")]
    table = invoke("status").output.splitlines()
    assert table[0].split() == ["MODEL", "VERSION", "STAGE", "TRAFFIC", "READY", "CANARY", "ANALYSIS", "MESSAGE"]
    assert re.match(r"iris\s+iris-b\s+Canary\s+25%\s+1/1\s+step 1 of 2 \(25%\)\s+step 1: Pass\s+step 1", table[1])
    assert table[2].split()[:4] == ["iris", "iris-a", "Production", "-"]
    as_json = json.loads(invoke("status", "-o", "json").output)
    assert yaml.safe_load(invoke("status", "-o", "yaml").output) == as_json
    (iris,) = as_json["models"]
    assert (iris["model"], iris["production"], iris["canary"]) == ("iris", "iris-a", "iris-b")
    assert iris["versions"][0]["canary"] == "step 1 of 2 (25%)"
    assert iris["versions"][0]["traffic_percent"] == 25
    everywhere = invoke("status", "-A").output.splitlines()
    assert everywhere[0].split()[:2] == ["NAMESPACE", "MODEL"] and everywhere[1].split()[0] == "ml"


def test_watch_shows_a_view_only_when_it_changed(cluster, monkeypatch):
    views = iter(["a", "a", "b", "b", "c"])
    waits = []
    shown = changes(lambda: next(views), lambda: waits.append(1))
    assert [next(shown), next(shown), next(shown)] == ["a", "b", "c"]
    assert len(waits) == 4

    cluster.objects = [canary("iris-b", step=0)]
    reads = []

    def sleep(_seconds):
        reads.append(1)
        if len(reads) == 2:
            cluster.objects = [canary("iris-b", step=1)]
        if len(reads) == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr("time.sleep", sleep)
    result = invoke("status", "--watch", "-o", "json")
    assert result.exit_code == 0
    frames = [json.loads(frame) for frame in result.output.strip().split("\n\n")]
    assert [f["models"][0]["versions"][0]["canary"] for f in frames] == ["step 1 of 2 (25%)", "step 2 of 2 (50%)"]


# ---- approve, promote, abort --------------------------------------------------------------------


APPROVAL_BY_ALICE = {
    "metadata": {"annotations": {APPROVED_BY_ANNOTATION: "alice"}},
    "spec": {"rollout": {"approved": True}},
}


def test_approve_sets_spec_rollout_approved_and_names_the_approver():
    assert approve(canary(passed=True), "alice").patch == APPROVAL_BY_ALICE
    assert "promoted now" in approve(canary(passed=True), "alice").message
    assert "once every canary step passed" in approve(canary(step=0), "alice").message
    assert approve(canary(approved=True), "alice").patch is None
    with pytest.raises(Refused, match="promotes by itself"):
        approve(canary(auto_promote=True), "alice")
    with pytest.raises(Refused, match="autoPromote is true"):
        approve(model_version("iris-c", "Candidate"), "alice")  # no rollout: autoPromote's default
    with pytest.raises(Refused, match="only a Candidate or a Canary"):
        approve(model_version("iris-a", "Production"), "alice")


def test_promote_takes_the_route_the_stage_allows_and_never_skips_analysis():
    assert promote(canary(passed=True), "T", "alice").patch == APPROVAL_BY_ALICE
    back = promote(model_version("iris-old", "Superseded"), "2026-02-01T00:00:00Z", "alice")
    assert back.patch == {"metadata": {"annotations": {ROLLBACK_ANNOTATION: "2026-02-01T00:00:00Z"}}}
    assert promote(model_version("iris-x", "RolledBack"), "T", "alice").patch is not None
    assert promote(model_version("iris-a", "Production"), "T", "alice").patch is None
    with pytest.raises(Refused, match="still in analysis"):
        promote(canary(step=0), "T", "alice")
    with pytest.raises(Refused, match="Candidate"):
        promote(model_version("iris-c", "Candidate"), "T", "alice")


def test_abort_disables_serving_of_a_canary_only():
    assert abort(canary()).patch == {"spec": {"serving": {"enabled": False}}}
    assert abort(model_version("iris-c", "Candidate", serving={"replicas": 2})).patch == {
        "spec": {"serving": {"enabled": False}}
    }
    assert abort(model_version("iris-c", "Candidate")).patch is None  # not served at all
    with pytest.raises(Refused, match="rollback"):
        abort(model_version("iris-a", "Production", serving={}))


def test_the_approve_verb_patches_as_kubectl_ballast_and_prints_the_object_with_o_json(cluster, monkeypatch):
    cluster.objects = [canary("iris-b", passed=True)]
    monkeypatch.setattr(api, "whoami", lambda _cluster: "alice")
    result = invoke("approve", "iris-b", "-n", "ml", "-o", "json")
    assert result.exit_code == 0
    assert cluster.patches == [("ml", "iris-b", APPROVAL_BY_ALICE, "kubectl-ballast")]
    assert json.loads(result.output)["spec"]["rollout"] == {"steps": [25, 50], "autoPromote": False, "approved": True}
    assert invoke("approve", "iris-b", "-A").output.strip() == "approved iris-b: it is promoted now"


def test_a_refused_or_missing_version_is_one_line_with_its_exit_code(cluster):
    cluster.objects = [model_version("iris-a", "Production", serving={})]
    refused = CliRunner().invoke(plugin.plugin, ["abort", "iris-a", "-n", "ml"])
    assert refused.exit_code == ExitCode.FAILED
    assert (
        refused.output.startswith("error: iris-a is Production: abort stops a canary")
        and refused.output.count("\n") == 1
    )
    missing = CliRunner().invoke(plugin.plugin, ["approve", "iris-z", "-n", "ml"])
    assert (missing.exit_code, missing.output) == (
        ExitCode.NOT_FOUND,
        "error: not found: ModelVersion iris-z in namespace ml\n",
    )
    cluster.objects.append(model_version("iris-a", "Production", namespace="team-b"))
    ambiguous = CliRunner().invoke(plugin.plugin, ["lineage", "iris-a", "-A"])
    assert ambiguous.exit_code == ExitCode.USAGE and "several namespaces (ml, team-b)" in ambiguous.output
    assert not cluster.patches


# ---- errors -------------------------------------------------------------------------------------


CONNECTION = "HTTPSConnection(host='10.0.0.1', port=6443)"  # how urllib3 names the connection it tried


def api_error(status, message):
    error = ApiException(status=status, reason="Reason")
    error.body = json.dumps({"kind": "Status", "message": message + "\nsecond line"})
    return error


@pytest.mark.parametrize(
    "error, code, message",
    [
        (
            ConfigException("Invalid kube-config file. No configuration found."),
            ExitCode.NO_KUBECONFIG,
            "no usable kubeconfig: Invalid kube-config file. No configuration found."
            " (set KUBECONFIG or pass --kubeconfig)",
        ),
        (
            api_error(403, 'modelversions.ballast.dev is forbidden: User "bob" cannot list resource'),
            ExitCode.FORBIDDEN,
            'forbidden: modelversions.ballast.dev is forbidden: User "bob" cannot list resource',
        ),
        (api_error(401, "Unauthorized"), ExitCode.FORBIDDEN, "forbidden: Unauthorized"),
        (
            api_error(404, 'modelversions.ballast.dev "x" not found'),
            ExitCode.NOT_FOUND,
            'not found: modelversions.ballast.dev "x" not found',
        ),
        (
            api_error(404, "the server could not find the requested resource"),
            ExitCode.NOT_FOUND,
            "not found: the server could not find the requested resource (are Ballast's CRDs installed?)",
        ),
        (
            api_error(500, "etcdserver: leader changed"),
            ExitCode.FAILED,
            "the API server answered etcdserver: leader changed",
        ),
        (
            MaxRetryError(
                None,
                "/apis",
                NewConnectionError(CONNECTION, "Failed to establish a new connection: [Errno 111] Connection refused"),
            ),
            ExitCode.UNREACHABLE,
            f"cannot reach the API server: {CONNECTION}: "
            "Failed to establish a new connection: [Errno 111] Connection refused",
        ),
    ],
)
def test_api_failures_become_one_line_with_a_documented_exit_code(error, code, message):
    explained = explain(error)
    assert (explained.exit_code, explained.message) == (code, message)
    assert f"| {int(code)} |" in (REPO / "docs" / "cli.md").read_text()


def test_a_bug_is_not_dressed_as_a_cluster_error():
    assert explain(KeyError("spec")) is None


def run_plugin(*args, env):
    return subprocess.run(
        [str(BIN / "kubectl-ballast"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **env},
    )


def test_no_kubeconfig_and_an_unreachable_server_are_one_line_not_a_traceback(tmp_path):
    nothing = run_plugin("status", env={"HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "absent")})
    assert nothing.returncode == ExitCode.NO_KUBECONFIG, nothing.stderr
    assert nothing.stderr.startswith("error: no usable kubeconfig") and nothing.stderr.count("\n") == 1

    closed_port = tmp_path / "config"
    closed_port.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    unreachable = run_plugin("approve", "iris-b", "--kubeconfig", str(closed_port), env={"HOME": str(tmp_path)})
    assert unreachable.returncode == ExitCode.UNREACHABLE, unreachable.stderr
    assert unreachable.stderr.startswith("error: cannot reach the API server") and unreachable.stderr.count("\n") == 1
    no_context = run_plugin(
        "status", "--kubeconfig", str(closed_port), "--context", "nope", env={"HOME": str(tmp_path)}
    )
    assert no_context.returncode == ExitCode.NO_KUBECONFIG and "nope" in no_context.stderr


@pytest.mark.tools
def test_kubectl_finds_the_plugin_on_path_and_passes_its_exit_code_through(tmp_path):
    env = {"HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "absent"), "PATH": f"{BIN}:/usr/bin:/bin"}
    listed = subprocess.run([kubectl_binary(), "plugin", "list"], capture_output=True, text=True, env=env, timeout=60)
    assert str(BIN / "kubectl-ballast") in listed.stdout, listed.stdout + listed.stderr
    helped = subprocess.run(
        [kubectl_binary(), "ballast", "--help"], capture_output=True, text=True, env=env, timeout=60
    )
    assert helped.returncode == 0 and "Usage: kubectl ballast" in helped.stdout
    failed = subprocess.run(
        [kubectl_binary(), "ballast", "status"], capture_output=True, text=True, env=env, timeout=60
    )
    assert failed.returncode == ExitCode.NO_KUBECONFIG and failed.stderr.startswith("error: no usable kubeconfig")


# ---- the krew manifest --------------------------------------------------------------------------

sys.path.insert(0, str(REPO / "scripts"))
import krew_manifest  # noqa: E402

SEMVER = re.compile(r"^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")


def test_the_krew_manifest_is_what_the_script_writes_for_a_fresh_build_of_its_archive():
    assert (REPO / "plugins" / "krew" / "ballast.yaml").read_text() == krew_manifest.render_manifest()
    assert krew_manifest.build_archive() == krew_manifest.build_archive()  # reproducible


def test_the_krew_manifest_has_what_krews_validation_requires():
    """krew's pkg/index/validation: a plain name, a v-prefixed semantic version, a short
    description, and per platform a selector, an https URI, a sha256 and a bin the files put in place."""
    manifest = yaml.safe_load((REPO / "plugins" / "krew" / "ballast.yaml").read_text())
    assert manifest["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2" and manifest["kind"] == "Plugin"
    assert manifest["metadata"]["name"] == "ballast"  # kubectl ballast; never "kubectl-" in the name
    spec = manifest["spec"]
    assert SEMVER.match(spec["version"]) and spec["version"] == f"v{__version__}"
    assert 0 < len(spec["shortDescription"]) <= 50 and spec["description"].strip()
    archive = krew_manifest.build_archive()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    seen = set()
    for platform in spec["platforms"]:
        labels = platform["selector"]["matchLabels"]
        seen.add((labels["os"], labels["arch"]))
        assert platform["uri"].startswith("https://") and platform["uri"].endswith(krew_manifest.archive_name())
        assert platform["sha256"] == hashlib.sha256(archive).hexdigest()
        assert {f["from"] for f in platform["files"]} <= set(members)
        assert platform["bin"] == "kubectl-ballast" and members["kubectl-ballast"].mode & 0o111
    assert ("linux", "amd64") in seen and len(seen) == len(spec["platforms"])


def test_the_krew_launcher_runs_the_cli_of_the_python_on_path(tmp_path):
    launcher = REPO / "plugins" / "krew" / "kubectl-ballast"
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path)}
    helped = subprocess.run([str(launcher), "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert helped.returncode == 0 and "Usage: kubectl ballast" in helped.stdout, helped.stderr
    without = subprocess.run(
        [str(launcher), "--help"], capture_output=True, text=True, env={"PATH": str(tmp_path)}, timeout=60
    )
    assert without.returncode == 1 and "needs Ballast's CLI" in without.stderr
    assert os.access(launcher, os.X_OK)


def test_status_and_the_rollout_verbs_load_none_of_the_model_libraries():
    """kubectl ballast starts fast and installs small: what status, approve, promote and abort
    import stays clear of NumPy, SciPy, scikit-learn, pandas and the operator's kopf."""
    code = (
        "import sys, ballast.plugin, ballast.commands.status, ballast.commands.rollout_requests, ballast.commands.api\n"
        "print(sorted(m for m in ('numpy', 'scipy', 'sklearn', 'pandas', 'kopf') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert loaded.stdout.strip() == "[]"


def test_runs_and_lineage_read_through_the_same_flags_and_formats(cluster):
    run = {
        "kind": "TrainingRun",
        "metadata": {"name": "iris-1", "namespace": "ml", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"model": "iris", "estimator": "sklearn.tree.DecisionTreeClassifier", "datasetRef": {"name": "d"}},
        "status": {"metrics": {"accuracy": 0.95}},
    }
    version = model_version("iris-a", "Production", source={"trainingRun": "iris-1"})
    cluster.objects = [run, version]
    assert invoke("runs", "iris").output.splitlines()[1].split()[:3] == ["iris-1", "Pending", "DecisionTreeClassifier"]
    assert [r["metadata"]["name"] for r in json.loads(invoke("runs", "iris", "-o", "json").output)["items"]] == [
        "iris-1"
    ]
    lines = invoke("lineage", "iris-a", "-A").output.splitlines()
    assert "TrainingRun iris-1" in lines and "ModelVersion iris-a (model iris)" in lines
    traced = yaml.safe_load(invoke("lineage", "iris-a", "-o", "yaml").output)
    assert (traced["trainingRun"]["metadata"]["name"], traced["dataset"]) == ("iris-1", None)
