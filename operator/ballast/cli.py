"""The `ballast` command: one entry point for every role Ballast's image plays."""

from __future__ import annotations

import os

import click

from ballast import __version__


@click.group()
@click.version_option(__version__, prog_name="ballast")
def main() -> None:
    """Ballast: keeps machine-learning models behaving well on Kubernetes."""


@main.command()
@click.option("--namespace", "-n", "namespaces", multiple=True,
              help="Watch only this namespace (repeatable); every namespace when not given.")
@click.option("--bind-address", default=lambda: os.environ.get("BALLAST_BIND_ADDRESS", "0.0.0.0"),
              show_default="$BALLAST_BIND_ADDRESS or 0.0.0.0",
              help="Address of the health and metrics servers (the pod IP in a cluster).")
@click.option("--health-port", default=8080, show_default=True, type=int)
@click.option("--metrics-port", default=9090, show_default=True, type=int)
@click.option("--verbose", "-v", is_flag=True)
def operator(namespaces: tuple[str, ...], bind_address: str, health_port: int, metrics_port: int,
             verbose: bool) -> None:
    """Run the Ballast operator."""
    from ballast.controller import OperatorOptions, run_operator

    run_operator(OperatorOptions(
        namespaces=namespaces or tuple(filter(None, os.environ.get("BALLAST_NAMESPACES", "").split(","))),
        bind_address=bind_address,
        health_port=health_port,
        metrics_port=metrics_port,
        verbose=verbose,
    ))


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
    from ballast.commands import api
    from ballast.commands.runs import runs_table

    objects = api.custom_objects()
    click.echo(runs_table(api.list_all(objects, namespace or api.current_namespace(), "trainingruns"), model))


@main.command()
@click.argument("modelversion")
@_NAMESPACE
def lineage(modelversion: str, namespace: str | None) -> None:
    """Print the chain from a ModelVersion's dataset source to its artifact."""
    from ballast.commands import api
    from ballast.commands.lineage import lineage_lines

    objects, namespace = api.custom_objects(), namespace or api.current_namespace()
    version = api.get(objects, namespace, "modelversions", modelversion)
    if version is None:
        raise click.ClickException(f"ModelVersion {modelversion} not found in namespace {namespace}")
    source = version["spec"].get("source") or {}
    run = api.get(objects, namespace, "trainingruns", source["trainingRun"]) if source.get("trainingRun") else None
    dataset_name = (source.get("dataset") or {}).get("name")
    dataset = api.get(objects, namespace, "datasets", dataset_name) if dataset_name else None
    click.echo("\n".join(lineage_lines(version, run, dataset)))


@main.command()
@click.argument("modelversion")
@_NAMESPACE
@click.option("--timeout", default=900, show_default=True, help="Seconds to wait for the run to finish.")
def reproduce(modelversion: str, namespace: str | None, timeout: int) -> None:
    """Train MODELVERSION again from its recorded inputs and check the artifact's sha256."""
    import time

    from ballast.commands import api
    from ballast.commands.reproduce import NotReproducible, reproduction_run, verdict
    from ballast.reconcile.trainingrun import is_finished

    objects, namespace = api.custom_objects(), namespace or api.current_namespace()
    version = api.get(objects, namespace, "modelversions", modelversion)
    if version is None:
        raise click.ClickException(f"ModelVersion {modelversion} not found in namespace {namespace}")
    try:
        run = reproduction_run(version)
    except NotReproducible as error:
        raise click.ClickException(str(error)) from None
    name = run["metadata"]["name"]
    if api.get(objects, namespace, "trainingruns", name) is None:
        objects.create_namespaced_custom_object("ballast.dev", "v1alpha1", namespace, "trainingruns", run)
        click.echo(f"created TrainingRun {name}; waiting for it to finish")
    deadline = time.monotonic() + timeout
    while True:
        current = api.get(objects, namespace, "trainingruns", name) or run
        if is_finished(current.get("status") or {}):
            break
        if time.monotonic() > deadline:
            raise click.ClickException(f"TrainingRun {name} did not finish within {timeout}s")
        time.sleep(2)
    same, message = verdict(version, current)
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

    from ballast.commands import api
    from ballast.commands.rollback import NoRollbackTarget, rollback_patch, rollback_target
    from ballast.conditions import now_rfc3339

    objects, namespace = api.custom_objects(), namespace or api.current_namespace()
    try:
        target = rollback_target(api.list_all(objects, namespace, "modelversions"), model, to)
    except NoRollbackTarget as error:
        raise click.ClickException(str(error)) from None
    name = target["metadata"]["name"]
    objects.patch_namespaced_custom_object("ballast.dev", "v1alpha1", namespace, "modelversions", name,
                                           rollback_patch(now_rfc3339()))
    click.echo(f"requested rollback of {model} to {name}; waiting for its pods")
    deadline = time.monotonic() + timeout
    while (api.get(objects, namespace, "modelversions", name) or {}).get("status", {}).get("stage") != "Production":
        if time.monotonic() > deadline:
            raise click.ClickException(f"{name} did not reach Production within {timeout}s")
        time.sleep(1)
    click.echo(f"{name} is in Production")
