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
