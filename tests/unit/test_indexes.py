from ballast.handlers.indexes import dataset_as_read_by_others

SPEC = {
    "source": {"inline": {"rows": [{"x": float(r)} for r in range(1000)]}},
    "schema": {"columns": [{"name": "x", "type": "float"}]},
    "versionHistoryLimit": 3,
}
STATUS = {"latestVersion": "a" * 64, "versions": [{"sha256": "a" * 64, "rows": 1000, "valid": True}]}


def test_the_index_keeps_what_runs_and_policies_read_of_a_dataset_but_not_its_rows():
    entry = dataset_as_read_by_others("team", "ds", "uid-1", SPEC, STATUS)
    assert entry == {
        "metadata": {"name": "ds", "namespace": "team", "uid": "uid-1"},
        "spec": {"schema": SPEC["schema"], "versionHistoryLimit": 3},
        "status": STATUS,
    }


def test_every_index_function_runs_on_the_event_loop_not_in_kopfs_thread_pool():
    import inspect

    import kopf

    import ballast.handlers.indexes  # noqa: F401 - registers the indexes

    functions = [handler.fn for handler in kopf.get_default_registry()._indexing.get_all_handlers()]
    assert len(functions) >= 16
    assert [f.__name__ for f in functions if not inspect.iscoroutinefunction(f)] == []


def _pod(labels, terminated=None):
    status = {"containerStatuses": [{"state": {"terminated": terminated}}]} if terminated else {}
    return {"namespace": "ml", "name": "p", "labels": labels, "status": status, "meta": {}}


def test_a_dask_jobs_runner_pod_carries_the_result_by_the_dask_jobs_name_and_its_cluster_pods_do_not():
    import asyncio

    from ballast.handlers.indexes import ballast_job_pods, engine_pods

    ended = {"exitCode": 0, "message": "{}", "finishedAt": "t"}
    runner = {"dask.org/cluster-name": "r-dask", "dask.org/component": "job-runner"}
    worker = {"dask.org/cluster-name": "r-dask", "dask.org/component": "worker"}
    assert asyncio.run(ballast_job_pods(**_pod(runner, ended)))[("ml", "r-dask")]["exitCode"] == 0
    assert asyncio.run(ballast_job_pods(**_pod(worker, ended))) == {}
    job_pod = {"batch.kubernetes.io/job-name": "r-train"}
    assert ("ml", "r-train") in asyncio.run(ballast_job_pods(**_pod(job_pod, ended)))
    assert asyncio.run(engine_pods(**_pod(worker))) == {("ml", "r-dask"): "p"}


def test_no_index_watches_an_engines_own_kinds_which_a_cluster_may_not_serve():
    import kopf

    import ballast.handlers.indexes  # noqa: F401 - registers the indexes

    groups = {handler.selector.group for handler in kopf.get_default_registry()._indexing.get_all_handlers()}
    assert "kubernetes.dask.org" not in groups
