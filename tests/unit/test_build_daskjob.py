"""The DaskJob a run with spec.compute trains in: owned by the run, labelled as its Job, every pod
restricted, the store only where it is used."""

import json

from ballast.build.daskjob import DEFAULT_WORKER_RESOURCES, MEMORY_LIMIT_ENV, build_dask_job, dask_job_name
from ballast.build.pods import SCRATCH_DIR
from ballast.build.security import restricted_container_security_context, restricted_pod_security_context
from ballast.settings import Settings

FILE_STORE = Settings(
    image="registry/ballast@sha256:" + "a" * 64, store_uri="file:///var/lib/ballast", store_secret="creds"
)


def run(compute=None, resources=None):
    spec = {
        "model": "churn",
        "datasetRef": {"name": "events"},
        "estimator": "sklearn.linear_model.SGDClassifier",
        "compute": compute or {"engine": "dask", "workers": 3},
    }
    if resources:
        spec["resources"] = resources
    return {
        "apiVersion": "ballast.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": "churn-7", "namespace": "team-a", "uid": "u-7"},
        "spec": spec,
    }


def pods(dask_job):
    cluster = dask_job["spec"]["cluster"]["spec"]
    return {
        "runner": dask_job["spec"]["job"]["spec"],
        "scheduler": cluster["scheduler"]["spec"],
        "worker": cluster["worker"]["spec"],
    }


def env(container):
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def mounts(container):
    return {m["name"]: m for m in container["volumeMounts"]}


def test_the_dask_job_is_owned_by_the_run_and_labelled_as_its_training_job():
    job = build_dask_job(run(), inputs={"spec": {}}, settings=FILE_STORE)
    assert (job["apiVersion"], job["kind"]) == ("kubernetes.dask.org/v1", "DaskJob")
    assert job["metadata"]["name"] == "churn-7-dask" and job["metadata"]["namespace"] == "team-a"
    [owner] = job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("TrainingRun", "u-7", True)
    labels = job["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "training" and labels["app.kubernetes.io/instance"] == "churn-7"
    assert labels["ballast.dev/model"] == "churn"


def test_a_long_run_name_gives_a_dask_job_name_the_operators_derived_names_fit():
    name = dask_job_name("r" * 63)
    assert len(name) <= 37 and len(f"{name}-default-worker-0123456789") <= 63
    assert dask_job_name("r" * 63) == name


def test_every_pod_is_restricted_with_a_read_only_root_and_dask_on_the_scratch_directory():
    for role, pod in pods(build_dask_job(run(), inputs={}, settings=FILE_STORE)).items():
        assert pod["securityContext"] == restricted_pod_security_context(), role
        assert pod["automountServiceAccountToken"] is False
        [container] = pod["containers"]
        assert container["securityContext"] == restricted_container_security_context(), role
        assert container["image"] == FILE_STORE.image
        assert env(container)["HOME"] == env(container)["DASK_TEMPORARY_DIRECTORY"] == SCRATCH_DIR, role
        assert mounts(container)["scratch"]["mountPath"] == SCRATCH_DIR


def test_the_runner_trains_with_the_runs_inputs_and_resources_and_writes_to_the_store():
    inputs = {"spec": {"compute": {"engine": "dask"}}, "dataset": {"sha256": "d" * 64}}
    job = build_dask_job(run(resources={"limits": {"memory": "3Gi"}}), inputs=inputs, settings=FILE_STORE)
    runner = pods(job)["runner"]
    assert runner["restartPolicy"] == "Never"
    [container] = runner["containers"]
    assert (container["command"], container["args"]) == (["ballast"], ["train"])
    assert json.loads(env(container)["BALLAST_RUN_INPUTS"]) == inputs
    assert env(container)["BALLAST_IMAGE_DIGEST"] == "sha256:" + "a" * 64
    assert env(container)["BALLAST_STORE_URI"] == "file:///var/lib/ballast/team-a"
    assert "readOnly" not in mounts(container)["artifact-store"]
    assert container["resources"] == {"limits": {"memory": "3Gi"}}
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_workers_read_the_store_read_only_with_its_credentials_and_the_scheduler_not_at_all():
    compute = {"engine": "dask", "workers": 4, "workerResources": {"limits": {"memory": "4Gi", "cpu": "2"}}}
    job = build_dask_job(run(compute), inputs={}, settings=FILE_STORE)
    worker_group = job["spec"]["cluster"]["spec"]["worker"]
    assert worker_group["replicas"] == 4
    [worker] = worker_group["spec"]["containers"]
    assert worker["command"][:2] == ["dask", "worker"] and "--nthreads" in worker["command"]
    assert mounts(worker)["artifact-store"]["readOnly"] is True
    assert {"secretRef": {"name": "creds"}} in worker["envFrom"]
    assert worker["resources"] == {"limits": {"memory": "4Gi", "cpu": "2"}}
    # Dask's own memory limit is the container's, not its share of the node's cores
    assert worker["command"][-2:] == ["--memory-limit", f"$({MEMORY_LIMIT_ENV})"]
    limit = {"resourceFieldRef": {"containerName": "worker", "resource": "limits.memory"}}
    assert env(worker)[MEMORY_LIMIT_ENV] == limit
    scheduler_pod = pods(job)["scheduler"]
    [scheduler] = scheduler_pod["containers"]
    assert scheduler["command"] == ["dask", "scheduler"]
    assert "artifact-store" not in mounts(scheduler) and "BALLAST_STORE_URI" not in env(scheduler)
    assert "envFrom" not in scheduler
    assert [v["name"] for v in scheduler_pod["volumes"]] == ["scratch"]
    assert scheduler["readinessProbe"]["httpGet"] == {"port": "http-dashboard", "path": "/health"}
    service = job["spec"]["cluster"]["spec"]["scheduler"]["service"]
    assert service["clusterIP"] == "None"
    assert service["selector"] == {"dask.org/cluster-name": "churn-7-dask", "dask.org/component": "scheduler"}


def test_workers_without_resources_get_the_operators_defaults():
    [worker] = build_dask_job(run(), inputs={}, settings=FILE_STORE)["spec"]["cluster"]["spec"]["worker"]["spec"][
        "containers"
    ]
    assert worker["resources"] == DEFAULT_WORKER_RESOURCES
