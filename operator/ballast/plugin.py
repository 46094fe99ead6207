"""The commands for people, as `kubectl ballast <verb>` (kubectl finds the `kubectl-ballast`
executable on PATH) and as `ballast <verb>`: kubectl's connection and output flags, and one-line
errors with documented exit codes (ballast.commands.errors, docs/cli.md).

Imports are inside the commands: `--help` and each verb load only what they use."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from datetime import UTC
from typing import TYPE_CHECKING, Any

import click

from ballast import __version__
from ballast.cards.version_card import OUTPUT_KINDS as CARD_FORMATS
from ballast.commands.errors import CommandError, ExitCode, reports_cluster_errors
from ballast.commands.output import OutputFormat, output_option, render

if TYPE_CHECKING:
    from ballast.commands.api import Cluster, Target
    from ballast.commands.rollout_requests import Request
    from ballast.store import ArtifactStore

PROG_NAME = "kubectl ballast"


@click.group(name="kubectl-ballast")
@click.version_option(__version__, prog_name=PROG_NAME)
def plugin() -> None:
    """Ballast's models, versions and rollouts, from kubectl."""


def main() -> None:
    """The `kubectl-ballast` executable."""
    plugin(prog_name=PROG_NAME)


def _targeting(function: Callable[..., Any], *, namespaced: bool) -> Callable[..., Any]:
    """The command gets `target` in place of the connection (and namespace) flags, and the
    failures reaching the API server become one-line errors."""

    @click.option(
        "--kubeconfig", default=None, help="The kubeconfig file ($KUBECONFIG or ~/.kube/config when not given)."
    )
    @click.option("--context", default=None, help="The kubeconfig context (its current-context when not given).")
    @functools.wraps(function)
    def with_target(*args: Any, kubeconfig: str | None, context: str | None, **kwargs: Any) -> Any:
        from ballast.commands.api import Target

        namespace = kwargs.pop("namespace", None) if namespaced else None
        all_namespaces = kwargs.pop("all_namespaces", False) if namespaced else False
        if namespace and all_namespaces:
            raise click.UsageError("--namespace and --all-namespaces exclude each other")
        target = Target(kubeconfig, context, namespace, all_namespaces)
        return reports_cluster_errors(function)(*args, target=target, **kwargs)

    return with_target


def connection_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """--kubeconfig and --context as kubectl takes them (for a command with namespace flags of its own)."""
    return _targeting(function, namespaced=False)


_namespace_option = click.option(
    "--namespace", "-n", "namespace", default=None, help="The namespace (the context's when not given)."
)


def one_namespace_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """--kubeconfig, --context and -n/--namespace, for a verb that works in one namespace."""
    return _namespace_option(_targeting(function, namespaced=True))


def target_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """--kubeconfig, --context, -n/--namespace and -A/--all-namespaces as kubectl takes them; for
    a named object, -A finds it in whichever namespace has it."""
    function = _targeting(function, namespaced=True)
    function = click.option(
        "--all-namespaces", "-A", "all_namespaces", is_flag=True, help="Every namespace the credentials can read."
    )(function)
    return _namespace_option(function)


def _connect(target: Target) -> Cluster:
    from ballast.commands.api import connect

    return connect(target)


def _find(cluster: Cluster, plural: str, name: str, kind: str) -> dict:
    from ballast.commands.api import AmbiguousName, find

    try:
        found = find(cluster, plural, name)
    except AmbiguousName as error:
        raise click.UsageError(str(error)) from None
    if found is None:
        where = f"namespace {cluster.namespace}" if cluster.namespace else "any namespace"
        raise CommandError(f"not found: {kind} {name} in {where}", ExitCode.NOT_FOUND)
    return found


def _model_versions(cluster: Cluster, model: str) -> tuple[str, list[dict]]:
    """The model's namespace and the ModelVersions there (with -A, the one namespace that has the model)."""
    from ballast.api.kinds import MODEL_VERSION
    from ballast.commands.api import list_all

    versions = [
        v for v in list_all(cluster.objects, cluster.namespace, MODEL_VERSION.plural) if v["spec"]["model"] == model
    ]
    namespaces = sorted({v["metadata"]["namespace"] for v in versions})
    if not namespaces:
        where = f"namespace {cluster.namespace}" if cluster.namespace else "any namespace"
        raise CommandError(f"not found: no ModelVersions of model {model} in {where}", ExitCode.NOT_FOUND)
    if len(namespaces) > 1:
        raise click.UsageError(f"model {model} is in several namespaces ({', '.join(namespaces)}): name one with -n")
    return namespaces[0], versions


# ---- status -------------------------------------------------------------------------------


@plugin.command()
@click.argument("model", required=False)
@target_options
@output_option
@click.option("--watch", "-w", is_flag=True, help="Show the status again each time it changes (Ctrl-C ends).")
@click.option(
    "--interval",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds between reads with --watch.",
)
def status(model: str | None, target: Target, output: OutputFormat, watch: bool, interval: float) -> None:
    """Each model's versions: stage, traffic, ready pods, canary progress and last analysis."""
    import time

    from ballast.api.kinds import MODEL_VERSION
    from ballast.commands.api import list_all
    from ballast.commands.status import changes, model_statuses, status_table

    cluster = _connect(target)

    def view() -> str:
        models = model_statuses(list_all(cluster.objects, cluster.namespace, MODEL_VERSION.plural), model)
        return render(output, {"models": models}, lambda: status_table(models, all_namespaces=target.all_namespaces))

    if not watch:
        click.echo(view())
        return
    redraw = output is OutputFormat.TABLE and sys.stdout.isatty()
    try:
        for frame in changes(view, lambda: time.sleep(interval)):
            if redraw:
                click.clear()
            click.echo(frame + ("" if redraw else "\n"))
    except KeyboardInterrupt:
        pass


# ---- approve, promote, abort ----------------------------------------------------------------


def on_one_version(function: Callable[..., Any]) -> Callable[..., Any]:
    """A verb on one ModelVersion: its name, kubectl's target flags and -o."""
    return click.argument("modelversion")(target_options(output_option(function)))


def _request(
    name: str, target: Target, output: OutputFormat, decide: Callable[[dict, Callable[[], str]], Request]
) -> None:
    """decide gets the version and a way to learn who the caller is (asked of the API server
    only when the request approves)."""
    from ballast.api.kinds import MODEL_VERSION
    from ballast.commands.api import merge_patch, whoami
    from ballast.commands.rollout_requests import Refused

    cluster = _connect(target)
    version = _find(cluster, MODEL_VERSION.plural, name, "ModelVersion")
    try:
        request = decide(version, lambda: whoami(cluster))
    except Refused as error:
        raise CommandError(str(error)) from None
    if request.patch is not None:
        version = merge_patch(cluster, MODEL_VERSION.plural, version, request.patch)
    click.echo(render(output, version, lambda: request.message))


@plugin.command()
@on_one_version
def approve(modelversion: str, target: Target, output: OutputFormat) -> None:
    """Approve MODELVERSION's promotion (spec.rollout.approved), for a rollout with autoPromote false."""
    from ballast.commands.rollout_requests import approve as approving

    _request(modelversion, target, output, lambda version, caller: approving(version, caller()))


@plugin.command()
@on_one_version
def promote(modelversion: str, target: Target, output: OutputFormat) -> None:
    """Bring MODELVERSION to Production: approve a canary that passed every step, or roll back to
    a version that served before."""
    from ballast.commands.rollout_requests import promote as promoting
    from ballast.conditions import now_rfc3339

    _request(modelversion, target, output, lambda version, caller: promoting(version, now_rfc3339(), caller()))


@plugin.command()
@on_one_version
def abort(modelversion: str, target: Target, output: OutputFormat) -> None:
    """Stop MODELVERSION's canary (spec.serving.enabled false): Production keeps the traffic."""
    from ballast.commands.rollout_requests import abort as aborting

    _request(modelversion, target, output, lambda version, _caller: aborting(version))


# ---- rollback, runs, lineage, reproduce -------------------------------------------------------


@plugin.command()
@click.argument("model")
@click.option("--to", "to", default=None, help="The ModelVersion to bring back (default: the previous Production).")
@target_options
@output_option
@click.option("--timeout", default=300, show_default=True, help="Seconds to wait for the switch (0: do not wait).")
def rollback(model: str, to: str | None, target: Target, output: OutputFormat, timeout: int) -> None:
    """Bring an earlier version of MODEL back to Production, without failed requests."""
    import time

    from ballast.api.kinds import MODEL_VERSION
    from ballast.commands.api import get, merge_patch
    from ballast.commands.rollback import NoRollbackTarget, rollback_patch, rollback_target
    from ballast.conditions import now_rfc3339

    cluster = _connect(target)
    namespace, versions = _model_versions(cluster, model)
    try:
        chosen = rollback_target(versions, model, to)
    except NoRollbackTarget as error:
        raise CommandError(str(error)) from None
    name = chosen["metadata"]["name"]
    current = merge_patch(cluster, MODEL_VERSION.plural, chosen, rollback_patch(now_rfc3339()))
    if output is OutputFormat.TABLE:
        click.echo(f"requested rollback of {model} to {name}" + ("; waiting for its pods" if timeout else ""))
        if not timeout:
            return
    deadline = time.monotonic() + timeout
    while timeout and (current.get("status") or {}).get("stage") != "Production":
        if time.monotonic() > deadline:
            raise CommandError(f"{name} did not reach Production within {timeout}s")
        time.sleep(1)
        current = get(cluster.objects, namespace, MODEL_VERSION.plural, name) or current
    click.echo(render(output, current, lambda: f"{name} is in Production"))


@plugin.command()
@click.argument("model")
@target_options
@output_option
def runs(model: str, target: Target, output: OutputFormat) -> None:
    """Compare the TrainingRuns of MODEL: params and metrics side by side."""
    from ballast.api.kinds import TRAINING_RUN
    from ballast.commands.api import list_all
    from ballast.commands.runs import runs_table

    cluster = _connect(target)
    found = [
        r for r in list_all(cluster.objects, cluster.namespace, TRAINING_RUN.plural) if r["spec"]["model"] == model
    ]
    click.echo(render(output, {"items": found}, lambda: runs_table(found, model)))


@plugin.command()
@click.argument("modelversion")
@target_options
@output_option
@click.option(
    "--store",
    "store_uri",
    envvar="BALLAST_STORE_URI",
    default=None,
    help="The store's root URI as the operator has it, to read the source the dataset version's "
    "metadata.json records; without it, the Dataset's current source is shown. Default $BALLAST_STORE_URI.",
)
def lineage(modelversion: str, target: Target, output: OutputFormat, store_uri: str | None) -> None:
    """Print the chain from a ModelVersion's dataset source to its artifact."""
    from ballast.api.kinds import DATASET, MODEL_VERSION, TRAINING_RUN
    from ballast.commands.api import get
    from ballast.commands.lineage import RecordedSource, lineage_lines, read_recorded_source

    cluster = _connect(target)
    version = _find(cluster, MODEL_VERSION.plural, modelversion, "ModelVersion")
    namespace = version["metadata"]["namespace"]
    source = version["spec"].get("source") or {}
    run_name = source.get("trainingRun")
    run = get(cluster.objects, namespace, TRAINING_RUN.plural, run_name) if run_name else None
    dataset_name = (source.get("dataset") or {}).get("name")
    dataset = get(cluster.objects, namespace, DATASET.plural, dataset_name) if dataset_name else None
    recorded = (
        read_recorded_source(_namespace_store(store_uri, namespace), version) if store_uri and dataset_name else None
    )
    data = {
        "modelVersion": version,
        "trainingRun": run,
        "dataset": dataset,
        "recordedSource": recorded.source if isinstance(recorded, RecordedSource) else None,
        "recordedSourceError": recorded if isinstance(recorded, str) else None,
    }
    click.echo(render(output, data, lambda: "\n".join(lineage_lines(version, run, dataset, recorded))))


@plugin.command()
@click.argument("modelversion")
@target_options
@output_option
@click.option("--timeout", default=900, show_default=True, help="Seconds to wait for the run to finish.")
def reproduce(modelversion: str, target: Target, output: OutputFormat, timeout: int) -> None:
    """Train MODELVERSION again from its recorded inputs and check the artifact's sha256 (exit 1 when it differs)."""
    from ballast.api.kinds import GROUP, MODEL_VERSION, TRAINING_RUN, VERSION
    from ballast.client import Client, TrainingRun, WaitFailed, WaitTimeout
    from ballast.commands.api import get
    from ballast.commands.reproduce import NotReproducible, reproduction_run, verdict
    from ballast.conditions import ConditionType

    cluster = _connect(target)
    version = _find(cluster, MODEL_VERSION.plural, modelversion, "ModelVersion")
    namespace = version["metadata"]["namespace"]
    try:
        run = reproduction_run(version)
    except NotReproducible as error:
        raise CommandError(str(error)) from None
    name = run["metadata"]["name"]
    if get(cluster.objects, namespace, TRAINING_RUN.plural, name) is None:
        cluster.objects.create_namespaced_custom_object(GROUP, VERSION, namespace, TRAINING_RUN.plural, run)
        if output is OutputFormat.TABLE:
            click.echo(f"created TrainingRun {name}; waiting for it to finish")
    client = Client(namespace, api_client=cluster.objects.api_client)
    try:
        finished = client.wait_for(TrainingRun, name, condition=ConditionType.SUCCEEDED, timeout=timeout)
    except WaitFailed as failed:  # a failed run is finished too: verdict says why it differs
        finished = failed.last
    except WaitTimeout:
        raise CommandError(f"TrainingRun {name} did not finish within {timeout}s") from None
    same, message = verdict(version, finished.model_dump(by_alias=True, exclude_none=True, mode="json"))
    data = {"reproduced": same, "message": message, "trainingRun": name}
    click.echo(render(output, data, lambda: message))
    raise SystemExit(ExitCode.OK if same else ExitCode.FAILED)


# ---- the store: gc, erase ----------------------------------------------------------------------


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


@plugin.command()
@click.argument("modelversion")
@target_options
@_STORE
@click.option(
    "--output",
    "-o",
    type=click.Choice(CARD_FORMATS),
    default="markdown",
    show_default=True,
    help="card.md or card.json.",
)
def card(modelversion: str, target: Target, store_uri: str, output: str) -> None:
    """Print MODELVERSION's model card (data, pipeline, parameters, metrics, gates, champion, intended use)."""
    from ballast.api.kinds import MODEL_VERSION
    from ballast.cards.version_card import CardUnavailable, version_card

    cluster = _connect(target)
    version = _find(cluster, MODEL_VERSION.plural, modelversion, "ModelVersion")
    store = _namespace_store(store_uri, version["metadata"]["namespace"])
    try:
        click.echo(version_card(store, version, output).decode(), nl=False)
    except CardUnavailable as error:
        raise CommandError(str(error)) from None


@plugin.command()
@click.argument("model")
@click.option("--dataset", is_flag=True, help="MODEL names a Dataset: print the Dataset's trail.")
@click.option("--since", default=None, help="Only entries at or after this: RFC 3339, or a duration back (2h, 7d).")
@one_namespace_options
@_STORE
@output_option
def audit(model: str, dataset: bool, since: str | None, target: Target, store_uri: str, output: OutputFormat) -> None:
    """Print MODEL's audit trail from the store and verify its hash chain (exit 1 naming the first bad line).

    It reads the store only: the trail outlives every object of the model."""
    from datetime import datetime

    from ballast.audit.log import read_and_verify
    from ballast.commands import audit as trail
    from ballast.store import ArtifactNotFound, StoreError
    from ballast.store.layout import DATASETS, MODELS, audit_log_key

    try:
        start = trail.parse_since(since, datetime.now(UTC)) if since else None
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--since") from None
    namespace = target.namespace or _connect(target).require_namespace()
    store = _store(store_uri)
    try:
        key = audit_log_key(namespace, DATASETS if dataset else MODELS, model)
        verification = read_and_verify(store, key)
    except ArtifactNotFound as error:
        raise CommandError(str(error), ExitCode.NOT_FOUND) from None
    except StoreError as error:
        raise CommandError(str(error)) from None
    shown = trail.entries_since(verification.entries, start)
    items = [entry.model_dump(by_alias=True) for entry in shown]
    click.echo(render(output, {"items": items}, lambda: trail.audit_table(shown)))
    verdict = trail.verdict_line(store.uri_of(key), verification)
    if not verification.ok:
        raise CommandError(verdict)
    if output is OutputFormat.TABLE:
        click.echo(verdict)


@plugin.command()
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
@connection_options
def gc(
    target: Target,
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
    cluster = _connect(target)
    namespaces = namespaces or (cluster.require_namespace(),)
    objects, now, failed = cluster.objects, datetime.now(UTC), []
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
                audit=_store(store_uri),
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


@plugin.group()
def erase() -> None:
    """Erase data from the store explicitly (after listing what it invalidates)."""


@erase.command("dataset")
@click.argument("name")
@click.option("--version", "sha256", required=True, help="The version's sha256.")
@one_namespace_options
@_STORE
@click.option("--force", is_flag=True, help="Erase even when a model trained on it is in Production.")
@click.option("--apply", "apply", is_flag=True, help="Delete; without it, only print what it would invalidate.")
def erase_dataset(name: str, sha256: str, target: Target, store_uri: str, force: bool, apply: bool) -> None:
    """Delete one dataset version's snapshot, profile and metadata from the store."""
    from ballast.commands import erase as erasing
    from ballast.commands.gc import read_live_objects
    from ballast.lifecycle.erasure import plan_erasure

    cluster = _connect(target)
    namespace = cluster.require_namespace()
    store = _namespace_store(store_uri, namespace)
    try:
        plan = plan_erasure(read_live_objects(cluster.objects, namespace), name, sha256.lower(), force=force)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--version") from None
    stored = erasing.stored_version_of(store, plan)
    applied = apply and not plan.refusal
    if applied:
        erasing.erase(store, plan, audit=_store(store_uri), namespace=namespace)
    click.echo(erasing.report(plan, stored, applied=applied))
    if plan.refusal:
        raise SystemExit(ExitCode.FAILED)


if __name__ == "__main__":
    main()
