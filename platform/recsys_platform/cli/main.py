"""``recsys``: one CLI for operators and tenants. Heavy imports stay inside commands."""

from __future__ import annotations

from typing import Annotated

import typer

from recsys_platform import __version__
from recsys_platform.cli import (
    catalog_cmd,
    config_cmd,
    db_cmd,
    deployments,
    experiments,
    gateway_cmd,
    keys_cmd,
    policies,
    serve_cmd,
    tenants_cmd,
)
from recsys_platform.cli import train as train_cli

app = typer.Typer(
    name="recsys",
    help="recsys: recommendation-system-as-a-service. Run `recsys up` to start the "
    "embedded platform on this machine.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)
app.command("up", help="Start the embedded platform and onboard the demo tenants.")(serve_cmd.up)
app.command("control-plane", help="Serve the control plane (tenant onboarding API).")(serve_cmd.control_plane)
app.command("gateway", help="Serve the gateway (events; recommendations once served).")(serve_cmd.gateway)
app.command("stream", help="Run the stream processor (events -> features, offline store).")(serve_cmd.stream)
app.add_typer(tenants_cmd.app, name="tenants")
app.add_typer(keys_cmd.app, name="keys")
app.add_typer(catalog_cmd.app, name="catalog")
app.add_typer(db_cmd.app, name="db")
app.command("train", help="Train a tenant's model now and follow the run.")(train_cli.train)
app.add_typer(train_cli.models_app, name="models")
app.add_typer(experiments.app, name="experiments")
app.add_typer(deployments.app, name="deployments")
app.add_typer(policies.app, name="policies")
app.add_typer(config_cmd.app, name="config")
app.command("recommend", help="Ask the gateway for a user's list (a tenant API key).")(gateway_cmd.recommend)
app.add_typer(gateway_cmd.events_app, name="events")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"recsys {__version__}")
        raise typer.Exit()


@app.callback(
    epilog="Exit codes: 0 done, 1 the platform refused or failed the request, 2 usage error, "
    "3 the platform could not be reached, 4 a wait timed out."
)
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """recsys: recommendation-system-as-a-service. Run `recsys up` to start the embedded
    platform on this machine."""


@app.command("version", help="Print the recsys version.")
def version() -> None:
    typer.echo(__version__)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
