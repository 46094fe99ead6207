"""The `ballast` command: one entry point for every role Ballast's image plays."""

from __future__ import annotations

import os
from datetime import UTC
from typing import TYPE_CHECKING

import click

from ballast import __version__
from ballast.leadership.config import enabled_by_default

if TYPE_CHECKING:
    from ballast.store import ArtifactStore


@click.group()
@click.version_option(__version__, prog_name="ballast")
def main() -> None:
    """Ballast: keeps machine-learning models behaving well on Kubernetes."""


@main.command()
@click.option(
    "--namespace",
    "-n",
    "namespaces",
    multiple=True,
    help="Watch only this namespace (repeatable); every namespace when not given.",
)
@click.option(
    "--bind-address",
    default=lambda: os.environ.get("BALLAST_BIND_ADDRESS", "0.0.0.0"),
    show_default="$BALLAST_BIND_ADDRESS or 0.0.0.0",
    help="Address of the health and metrics servers (the pod IP in a cluster).",
)
@click.option("--health-port", default=8080, show_default=True, type=int)
@click.option("--metrics-port", default=9090, show_default=True, type=int)
@click.option("--verbose", "-v", is_flag=True)
@click.option(
    "--leader-election/--no-leader-election",
    default=lambda: enabled_by_default(os.environ),
    show_default="on unless $BALLAST_LEADER_ELECTION=false",
    help="Reconcile only while holding the leader Lease, so that replicas never both write.",
)
def operator(
    namespaces: tuple[str, ...],
    bind_address: str,
    health_port: int,
    metrics_port: int,
    verbose: bool,
    leader_election: bool,
) -> None:
    """Run the Ballast operator."""
    from ballast.controller import OperatorOptions, run_operator

    run_operator(
        OperatorOptions(
            namespaces=namespaces or tuple(filter(None, os.environ.get("BALLAST_NAMESPACES", "").split(","))),
            bind_address=bind_address,
            health_port=health_port,
            metrics_port=metrics_port,
            verbose=verbose,
            leader_election=leader_election,
        )
    )


# The pod commands parse their own flags (each with an environment fallback, so a Job can
# pass everything through env), so click hands them the arguments untouched.
_POD_COMMAND = {"context_settings": {"ignore_unknown_options": True, "help_option_names": []}}


@main.command(**_POD_COMMAND)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def ingest(args: tuple[str, ...]) -> None:
    """Ingest a Dataset's source into a versioned snapshot (the ingest Job's pod)."""
    from ballast.runtime.ingest import main as ingest_main

    raise SystemExit(ingest_main(list(args)))


@main.command(**_POD_COMMAND)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def train(args: tuple[str, ...]) -> None:
    """Train one TrainingRun and register its artifact (the training Job's pod)."""
    from ballast.runtime.train import run_train

    raise SystemExit(run_train(list(args)))


@main.command(**_POD_COMMAND)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def serve(args: tuple[str, ...]) -> None:
    """Serve one ModelVersion over the Open Inference Protocol (the serving pods)."""
    from ballast.runtime.serve import run_serve

    raise SystemExit(run_serve(list(args)))


_NAMESPACE = click.option("--namespace", "-n", default=None, help="Namespace (the kubeconfig's when not given).")


@main.command()
@click.argument("model")
@_NAMESPACE
def runs(model: str, namespace: str | None) -> None:
    """Compare the TrainingRuns of MODEL: params and metrics side by side."""
    from ballast.api.kinds import TRAINING_RUN
    from ballast.commands import api
    from ballast.commands.runs import runs_table

    objects = api.custom_objects()
    click.echo(runs_table(api.list_all(objects, namespace or api.current_namespace(), TRAINING_RUN.plural), model))


@main.command()
@click.argument("modelversion")
@_NAMESPACE
@click.option(
    "--store",
    "store_uri",
    envvar="BALLAST_STORE_URI",
    default=None,
    help="The store's root URI as the operator has it, to read the source the dataset version's "
    "metadata.json records; without it, the Dataset's current source is shown. Default $BALLAST_STORE_URI.",
)
def lineage(modelversion: str, namespace: str | None, store_uri: str | None) -> None:
    """Print the chain from a ModelVersion's dataset source to its artifact."""
    from ballast.api.kinds import DATASET, MODEL_VERSION, TRAINING_RUN
    from ballast.commands import api
    from ballast.commands.lineage import lineage_lines, read_recorded_source

    objects, namespace = api.custom_objects(), namespace or api.current_namespace()
    version = api.get(objects, namespace, MODEL_VERSION.plural, modelversion)
    if version is None:
        raise click.ClickException(f"ModelVersion {modelversion} not found in namespace {namespace}")
    source = version["spec"].get("source") or {}
    run = api.get(objects, namespace, TRAINING_RUN.plural, source["trainingRun"]) if source.get("trainingRun") else None
    dataset_name = (source.get("dataset") or {}).get("name")
    dataset = api.get(objects, namespace, DATASET.plural, dataset_name) if dataset_name else None
    recorded = (
        read_recorded_source(_namespace_store(store_uri, namespace), version) if store_uri and dataset_name else None
    )
    click.echo("\n".join(lineage_lines(version, run, dataset, recorded)))


@main.command()
@click.argument("modelversion")
@_NAMESPACE
@click.option("--timeout", default=900, show_default=True, help="Seconds to wait for the run to finish.")
def reproduce(modelversion: str, namespace: str | None, timeout: int) -> None:
    """Train MODELVERSION again from its recorded inputs and check the artifact's sha256."""
    from ballast.api.kinds import GROUP, MODEL_VERSION, TRAINING_RUN, VERSION
    from ballast.client import Client, TrainingRun, WaitFailed, WaitTimeout
    from ballast.commands import api
    from ballast.commands.reproduce import NotReproducible, reproduction_run, verdict
    from ballast.conditions import ConditionType

    objects, namespace = api.custom_objects(), namespace or api.current_namespace()
    version = api.get(objects, namespace, MODEL_VERSION.plural, modelversion)
    if version is None:
        raise click.ClickException(f"ModelVersion {modelversion} not found in namespace {namespace}")
    try:
        run = reproduction_run(version)
    except NotReproducible as error:
        raise click.ClickException(str(error)) from None
    name = run["metadata"]["name"]
    if api.get(objects, namespace, TRAINING_RUN.plural, name) is None:
        objects.create_namespaced_custom_object(GROUP, VERSION, namespace, TRAINING_RUN.plural, run)
        click.echo(f"created TrainingRun {name}; waiting for it to finish")
    try:
        finished = Client(namespace).wait_for(TrainingRun, name, condition=ConditionType.SUCCEEDED, timeout=timeout)
    except WaitFailed as failed:  # a failed run is finished too: verdict says why it differs
        finished = failed.last
    except WaitTimeout:
        raise click.ClickException(f"TrainingRun {name} did not finish within {timeout}s") from None
    same, message = verdict(version, finished.model_dump(by_alias=True, exclude_none=True, mode="json"))
    click.echo(message)
    raise SystemExit(0 if same else 1)


@main.command()
@click.argument("model")
@click.option("--to", "to", default=None, help="The ModelVersion to bring back (default: the previous Production).")
@_NAMESPACE
@click.option("--timeout", default=300, show_default=True, help="Seconds to wait for the switch.")
def rollback(model: str, to: str | None, namespace: str | None, timeout: int) -> None:
    """Bring an earlier version of MODEL back to Production, without failed requests."""
    import time

    from ballast.api.kinds import GROUP, MODEL_VERSION, VERSION
    from ballast.commands import api
    from ballast.commands.rollback import NoRollbackTarget, rollback_patch, rollback_target
    from ballast.conditions import now_rfc3339

    objects, namespace = api.custom_objects(), namespace or api.current_namespace()
    try:
        target = rollback_target(api.list_all(objects, namespace, MODEL_VERSION.plural), model, to)
    except NoRollbackTarget as error:
        raise click.ClickException(str(error)) from None
    name = target["metadata"]["name"]
    objects.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, MODEL_VERSION.plural, name, rollback_patch(now_rfc3339())
    )
    click.echo(f"requested rollback of {model} to {name}; waiting for its pods")
    deadline = time.monotonic() + timeout
    while (api.get(objects, namespace, MODEL_VERSION.plural, name) or {}).get("status", {}).get(
        "stage"
    ) != "Production":
        if time.monotonic() > deadline:
            raise click.ClickException(f"{name} did not reach Production within {timeout}s")
        time.sleep(1)
    click.echo(f"{name} is in Production")


_STORE = click.option(
    "--store",
    "store_uri",
    envvar="BALLAST_STORE_URI",
    required=True,
    help="The store's root URI as the operator has it (s3://bucket/prefix, or file:// where the "
    "store is mounted at the operator's path); default $BALLAST_STORE_URI.",
)


def _store(store_uri: str) -> ArtifactStore:
    from ballast.store import ArtifactStore

    try:
        return ArtifactStore(store_uri, environ=os.environ)
    except ValueError as error:
        raise click.ClickException(f"unusable --store {store_uri!r}: {error}") from None


def _namespace_store(store_uri: str, namespace: str) -> ArtifactStore:
    from ballast.store import StoreError
    from ballast.store.layout import namespace_store_uri

    try:
        return _store(namespace_store_uri(store_uri, namespace))
    except (ValueError, StoreError) as error:
        raise click.ClickException(f"unusable --store {store_uri!r}: {error}") from None


@main.command()
@click.option(
    "--namespace", "-n", "namespaces", multiple=True, help="Namespace (repeatable; the kubeconfig's when not given)."
)
@click.option(
    "--all-namespaces",
    "-A",
    "all_namespaces",
    is_flag=True,
    help="Every namespace with a part in the store (its top-level directories), each on its own.",
)
@_STORE
@click.option(
    "--keep-versions",
    default=None,
    type=click.IntRange(min=1),
    show_default="as a Dataset's default versionHistoryLimit",
    help="Keep the newest N versions of each Dataset and of each model, referenced or not.",
)
@click.option("--older-than", default=None, help="Delete only what was written longer ago (30d, 720h).")
@click.option("--apply", "apply", is_flag=True, help="Delete; without it, only print what would be deleted.")
@click.option("--verbose", "-v", is_flag=True, help="Also list what is kept, and why.")
def gc(
    namespaces: tuple[str, ...],
    all_namespaces: bool,
    store_uri: str,
    keep_versions: int | None,
    older_than: str | None,
    apply: bool,
    verbose: bool,
) -> None:
    """Delete the store's dataset versions and model artifacts that nothing references (dry run first).

    One report per namespace; exits 1 when any namespace was refused or could not be read,
    after the others were collected."""
    import functools
    from datetime import datetime

    from kubernetes.client.exceptions import ApiException

    from ballast.commands import api
    from ballast.commands import gc as collect
    from ballast.lifecycle.retention import DEFAULT_KEEP_VERSIONS, Retention
    from ballast.store import StoreError

    try:
        retention = Retention(
            keep_versions=keep_versions or DEFAULT_KEEP_VERSIONS,
            older_than=collect.parse_retention_age(older_than) if older_than else None,
        )
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--older-than") from None
    if all_namespaces and namespaces:
        raise click.UsageError("--all-namespaces and --namespace exclude each other")
    if all_namespaces:
        try:
            namespaces = tuple(collect.store_namespaces(_store(store_uri)))
        except StoreError as error:
            raise click.ClickException(f"listing the store's namespaces failed: {error}") from None
        click.echo(f"{len(namespaces)} namespaces in {store_uri}: {', '.join(namespaces) or '-'}")
    elif not namespaces:
        namespaces = (api.current_namespace(),)
    objects, now, failed = api.custom_objects(), datetime.now(UTC), []
    for namespace in namespaces:
        store = _namespace_store(store_uri, namespace)
        try:
            outcome = collect.collect_namespace(
                namespace,
                store,
                functools.partial(collect.read_live_objects, objects, namespace),
                retention,
                now,
                apply=apply,
                verbose=verbose,
            )
        except (StoreError, ApiException) as error:
            failed.append(namespace)
            click.echo(f"namespace {namespace}: not collected: {_reason(error)}")
            continue
        failed += [namespace] if outcome.refusal else []
        click.echo(f"namespace {namespace}:\n{outcome.report}")
    if failed:
        raise click.ClickException(f"gc was refused or failed in {len(failed)} namespaces: {', '.join(failed)}")


def _reason(error: Exception) -> str:
    """An API error's status and reason (not its whole response body), or the store's message."""
    status = getattr(error, "status", None)
    return f"the API answered {status} {getattr(error, 'reason', '')}".rstrip() if status else str(error)


@main.group()
def erase() -> None:
    """Erase data from the store explicitly (after listing what it invalidates)."""


@erase.command("dataset")
@click.argument("name")
@click.option("--version", "sha256", required=True, help="The version's sha256.")
@_NAMESPACE
@_STORE
@click.option("--force", is_flag=True, help="Erase even when a model trained on it is in Production.")
@click.option("--apply", "apply", is_flag=True, help="Delete; without it, only print what it would invalidate.")
def erase_dataset(name: str, sha256: str, namespace: str | None, store_uri: str, force: bool, apply: bool) -> None:
    """Delete one dataset version's snapshot, profile and metadata from the store."""
    from ballast.commands import api
    from ballast.commands import erase as erasing
    from ballast.commands.gc import read_live_objects
    from ballast.lifecycle.erasure import plan_erasure

    namespace = namespace or api.current_namespace()
    store = _namespace_store(store_uri, namespace)
    try:
        plan = plan_erasure(read_live_objects(api.custom_objects(), namespace), name, sha256.lower(), force=force)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--version") from None
    stored = erasing.stored_version_of(store, plan)
    applied = apply and not plan.refusal
    if applied:
        erasing.erase(store, plan)
    click.echo(erasing.report(plan, stored, applied=applied))
    if plan.refusal:
        raise SystemExit(1)
