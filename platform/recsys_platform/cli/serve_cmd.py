"""``recsys up`` (embedded platform) and ``recsys control-plane`` (one service)."""

from __future__ import annotations

import threading
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
    once: Annotated[bool, typer.Option("--once", help="Set up, print a summary and exit.")] = False,
) -> None:
    """Start the embedded platform: SQLite control plane, demo tenants and their catalogs."""
    import uvicorn

    from recsys_platform.cli.catalog_cmd import import_items
    from recsys_platform.client import ControlPlaneClient
    from recsys_platform.control_plane.app import SERVICE_NAME, create_app
    from recsys_platform.demo import demo_items
    from recsys_platform.observability.logging import configure_logging
    from recsys_platform.settings import load_control_plane_settings
    from recsys_platform.tenancy.spec import execute, load_specs, plan

    data_dir.mkdir(parents=True, exist_ok=True)
    settings = load_control_plane_settings(
        port=port,
        database={"url": f"sqlite:///{(data_dir / 'control-plane.db').resolve()}"},
    )
    configure_logging(SERVICE_NAME, "WARNING", json_logs=False)
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host=settings.host, port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, name="control-plane", daemon=True)
    thread.start()
    base = f"http://{settings.host}:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            err_console.print(f"[red]error:[/red] control plane did not start on {base}")
            raise typer.Exit(1)
        time.sleep(0.05)
    console.print(f"control plane ready at {base} (OpenAPI at {base}/docs)")

    token = settings.admin_token.get_secret_value()
    with reported_errors():
        c = ControlPlaneClient(base, token)
        for spec in load_specs(tenants):
            p = plan(c, spec)
            result = execute(c, spec, p)
            console.print(f"tenant/{spec.id}: {p.action if p.changes else 'unchanged'}")
            for key in result.created_keys:
                console.print(f"  api key '{key['name']}': [bold]{key['key']}[/bold] (shown once)")
            items = demo_items(spec.use_case)
            totals = import_items(c, spec.id, items)
            console.print(
                f"  catalog: {totals['created']} created, {totals['updated']} updated, "
                f"{totals['rejected']} rejected"
            )
        c.close()
    if once:
        server.should_exit = True
        thread.join(timeout=10)
        return
    console.print("serving; press Ctrl-C to stop")
    try:
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        server.should_exit = True
        thread.join(timeout=10)
