"""``recsys up`` (embedded platform) and ``recsys control-plane`` (one service)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Annotated

import typer

from recsys_platform.cli.common import console, err_console, reported_errors


def control_plane() -> None:
    """Serve the control plane with settings from RECSYS_CONTROL_PLANE_* variables."""
    import uvicorn

    from recsys_platform.control_plane.app import SERVICE_NAME, create_app
    from recsys_platform.observability.logging import configure_logging
    from recsys_platform.settings import load_control_plane_settings

    settings = load_control_plane_settings()
    configure_logging(SERVICE_NAME, settings.telemetry.log_level, settings.telemetry.log_json)
    uvicorn.run(
        create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False
    )


def gateway() -> None:
    """Serve the gateway with settings from RECSYS_GATEWAY_* variables."""
    import uvicorn

    from recsys_platform.gateway.app import SERVICE_NAME, create_app
    from recsys_platform.observability.logging import configure_logging
    from recsys_platform.settings import load_gateway_settings

    settings = load_gateway_settings()
    configure_logging(SERVICE_NAME, settings.telemetry.log_level, settings.telemetry.log_json)
    uvicorn.run(
        create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False
    )


def stream() -> None:
    """Run the stream processor with settings from RECSYS_STREAM_* variables."""
    from recsys_platform.observability.logging import configure_logging
    from recsys_platform.settings import load_stream_settings
    from recsys_platform.stream.service import SERVICE_NAME, serve

    settings = load_stream_settings()
    configure_logging(SERVICE_NAME, settings.telemetry.log_level, settings.telemetry.log_json)
    serve(settings)


def up(
    tenants: Annotated[Path, typer.Option(help="Tenant specs to apply (file or folder).")] = Path("tenants"),
    data_dir: Annotated[Path, typer.Option(help="Where the embedded platform keeps its state.")] = Path(
        "var"
    ),
    port: Annotated[int, typer.Option(help="Control-plane port.")] = 8000,
    gateway_port: Annotated[int, typer.Option(help="Gateway port.")] = 8080,
    once: Annotated[bool, typer.Option("--once", help="Set up, print a summary and exit.")] = False,
    train: Annotated[
        bool, typer.Option("--train/--no-train", help="Train, deploy and query a model per demo tenant.")
    ] = True,
) -> None:
    """Start the embedded platform (control plane, gateway, stream processor; SQLite, MLflow,
    kfp.local, local model servers); onboard the demo tenants, import their catalogs, stream a
    click history, train and deploy a model per tenant and show live recommendations."""
    from recsys_platform.cli.up_demo import run_demo
    from recsys_platform.embedded import EmbeddedPlatform, embedded_settings
    from recsys_platform.observability.logging import configure_logging

    data_dir.mkdir(parents=True, exist_ok=True)
    configure_logging("recsys-up", "WARNING", json_logs=False)
    _quiet_libraries()
    platform = EmbeddedPlatform(embedded_settings(data_dir, port, gateway_port))

    def on_sigterm(signum: int, _frame: object) -> None:
        # SIGTERM (systemd, docker stop, kill) stops like Ctrl-C: model servers, training
        # pipelines and the services are stopped, none is left running under init.
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        platform.start()
    except RuntimeError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    cp, gw = platform.settings.control_plane, platform.settings.gateway
    console.print(f"control plane  http://{cp.host}:{cp.port}/docs")
    console.print(f"gateway        http://{gw.host}:{gw.port}/docs")
    try:
        with reported_errors():
            run_demo(platform, tenants, train=train)
        if once:
            return
        console.print("serving; press Ctrl-C to stop")
        while platform.alive():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        platform.stop()


def _quiet_libraries() -> None:
    """MLflow logs INFO lines of its own, and its SQLAlchemy store warns when imported (feast
    turns DeprecationWarnings back on): import that store once, with warnings off."""
    import logging
    import os
    import warnings

    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
