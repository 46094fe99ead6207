"""Argo CD health checks and resource actions (manifests/argocd/resource_customizations/), run in a
real Lua 5.1 the way Argo CD runs them: the object bound to the global `obj`, a health script's
returned table read as {status, message}, an action's as the changed object, only the base and
table libraries (and a reduced os) loaded. The scripts run are the ones argocd-cm-patch.yaml
carries, so what is tested is what ships.

Two sources of objects: the fixtures of each health_test.yaml and action_test.yaml (Argo CD's own
test formats), and statuses the reconcilers really write, so a renamed reason or stage fails
here too; the actions' edits go back through the reconciler, so an action that the operator
would ignore fails as well.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from lupa import lua51

from ballast.api.kinds import ALL_KINDS, API_VERSION, GROUP
from ballast.canary.samples import Sample
from ballast.reconcile.dataset import DatasetObservation, reconcile_dataset
from ballast.reconcile.jobs import JobState
from ballast.reconcile.modelversion import reconcile_model_version
from ballast.reconcile.serving import DeploymentState, Sibling
from ballast.reconcile.trainingrun import TrainingRunObservation, reconcile_training_run
from ballast.registry import Verification
from ballast.settings import Settings
from tests.support.kube import REPO

ARGOCD = REPO / "manifests" / "argocd"
CUSTOMIZATIONS = ARGOCD / "resource_customizations" / GROUP
KINDS = {info.singular: info for info in ALL_KINDS}
# gitops-engine's HealthStatusCode values; anything else Argo CD turns into Unknown
HEALTH_CODES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
INVALID_HEALTH = {"status": "Unknown", "message": "Lua returned an invalid health status"}
# The time the tests' os.date tells an action (Argo CD's own action tests fix the clock too).
ACTION_CLOCK = "2026-01-05T13:00:00Z"
ACTION_KINDS = ("ModelVersion", "DriftPolicy")


def folder(kind: str) -> Path:
    """resource_customizations/ballast.dev/<Kind>/ of a kind's singular name."""
    return CUSTOMIZATIONS / KINDS[kind].kind


# --- running a health script or an action as Argo CD does -------------------------------------


class ApiServerJsonLoader(yaml.SafeLoader):
    """YAML as the API server would send it as JSON: timestamps stay strings."""


ApiServerJsonLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_object(path: Path) -> dict:
    return yaml.load(path.read_text(), Loader=ApiServerJsonLoader)


def argo_cd_lua() -> lua51.LuaRuntime:
    """Lua 5.1 with what Argo CD's VM opens for a script configured in argocd-cm: base, table,
    and a reduced os of date and time, also preloaded for require("os") (the rest of package is
    left out). Without the string library gopher-lua has no string methods either. os.date
    answers with ACTION_CLOCK, for the one format the actions use."""
    lua = lua51.LuaRuntime(register_eval=False, register_builtins=False, unpack_returned_tuples=False)
    lua.execute('debug.setmetatable("", nil)')
    for name in ("string", "math", "io", "os", "debug", "coroutine", "python", "package", "require", "module"):
        lua.globals()[name] = None
    lua.execute(
        "os = {time = function() return 1767618000 end, date = function(format)"
        ' if format ~= "!%Y-%m-%dT%H:%M:%SZ" then error("os.date format not faked: " .. tostring(format)) end'
        f' return "{ACTION_CLOCK}" end}}'
    )
    lua.execute(
        'require = function(name) if name ~= "os" then error("module " .. name .. " not found") end return os end'
    )
    return lua


def run_health(script: str, obj: dict) -> dict:
    """What Argo CD's ExecuteHealthLua makes of the script's result."""
    lua = argo_cd_lua()
    lua.globals().obj = lua.table_from(obj, recursive=True)
    returned = lua.execute(script)
    if lua51.lua_type(returned) != "table":
        raise AssertionError(f"expect table output from Lua script, not {lua51.lua_type(returned) or type(returned)}")
    status, message = returned["status"], returned["message"]
    assert message is None or isinstance(message, str), f"message must be a string, not {message!r}"
    if status not in HEALTH_CODES:
        return INVALID_HEALTH
    return {"status": status, "message": message or ""}


def from_lua(value):
    """A Lua value as the JSON Argo CD sends to the API server: a table with keys 1..n is an
    array, any other a map; whole numbers are integers."""
    if lua51.lua_type(value) != "table":
        return int(value) if isinstance(value, float) and value.is_integer() else value
    items = dict(value.items())
    if items and set(items) == set(range(1, len(items) + 1)):
        return [from_lua(items[i]) for i in range(1, len(items) + 1)]
    return {key: from_lua(item) for key, item in items.items()}


def discover_actions(discovery: str, obj: dict) -> list[dict]:
    """What Argo CD's ExecuteResourceActionDiscovery makes of discovery.lua: the actions, by name
    (a Lua table has no order)."""
    lua = argo_cd_lua()
    lua.globals().obj = lua.table_from(obj, recursive=True)
    returned = from_lua(lua.execute(discovery))
    assert isinstance(returned, dict), returned
    return [{"name": name, "disabled": bool(returned[name].get("disabled", False))} for name in sorted(returned)]


def run_action(script: str, obj: dict) -> dict:
    """The object an action.lua returns, which Argo CD patches the live one to."""
    lua = argo_cd_lua()
    lua.globals().obj = lua.table_from(copy.deepcopy(obj), recursive=True)
    returned = lua.execute(script)
    if lua51.lua_type(returned) != "table":
        raise AssertionError(f"an action must return the object, not {returned!r}")
    return from_lua(returned)


def argocd_key(kind: str) -> str:
    return f"resource.customizations.health.ballast.dev_{kind}"


def argocd_actions_key(kind: str) -> str:
    return f"resource.customizations.actions.ballast.dev_{kind}"


@functools.cache
def shipped_patch() -> dict:
    return yaml.safe_load((ARGOCD / "argocd-cm-patch.yaml").read_text())


def script(kind: str) -> str:
    """The whole script Argo CD runs for the kind: its key in the committed argocd-cm patch."""
    return shipped_patch()["data"][argocd_key(KINDS[kind].kind)]


@functools.cache
def shipped_actions(kind: str) -> dict:
    """A kind's actions (by its Kind) as the committed argocd-cm patch carries them."""
    config = yaml.safe_load(shipped_patch()["data"][argocd_actions_key(kind)])
    return {"discovery": config["discovery.lua"], **{d["name"]: d["action.lua"] for d in config["definitions"]}}


def test_the_sandbox_is_as_small_as_argo_cds():
    """Scripts that lean on the string library work in a plain Lua but fail in Argo CD."""
    obj = {"metadata": {"name": "x"}}
    with pytest.raises(lua51.LuaError, match="string"):
        run_health('return {status = string.upper("healthy")}', obj)
    with pytest.raises(lua51.LuaError, match="attempt to index .*a string value"):
        run_health("return {status = obj.metadata.name:upper()}", obj)
    with pytest.raises(lua51.LuaError, match="os.execute|attempt to call"):
        run_health('os.execute("true") return {status = "Healthy"}', obj)
    assert run_health('local t = {} table.insert(t, "Healthy") return {status = t[1], message = tostring(1)}', obj) == {
        "status": "Healthy",
        "message": "1",
    }


def test_what_argo_cd_makes_of_odd_results():
    assert run_health('return {status = "Fine"}', {}) == INVALID_HEALTH
    assert run_health('return {status = "Suspended"}', {}) == {"status": "Suspended", "message": ""}
    with pytest.raises(AssertionError, match="expect table output"):
        run_health('return "Healthy"', {})


# --- fixtures in Argo CD's health_test.yaml format ------------------------------------------


def health_tests(kind: str) -> list[dict]:
    return yaml.safe_load((folder(kind) / "health_test.yaml").read_text())["tests"]


CASES = [(kind, case) for kind in KINDS for case in health_tests(kind)]


def test_every_kind_has_a_folder_in_argo_cds_layout_and_nothing_else_does():
    assert {p.name for p in CUSTOMIZATIONS.iterdir()} == {info.kind for info in ALL_KINDS}
    for info in ALL_KINDS:
        files = {p.name for p in (CUSTOMIZATIONS / info.kind).iterdir()}
        expected = {"health.lua", "health_test.yaml", "testdata"} | (
            {"actions"} if info.kind in ACTION_KINDS else set()
        )
        assert files == expected, info.kind


@pytest.mark.parametrize("kind", KINDS)
def test_each_health_script_is_self_contained(kind):
    """Argo CD runs each script alone: no prelude, nothing shared."""
    text = (folder(kind) / "health.lua").read_text()
    assert script(kind) == text
    assert "require" not in text and "dofile" not in text


def lua_function(text: str, name: str) -> str | None:
    """The text of `local function <name>` up to its closing `end` at column 0, or None."""
    head = f"local function {name}("
    if head not in text:
        return None
    start = text.index(head)
    return text[start : text.index("\nend\n", start) + 5]


def test_the_copies_of_the_shared_parts_are_the_same():
    """Each folder stands alone, so the helpers and the first checks are copied into every
    script: a fix to one copy must reach them all."""
    for helper in ("condition", "describe", "verdict", "ready_verdict"):
        copies = {lua_function(script(kind), helper) for kind in KINDS} - {None}
        assert len(copies) == 1, f"{helper} differs between the health scripts"
    first_checks = set()
    for kind in KINDS:
        text = script(kind)
        start = text.index("if obj.metadata.deletionTimestamp ~= nil then")
        first_checks.add(text[start : text.index("\nend\n", text.index("observe generation")) + 5])
    assert len(first_checks) == 1, "the deletion, status and generation checks differ between the health scripts"


@pytest.mark.parametrize("kind, case", CASES, ids=[f"{kind}/{case['inputPath']}" for kind, case in CASES])
def test_health_of_fixture(kind, case):
    obj = load_object(folder(kind) / case["inputPath"])
    expected = {"status": case["healthStatus"]["status"], "message": case["healthStatus"].get("message", "")}
    assert run_health(script(kind), obj) == expected


def _is_valid_object(path: Path, kind: str) -> None:
    obj = load_object(path)
    info = KINDS[kind]
    assert (obj["apiVersion"], obj["kind"]) == (API_VERSION, info.kind), path.name
    assert isinstance(obj["metadata"]["generation"], int), path.name
    info.spec_model.model_validate(obj["spec"])
    if "status" in obj:
        info.status_model.model_validate(obj["status"])


@pytest.mark.parametrize("kind", KINDS)
def test_every_fixture_is_a_case_and_a_valid_object_of_its_kind(kind):
    cases = [case["inputPath"] for case in health_tests(kind)]
    assert len(cases) == len(set(cases))
    assert sorted(cases) == sorted(f"testdata/{p.name}" for p in (folder(kind) / "testdata").glob("*.yaml"))
    for name in cases:
        _is_valid_object(folder(kind) / name, kind)


@pytest.mark.parametrize(
    "kind, statuses",
    [
        ("dataset", {"Healthy", "Progressing", "Degraded"}),
        ("trainingrun", {"Healthy", "Progressing", "Degraded"}),
        ("modelversion", {"Healthy", "Progressing", "Degraded", "Suspended"}),
        ("driftpolicy", {"Healthy", "Progressing", "Degraded"}),
    ],
)
def test_each_kind_is_tested_in_every_health_it_can_have(kind, statuses):
    assert {case["healthStatus"]["status"] for case in health_tests(kind)} == statuses


@pytest.mark.parametrize("kind", KINDS)
def test_an_object_being_deleted_is_progressing_whatever_its_status_says(kind):
    (case,) = [case for case in health_tests(kind) if case["inputPath"] == "testdata/being-deleted.yaml"]
    obj = load_object(folder(kind) / case["inputPath"])
    assert obj["metadata"]["deletionTimestamp"]
    # the same object not being deleted is not Progressing: the deletion alone decides
    alive = copy.deepcopy(obj)
    del alive["metadata"]["deletionTimestamp"]
    assert run_health(script(kind), alive)["status"] in {"Healthy", "Degraded"}
    assert run_health(script(kind), obj)["status"] == "Progressing"
    del obj["metadata"]["finalizers"]
    assert run_health(script(kind), obj) == {"status": "Progressing", "message": "Pending deletion"}


# --- resource actions in Argo CD's action_test.yaml format -------------------------------------


def action_tests(kind: str) -> dict:
    return yaml.safe_load((CUSTOMIZATIONS / kind / "actions" / "action_test.yaml").read_text())


DISCOVERY_CASES = [(kind, case) for kind in ACTION_KINDS for case in action_tests(kind)["discoveryTests"]]
ACTION_CASES = [(kind, case) for kind in ACTION_KINDS for case in action_tests(kind)["actionTests"]]


@pytest.mark.parametrize(
    "kind, case", DISCOVERY_CASES, ids=[f"{kind}/{case['inputPath']}" for kind, case in DISCOVERY_CASES]
)
def test_actions_offered_for_fixture(kind, case):
    obj = load_object(CUSTOMIZATIONS / kind / "actions" / case["inputPath"])
    assert discover_actions(shipped_actions(kind)["discovery"], obj) == sorted(case["result"], key=lambda a: a["name"])


@pytest.mark.parametrize(
    "kind, case", ACTION_CASES, ids=[f"{kind}/{case['action']}:{case['inputPath']}" for kind, case in ACTION_CASES]
)
def test_action_on_fixture(kind, case):
    directory = CUSTOMIZATIONS / kind / "actions"
    before = load_object(directory / case["inputPath"])
    # an action is only tested on an object it is offered for
    offered = {a["name"]: not a["disabled"] for a in discover_actions(shipped_actions(kind)["discovery"], before)}
    assert offered[case["action"]], f"{case['action']} is not offered for {case['inputPath']}"
    after = run_action(shipped_actions(kind)[case["action"]], before)
    assert after == load_object(directory / case["expectedOutputPath"])
    assert after != before


@pytest.mark.parametrize("kind", ACTION_KINDS)
def test_every_action_is_discovered_tested_and_shipped(kind):
    directory = CUSTOMIZATIONS / kind / "actions"
    tests = action_tests(kind)
    names = {p.parent.name for p in directory.glob("*/action.lua")}
    assert set(shipped_actions(kind)) == names | {"discovery"}
    assert {case["action"] for case in tests["actionTests"]} == names
    for case in tests["discoveryTests"]:
        assert {entry["name"] for entry in case["result"]} == names, case["inputPath"]
    # every action is both offered and refused by some fixture
    results = [(entry["name"], entry["disabled"]) for case in tests["discoveryTests"] for entry in case["result"]]
    assert {(name, disabled) for name in names for disabled in (True, False)} <= set(results)
    used = {case["inputPath"] for case in tests["discoveryTests"]} | {
        path for case in tests["actionTests"] for path in (case["inputPath"], case["expectedOutputPath"])
    }
    assert used == {f"testdata/{p.name}" for p in (directory / "testdata").glob("*.yaml")}
    for path in used:
        _is_valid_object(directory / path, next(s for s, info in KINDS.items() if info.kind == kind))


@pytest.mark.parametrize("kind", ACTION_KINDS)
def test_actions_are_refused_for_an_object_being_deleted(kind):
    directory = CUSTOMIZATIONS / kind / "actions"
    for case in action_tests(kind)["actionTests"]:
        obj = load_object(directory / case["inputPath"])
        obj["metadata"]["deletionTimestamp"] = ACTION_CLOCK
        assert all(a["disabled"] for a in discover_actions(shipped_actions(kind)["discovery"], obj))


# --- the generated argocd-cm patch ------------------------------------------------------------


def _renderer():
    spec = importlib.util.spec_from_file_location("render_argocd_cm", ARGOCD / "render_argocd_cm.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def test_argocd_cm_patch_is_not_stale():
    committed = (ARGOCD / "argocd-cm-patch.yaml").read_text()
    assert committed == _renderer().render(), (
        "manifests/argocd/argocd-cm-patch.yaml is stale: run .venv/bin/python manifests/argocd/render_argocd_cm.py"
    )


def test_argocd_cm_patch_carries_each_kinds_scripts_under_argo_cds_keys():
    patch = yaml.safe_load((ARGOCD / "argocd-cm-patch.yaml").read_text())
    assert (patch["apiVersion"], patch["kind"], patch["metadata"]) == ("v1", "ConfigMap", {"name": "argocd-cm"})
    health = {argocd_key(info.kind): (CUSTOMIZATIONS / info.kind / "health.lua").read_text() for info in ALL_KINDS}
    actions = {}
    for kind in ACTION_KINDS:
        directory = CUSTOMIZATIONS / kind / "actions"
        actions[argocd_actions_key(kind)] = {
            "discovery.lua": (directory / "discovery.lua").read_text(),
            "definitions": [
                {"name": p.parent.name, "action.lua": p.read_text()}
                for p in sorted(directory.glob("*/action.lua"), key=lambda p: p.parent.name)
            ],
        }
    assert {key: value for key, value in patch["data"].items() if key in health} == health
    assert {key: yaml.safe_load(value) for key, value in patch["data"].items() if key not in health} == actions


def test_check_mode_fails_on_a_stale_patch(tmp_path):
    command = [sys.executable, str(ARGOCD / "render_argocd_cm.py"), "--check"]
    assert subprocess.run(command, capture_output=True).returncode == 0
    stale = tmp_path / "argocd-cm-patch.yaml"
    stale.write_text((ARGOCD / "argocd-cm-patch.yaml").read_text().replace('"Degraded"', '"Healthy"', 1))
    result = subprocess.run([*command, "--output", str(stale)], capture_output=True, text=True)
    assert result.returncode == 1 and "stale" in result.stderr


# --- statuses the reconcilers really write ---------------------------------------------------

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
SETTINGS = Settings(dataset_wait_seconds=600, superseded_grace_seconds=30)
SHA_DATA, SHA_BAD, SHA_MODEL = "d" * 64, "e" * 64, "f" * 64


def merge_patch(target: dict, patch: dict) -> dict:
    """RFC 7386, as kopf writes status: None deletes a key, dicts merge, the rest replaces."""
    merged = copy.deepcopy(target)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_patch(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def after(body: dict, outcome) -> dict:
    """The object as the API server holds it once the outcome's status patch is applied."""
    return {**body, "status": merge_patch(body.get("status") or {}, json.loads(json.dumps(outcome.status)))}


def health(kind: str, obj: dict) -> tuple[str, str]:
    result = run_health(script(kind), obj)
    return result["status"], result["message"]


def _dataset(generation=1, status=None, refresh=None):
    spec = {
        "source": {"inline": {"rows": [{"x": 1}]}},
        "format": "csv",
        "schema": {"columns": [{"name": "x", "type": "integer"}]},
        "versionHistoryLimit": 3,
    }
    if refresh:
        spec["refreshInterval"] = refresh
    body = {
        "apiVersion": API_VERSION,
        "kind": "Dataset",
        "metadata": {"name": "credit", "namespace": "ml", "uid": "u-1", "generation": generation},
        "spec": spec,
    }
    if status is not None:
        body["status"] = status
    return body


def _ingest_result(sha, valid=True, violations=()):
    result = {
        "ok": True,
        "sha256": sha,
        "rows": 10,
        "valid": valid,
        "violations": list(violations),
        "violationCount": len(violations),
        "createdAt": "2026-01-05T11:59:00Z",
    }
    if valid:
        result["snapshotUri"] = f"file:///s/{sha}/data.parquet"
    return dict(job=JobState(finished=True, succeeded=True), termination={"message": json.dumps(result)})


FAILED_INGEST = dict(
    job=JobState(finished=True, succeeded=False, reason="BackoffLimitExceeded"),
    termination={
        "message": json.dumps(
            {"ok": False, "reason": "SourceNotFound", "message": "HTTP 404 from http://data.example/x.csv"}
        )
    },
)


def _reconciled_dataset(body, now=NOW, **observed):
    return after(body, reconcile_dataset(DatasetObservation(body, now, **observed), SETTINGS))


def test_dataset_health_through_its_lifecycle():
    ingesting = _reconciled_dataset(_dataset())
    assert health("dataset", ingesting)[0] == "Progressing"
    valid = _reconciled_dataset(ingesting, **_ingest_result(SHA_DATA))
    assert health("dataset", valid) == (
        "Healthy",
        f"VersionAvailable: latest valid version {SHA_DATA[:12]} has 10 rows",
    )
    assert health("dataset", _reconciled_dataset(ingesting, **FAILED_INGEST)) == (
        "Degraded",
        "SourceNotFound: HTTP 404 from http://data.example/x.csv",
    )
    invalid = _reconciled_dataset(ingesting, **_ingest_result(SHA_BAD, valid=False, violations=["x: 3 nulls"]))
    assert health("dataset", invalid) == ("Degraded", "InvalidData: x: 3 nulls")


def test_dataset_health_when_its_spec_changes_and_when_it_refreshes():
    valid = _reconciled_dataset(_reconciled_dataset(_dataset(refresh="1h")), **_ingest_result(SHA_DATA))
    edited = {**valid, "metadata": {**valid["metadata"], "generation": 2}}
    assert health("dataset", edited) == ("Progressing", "Waiting for the Ballast operator to observe generation 2")
    new_spec = _reconciled_dataset(edited)
    assert health("dataset", new_spec)[0] == "Progressing"
    assert "earlier spec" in health("dataset", new_spec)[1]
    assert health("dataset", _reconciled_dataset(new_spec, **FAILED_INGEST))[0] == "Degraded"
    assert health("dataset", _reconciled_dataset(new_spec, **_ingest_result(SHA_BAD, valid=False)))[0] == "Degraded"

    refreshing = _reconciled_dataset(valid, now=NOW + timedelta(hours=2))
    assert refreshing["status"]["ingest"]["refresh"] == 1
    assert health("dataset", refreshing)[0] == "Healthy"
    failed_refresh = _reconciled_dataset(refreshing, **FAILED_INGEST)
    assert health("dataset", failed_refresh) == (
        "Healthy",
        f"VersionAvailable: latest valid version {SHA_DATA[:12]} has 10 rows; "
        "the last refresh failed: SourceNotFound: HTTP 404 from http://data.example/x.csv",
    )


def _run(generation=1, status=None, created=NOW):
    body = {
        "apiVersion": API_VERSION,
        "kind": "TrainingRun",
        "metadata": {
            "name": "credit-1",
            "namespace": "ml",
            "uid": "u-9",
            "generation": generation,
            "creationTimestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "spec": {
            "model": "credit-risk",
            "datasetRef": {"name": "credit"},
            "estimator": "sklearn.linear_model.LogisticRegression",
            "evaluation": {"gates": {"minimums": {"accuracy": 0.9}}},
        },
    }
    if status is not None:
        body["status"] = status
    return body


DATASET = {
    "metadata": {"name": "credit"},
    "spec": {"schema": {"columns": [{"name": "x", "type": "float"}]}},
    "status": {
        "latestVersion": SHA_DATA,
        "versions": [
            {"sha256": SHA_DATA, "rows": 100, "valid": True, "snapshotUri": f"file:///s/{SHA_DATA}/data.parquet"}
        ],
    },
}


def _trained(passed=True):
    result = {
        "artifact": {"uri": f"file:///m/{SHA_MODEL}/model.skops", "sha256": SHA_MODEL},
        "passed": passed,
        "keyMetric": {"name": "accuracy", "value": 0.95 if passed else 0.61},
        "gates": [{"name": "minimum/accuracy", "passed": passed, "message": "" if passed else "accuracy 0.61 < 0.9"}],
    }
    return dict(job=JobState(finished=True, succeeded=True), termination={"message": json.dumps(result)})


def _reconciled_run(body, now=NOW, **observed):
    return after(body, reconcile_training_run(TrainingRunObservation(body, now, **observed), SETTINGS))


def test_training_run_health_through_its_lifecycle():
    waiting = _reconciled_run(_run(), dataset=None)
    assert health("trainingrun", waiting) == ("Progressing", "DatasetNotReady: Dataset credit does not exist; waiting")
    gave_up = _reconciled_run(_run(created=NOW - timedelta(minutes=11)), dataset=None)
    assert health("trainingrun", gave_up) == (
        "Degraded",
        "DatasetNotReady: Dataset credit does not exist; gave up waiting",
    )
    training = _reconciled_run(_run(), dataset=DATASET)
    assert health("trainingrun", training) == ("Progressing", f"Training: training on dataset version {SHA_DATA[:12]}")
    running = _reconciled_run(training, dataset=DATASET, job=JobState(finished=False, succeeded=False))
    assert health("trainingrun", running) == ("Progressing", "Training: Job credit-1-train is running")
    trained = _reconciled_run(running, dataset=DATASET, **_trained())
    assert health("trainingrun", trained) == (
        "Healthy",
        f"Trained: accuracy=0.95; registered ModelVersion credit-risk-{SHA_MODEL[:12]}",
    )
    assert health("trainingrun", _reconciled_run(running, dataset=DATASET, **_trained(passed=False))) == (
        "Degraded",
        "GateFailed: gate failed: accuracy 0.61 < 0.9",
    )
    deadline = _reconciled_run(running, job=JobState(True, False, "DeadlineExceeded", "too long"), termination=None)
    assert health("trainingrun", deadline) == (
        "Degraded",
        "DeadlineExceeded: the training Job ran past activeDeadlineSeconds: too long",
    )

    edited = _reconciled_run({**trained, "metadata": {**trained["metadata"], "generation": 2}})
    assert edited["status"]["observedGeneration"] == 2
    status, message = health("trainingrun", edited)
    assert status == "Healthy" and message.endswith(
        "(generation 1; later spec changes are not trained: create a new TrainingRun)"
    )


OK = Verification(ok=True, reason="Verified", message="sha256 verified; 9 trusted types")
BROKEN = Verification(ok=False, reason="DigestMismatch", message="expected f..., found 0...")
PRODUCTION = Sibling("iris-old", "Production", "2026-01-05T10:00:00Z", ready_replicas=2)


def _version(strategy="Canary", serving=True, generation=1, **rollout):
    spec = {
        "model": "iris",
        "artifact": {"uri": f"file:///m/{SHA_MODEL}/model.skops", "sha256": SHA_MODEL},
        "rollout": {"strategy": strategy, "steps": [20, 50], "analysisInterval": "1m", **rollout},
    }
    if serving:
        spec["serving"] = {"enabled": True, "replicas": 2}
    return {
        "apiVersion": API_VERSION,
        "kind": "ModelVersion",
        "metadata": {"name": "iris-new", "namespace": "ml", "uid": "u-new", "generation": generation},
        "spec": spec,
    }


def _traffic(requests, errors=0):
    return Sample(requests=requests, server_errors=errors, latency_buckets={0.005: requests, float("inf"): requests})


def _reconciled_version(body, verification=OK, siblings=(PRODUCTION,), ready=0, canary=None, now=NOW):
    samples = {"iris-new": canary, "iris-old": _traffic(2000)} if canary is not None else None
    outcome = reconcile_model_version(
        body,
        verification,
        now,
        siblings=list(siblings),
        deployment=DeploymentState(ready),
        settings=SETTINGS,
        samples=samples,
    )
    return after(body, outcome)


def test_model_version_health_through_a_manual_canary():
    body = _version(autoPromote=False)
    canary = _reconciled_version(body, canary=_traffic(0))
    assert (canary["status"]["stage"], health("modelversion", canary)) == (
        "Canary",
        ("Progressing", "Canary: step 1 of 2"),
    )
    step_two = _reconciled_version(canary, canary=_traffic(100), now=NOW + timedelta(minutes=2))
    assert step_two["status"]["canary"]["step"] == 1 and health("modelversion", step_two)[0] == "Progressing"
    waiting = _reconciled_version(step_two, canary=_traffic(200), now=NOW + timedelta(minutes=4))
    assert health("modelversion", waiting) == (
        "Suspended",
        "AwaitingApproval: every canary step passed; set spec.rollout.approved to true to promote",
    )

    approved = copy.deepcopy(waiting)
    approved["spec"]["rollout"]["approved"] = True
    approved["metadata"]["generation"] = 2
    assert health("modelversion", approved)[0] == "Progressing"
    promoted = _reconciled_version(approved, canary=_traffic(200), now=NOW + timedelta(minutes=5))
    assert promoted["status"]["stage"] == "Production"
    assert health("modelversion", promoted) == ("Healthy", "Serving: promoted after every canary step passed")


def test_model_version_health_of_failures():
    canary = _reconciled_version(_version(), canary=_traffic(0))
    rolled_back = _reconciled_version(canary, canary=_traffic(100, errors=30), now=NOW + timedelta(minutes=2))
    assert rolled_back["status"]["stage"] == "RolledBack"
    status, message = health("modelversion", rolled_back)
    assert status == "Degraded" and message.startswith("RolledBack: step 1 (20%): errorRate 0.3")

    failed = _reconciled_version(_version(), verification=BROKEN)
    assert (failed["status"]["stage"], health("modelversion", failed)) == (
        "Failed",
        ("Degraded", "DigestMismatch: expected f..., found 0..."),
    )
    serving = _reconciled_version(_version(strategy="Immediate"), siblings=(), ready=2)
    assert health("modelversion", serving) == ("Healthy", "Serving: 2 of 2 replicas ready")
    assert health("modelversion", _reconciled_version(serving, siblings=(), ready=1)) == (
        "Degraded",
        "ReplicasUnavailable: 1 of 2 replicas ready",
    )
    assert (
        health("modelversion", _reconciled_version(serving, verification=BROKEN, siblings=(), ready=2))[0] == "Degraded"
    )
    assert health("modelversion", _reconciled_version(canary, verification=BROKEN, canary=_traffic(5)))[0] == "Degraded"


def test_model_version_health_while_waiting_and_when_replaced():
    deploying = _reconciled_version(_version(strategy="Immediate"), siblings=(), ready=0)
    assert health("modelversion", deploying) == ("Progressing", "Deploying: 0 of 2 replicas ready")
    queued = _reconciled_version(_version(), siblings=(PRODUCTION, Sibling("iris-c", "Canary", None, 1)))
    assert health("modelversion", queued) == ("Progressing", "Queued: iris-c is the model's canary; this version waits")
    serving = _reconciled_version(_version(strategy="Immediate"), siblings=(), ready=2)
    newer = Sibling("iris-newer", "Production", "2026-01-05T13:00:00Z", ready_replicas=2)
    superseded = _reconciled_version(serving, siblings=(newer,), ready=2, now=NOW + timedelta(hours=1))
    assert health("modelversion", superseded) == ("Healthy", "Superseded: iris-newer is in Production")
    registered = _reconciled_version(_version(serving=False), siblings=())
    assert health("modelversion", registered) == ("Healthy", "Registered: serving is not enabled for this version")


# --- the actions' edits, as the reconciler takes them -------------------------------------------


def act(action: str, obj: dict) -> dict:
    """A ModelVersion action run as Argo CD runs it, after checking it is offered; the API server
    bumps the generation of a spec change."""
    offered = {
        a["name"]: not a["disabled"] for a in discover_actions(shipped_actions("ModelVersion")["discovery"], obj)
    }
    assert offered[action], f"{action} is not offered"
    changed = run_action(shipped_actions("ModelVersion")[action], obj)
    if changed["spec"] != obj["spec"]:
        changed["metadata"]["generation"] += 1
    return changed


def test_approve_promotes_the_canary_that_awaits_approval():
    canary = _reconciled_version(_version(autoPromote=False), canary=_traffic(0))
    step_two = _reconciled_version(canary, canary=_traffic(100), now=NOW + timedelta(minutes=2))
    waiting = _reconciled_version(step_two, canary=_traffic(200), now=NOW + timedelta(minutes=4))
    assert health("modelversion", waiting)[0] == "Suspended"
    approved = act("approve", waiting)
    promoted = _reconciled_version(approved, canary=_traffic(200), now=NOW + timedelta(minutes=5))
    assert promoted["status"]["stage"] == "Production"
    assert health("modelversion", promoted)[0] == "Healthy"


def test_abort_supersedes_the_canary_and_leaves_production_alone():
    canary = _reconciled_version(_version(), canary=_traffic(0))
    assert canary["status"]["stage"] == "Canary"
    outcome = reconcile_model_version(
        act("abort", canary),
        OK,
        NOW + timedelta(minutes=1),
        siblings=[PRODUCTION],
        deployment=DeploymentState(1),
        settings=SETTINGS,
        samples=None,
    )
    assert outcome.status["stage"] == "Superseded"
    aborted = after(act("abort", canary), outcome)
    assert health("modelversion", aborted) == ("Healthy", "Registered: serving is not enabled for this version")


def test_rollback_brings_a_superseded_version_back():
    serving = _reconciled_version(_version(strategy="Immediate"), siblings=(), ready=2)
    newer = Sibling("iris-newer", "Production", "2026-01-05T12:30:00Z", ready_replicas=2)
    superseded = _reconciled_version(serving, siblings=(newer,), ready=2, now=NOW + timedelta(minutes=30))
    assert superseded["status"]["stage"] == "Superseded"
    requested = act("rollback", superseded)  # at ACTION_CLOCK, 13:00
    back = _reconciled_version(requested, siblings=(newer,), ready=2, now=NOW + timedelta(hours=1, minutes=1))
    assert back["status"]["stage"] == "Production"
    assert health("modelversion", back)[0] == "Healthy"
