"""engines/dask: the Dask operator's Dockerfile, lock and Helm values, checked without a container
engine or a cluster (tests/integration/test_dask_engine.py builds, installs and runs them)."""

from __future__ import annotations

import re

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.dask_engine import dask_cluster, dask_job
from tests.support.kube import REPO
from tests.unit.test_dockerfile import pip_commands, stages
from tests.unit.test_lock import LOCK, parse_lock, stale

ENGINE = REPO / "engines" / "dask"
REQUIREMENTS_IN = [
    line.strip() for line in (ENGINE / "requirements.in").read_text().splitlines() if line.strip()[:1].isalpha()
]


@pytest.fixture(scope="module")
def engine_pins():
    return parse_lock((ENGINE / "requirements.lock").read_text())


def test_the_engines_lock_pins_its_requirements_exactly_with_hashes(engine_pins):
    assert all("==" in r for r in REQUIREMENTS_IN), "requirements.in pins exact versions"
    assert stale(REQUIREMENTS_IN, ">=3.11", engine_pins, direct_via=False) == [], (
        "engines/dask/requirements.lock is stale: run make lock"
    )


def test_both_images_pin_the_same_dask_and_distributed(engine_pins):
    # a client, scheduler and workers of different releases refuse or misread each other
    ballast = {p.name: p.version for p in parse_lock(LOCK.read_text())}
    engine = {p.name: p.version for p in engine_pins}
    for name in ("dask", "distributed"):
        assert ballast[name] == engine[name], name
    wanted = {canonicalize_name(Requirement(r).name) for r in REQUIREMENTS_IN}
    assert {"dask-kubernetes", "dask", "distributed"} <= wanted


def test_the_operator_image_installs_the_lock_by_hash_and_runs_as_non_root():
    builder, final = stages((ENGINE / "Dockerfile").read_text())
    assert builder.image == final.image == "${BASE_IMAGE}"
    installs = [argv for argv in pip_commands(builder) if argv[1] == "install"]
    assert installs and all({"--require-hashes", "--only-binary=:all:"} <= set(argv) for argv in installs)
    assert final.all("COPY") == ["--from=builder /opt/dask-operator /opt/dask-operator"]
    assert final.all("USER") == ["65532:65532"]
    # what the upstream image runs; the chart passes kopf's arguments
    assert final.all("ENTRYPOINT") == ['["kopf", "run", "-m", "dask_kubernetes.operator.controller"]']


def test_values_are_namespaced_and_restricted():
    values = yaml.safe_load((ENGINE / "values.yaml").read_text())
    assert values["rbac"] == {"create": True, "cluster": False}
    assert "--all-namespaces" not in values["kopfArgs"]
    pod, container = values["podSecurityContext"], values["securityContext"]
    assert pod["runAsNonRoot"] and pod["runAsUser"] == 65532
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["allowPrivilegeEscalation"] is False and container["capabilities"] == {"drop": ["ALL"]}
    assert container["readOnlyRootFilesystem"] is True
    assert {"name": "tmp", "mountPath": "/tmp"} in values["volumeMounts"]


def test_the_tests_dask_pods_are_restricted_and_reach_a_headless_scheduler():
    cluster = dask_cluster("c", "img", workers=2)["spec"]
    job = dask_job("j", "img", workers=2, script="pass")["spec"]
    specs = [cluster["scheduler"]["spec"], cluster["worker"]["spec"], job["job"]["spec"]]
    for spec in specs:
        assert spec["securityContext"]["runAsNonRoot"] and spec["securityContext"]["seccompProfile"]
        (container,) = spec["containers"]
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert cluster["scheduler"]["service"]["clusterIP"] == "None"
    assert job["cluster"]["spec"]["scheduler"]["service"]["clusterIP"] == "None"
    assert re.fullmatch(r"dask worker --name \$\(DASK_WORKER_NAME\).*", " ".join(specs[1]["containers"][0]["command"]))
