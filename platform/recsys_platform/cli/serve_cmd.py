"""``recsys up`` (embedded platform) and ``recsys control-plane`` (one service)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from recsys_platform.cli.common import console, err_console, reported_errors

if TYPE_CHECKING:
    from recsys_platform.embedded import EmbeddedPlatform
    from recsys_platform.features.state import UserState


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
) -> None:
    """Start the embedded platform: control plane, gateway and stream processor on SQLite;
    onboard the demo tenants, import their catalogs and stream demo events through it."""
    from recsys_platform.embedded import EmbeddedPlatform, embedded_settings
    from recsys_platform.observability.logging import configure_logging

    data_dir.mkdir(parents=True, exist_ok=True)
    configure_logging("recsys-up", "WARNING", json_logs=False)
    platform = EmbeddedPlatform(embedded_settings(data_dir, port, gateway_port))
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
            _onboard_and_stream(platform, tenants)
        if once:
            return
        console.print("serving; press Ctrl-C to stop")
        while platform.alive():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        platform.stop()


def _onboard_and_stream(platform: EmbeddedPlatform, tenants: Path) -> None:
    """Apply the tenant specs, import demo catalogs, send demo events, show one profile."""
    import httpx

    from recsys_platform.cli.catalog_cmd import import_items
    from recsys_platform.client import ControlPlaneClient
    from recsys_platform.demo import demo_items
    from recsys_platform.demo.events import demo_events
    from recsys_platform.tenancy.spec import execute, load_specs, plan

    cp, gw = platform.settings.control_plane, platform.settings.gateway
    c = ControlPlaneClient(f"http://{cp.host}:{cp.port}", cp.admin_token.get_secret_value())
    gateway = httpx.Client(base_url=f"http://{gw.host}:{gw.port}", timeout=30)
    try:
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
            # a short-lived key of the demo's own, revoked right after
            demo_key = c.post(
                f"/v1/tenants/{spec.id}/api-keys", json={"name": "recsys-up-demo", "scopes": ["events:write"]}
            )
            events = demo_events(items)
            sent = time.monotonic()
            for start in range(0, len(events), 500):
                r = gateway.post(
                    "/v1/events",
                    json={"events": events[start : start + 500]},
                    headers={"Authorization": f"Bearer {demo_key['key']}"},
                )
                r.raise_for_status()
            c.delete(f"/v1/tenants/{spec.id}/api-keys/{demo_key['id']}")
            user = events[-1]["user_id"]
            state = _wait_for_profile(platform, spec.id, user, events)
            waited = time.monotonic() - sent
            if state is None:
                console.print(f"  events: {len(events)} sent; no profile for {user} after 30 s")
                continue
            top = sorted(state.category_affinity.items(), key=lambda kv: -kv[1])[:3]
            console.print(
                f"  events: {len(events)} sent; {user}'s profile after {waited * 1000:.0f} ms: "
                f"{state.event_count} events, recent {list(state.recent_items[:3])}, "
                f"top categories {[(k, round(v, 2)) for k, v in top]}"
            )
    finally:
        c.close()
        gateway.close()


def _wait_for_profile(
    platform: EmbeddedPlatform, tenant: str, user: str, events: list[dict[str, object]]
) -> UserState | None:
    """The user's state once it counts all of the user's events (or the last seen, after 30 s)."""
    expected = sum(1 for e in events if e["user_id"] == user)
    deadline = time.monotonic() + 30
    state = None
    while time.monotonic() < deadline:
        state = platform.features.read(tenant, user)
        if state is not None and state.event_count >= expected:
            return state  # type: ignore[no-any-return]
        time.sleep(0.01)
    return state
