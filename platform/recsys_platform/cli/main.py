"""``recsys``: one CLI for operators and tenants. Heavy imports stay inside commands."""

from __future__ import annotations

import typer

from recsys_platform import __version__
from recsys_platform.cli import (
    catalog_cmd,
    db_cmd,
    deployments,
    experiments,
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
    add_completion=False,
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


@app.command("version", help="Print the recsys version.")
def version() -> None:
    typer.echo(__version__)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
