"""The `ballast` command: one entry point for every role Ballast's image plays."""

from __future__ import annotations

import os

import click

from ballast import __version__
from ballast.leadership.config import enabled_by_default
from ballast.plugin import plugin


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


# The commands for people (kubectl ballast's verbs) are `ballast`'s too.
for _command in plugin.commands.values():
    main.add_command(_command)
