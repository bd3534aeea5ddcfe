"""What ``recsys up`` does once the embedded platform runs, as a user of the platform would:
onboard the demo tenants, import their catalogs, stream a click history through the
gateway, train a model with the tenant's pipeline, deploy it, ask the gateway for
recommendations, click, and ask again."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import httpx

from recsys_platform.cli.common import console

if TYPE_CHECKING:
    from recsys_platform.client import ControlPlaneClient
    from recsys_platform.embedded import EmbeddedPlatform
    from recsys_platform.features.state import UserState

TERMINAL = {"succeeded", "failed"}


def run_demo(platform: EmbeddedPlatform, tenants: Any, train: bool = True) -> None:
    """Apply the tenant specs and walk each demo tenant from events to recommendations."""
    from recsys_platform.client import ControlPlaneClient
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
            # a short-lived key of the demo's own, revoked at the end
            demo_key = c.post(
                f"/v1/tenants/{spec.id}/api-keys",
                json={"name": "recsys-up-demo", "scopes": ["events:write", "recommendations:read"]},
            )
            headers = {"Authorization": f"Bearer {demo_key['key']}"}
            try:
                user = _import_and_stream(platform, c, gateway, headers, spec.id, spec.use_case)
                if train and user is not None:
                    _train_deploy_recommend(platform, c, gateway, headers, spec.id, user)
            finally:
                c.delete(f"/v1/tenants/{spec.id}/api-keys/{demo_key['id']}")
    finally:
        c.close()
        gateway.close()


def _import_and_stream(
    platform: EmbeddedPlatform,
    c: ControlPlaneClient,
    gateway: httpx.Client,
    headers: dict[str, str],
    tenant: str,
    use_case: str,
) -> str | None:
    """Import the demo catalog, send the demo history; returns the user whose profile was shown."""
    from recsys_platform.cli.catalog_cmd import import_items
    from recsys_platform.demo import demo_items
    from recsys_platform.demo.events import demo_events

    items = demo_items(use_case)
    totals = import_items(c, tenant, items)
    console.print(
        f"  catalog: {totals['created']} created, {totals['updated']} updated, {totals['rejected']} rejected"
    )
    events = demo_events(items)
    sent = time.monotonic()
    for start in range(0, len(events), 200):
        post_events(gateway, headers, events[start : start + 200])
    user = str(events[-1]["user_id"])
    state = _wait_for_profile(platform, tenant, user, sum(1 for e in events if e["user_id"] == user))
    waited = time.monotonic() - sent
    if state is None:
        console.print(f"  events: {len(events)} sent; no profile for {user} after 30 s")
        return None
    top = sorted(state.category_affinity.items(), key=lambda kv: -kv[1])[:3]
    console.print(
        f"  events: {len(events)} sent; {user}'s profile after {waited * 1000:.0f} ms: "
        f"{state.event_count} events, recent {list(state.recent_items[:3])}, "
        f"top categories {[(k, round(v, 2)) for k, v in top]}"
    )
    _wait_for_offline_store(platform, tenant, len(events))
    return user


def post_events(gateway: httpx.Client, headers: dict[str, str], batch: list[dict[str, Any]]) -> None:
    """Sends one batch, waiting out the tenant's events quota (429 + Retry-After) as a client should."""
    for _ in range(60):
        r = gateway.post("/v1/events", json={"events": batch}, headers=headers)
        if r.status_code != 429:
            r.raise_for_status()
            return
        time.sleep(float(r.headers.get("Retry-After", "1")))
    r.raise_for_status()


def _train_deploy_recommend(
    platform: EmbeddedPlatform,
    c: ControlPlaneClient,
    gateway: httpx.Client,
    headers: dict[str, str],
    tenant: str,
    user: str,
) -> None:
    run = _train(c, tenant)
    if run["status"] != "succeeded":
        console.print(f"  training: [red]failed[/red] at {run.get('stage')}: {run.get('error')}")
        return
    metrics = run.get("metrics") or {}
    ndcg, base = metrics.get("ndcg_at_10"), metrics.get("baseline_popularity_ndcg_at_10")
    console.print(
        f"  training: model version {run['model_version']} "
        f"({'champion' if run['promoted'] else 'challenger; champion kept'})"
        + (f", hold-out nDCG@10 {ndcg:.3f}" if isinstance(ndcg, float) else "")
        + (f" (popularity {base:.3f})" if isinstance(base, float) else "")
    )
    deployment = _deploy(c, tenant)
    if deployment is None:
        return
    first, ms = _recommend(gateway, headers, user)
    console.print(f"  recommendations for {user} ({ms:.0f} ms, model {first.get('model_version')}):")
    for item in first["items"][:5]:
        console.print(f"    {item['position']}. {item['item_id']}  {item['score']:.3f}  {item['reason']}")
    # the news-feed loop: a click goes through the event path; the next list reflects it
    clicked = first["items"][-1]["item_id"]
    before = platform.features.read(tenant, user)
    count = before.event_count if before is not None else 0
    clicked_at = time.monotonic()
    post_events(
        gateway,
        headers,
        [
            {
                "event_id": f"demo-click-{first['recommendation_id']}",
                "user_id": user,
                "item_id": clicked,
                "type": "click",
                "timestamp": _now_iso(),
                "recommendation_id": first["recommendation_id"],
            }
        ],
    )
    _wait_for_profile(platform, tenant, user, count + 1)
    second, ms = _recommend(gateway, headers, user)
    waited = (time.monotonic() - clicked_at) * 1000
    new = [i["item_id"] for i in second["items"]]
    changed = sum(1 for a, b in zip(new, [i["item_id"] for i in first["items"]], strict=False) if a != b)
    console.print(
        f"  clicked {clicked}; {waited:.0f} ms later the next list ({ms:.0f} ms) has {changed} of "
        f"{len(new)} positions changed: {new[:5]}"
    )


def _train(c: ControlPlaneClient, tenant: str) -> dict[str, Any]:
    run: dict[str, Any] = c.post(f"/v1/tenants/{tenant}/training-runs", json={})
    stage = None
    deadline = time.monotonic() + 600
    while run["status"] not in TERMINAL and time.monotonic() < deadline:
        if run.get("stage") != stage:
            stage = run.get("stage")
            if stage:
                console.print(f"  training: {stage} ...")
        time.sleep(0.5)
        run = c.get(f"/v1/tenants/{tenant}/training-runs/{run['id']}")
    return run


def _deploy(c: ControlPlaneClient, tenant: str) -> dict[str, Any] | None:
    from recsys_platform.client import ApiError

    try:
        deployment: dict[str, Any] = c.post(
            f"/v1/tenants/{tenant}/deployments", json={"name": "default", "model": {"alias": "champion"}}
        )
    except ApiError as exc:
        if exc.status != 409:
            raise
        deployment = c.get(f"/v1/tenants/{tenant}/deployments/default")
    deadline = time.monotonic() + 180
    while deployment["status"] not in ("ready", "failed") and time.monotonic() < deadline:
        time.sleep(0.5)
        deployment = c.get(f"/v1/tenants/{tenant}/deployments/default")
    if deployment["status"] != "ready":
        console.print(f"  deployment: [red]{deployment['status']}[/red]: {deployment.get('error')}")
        return None
    console.print(f"  deployment 'default': {deployment['status']} at {deployment.get('endpoint')}")
    return deployment


def _recommend(gateway: httpx.Client, headers: dict[str, str], user: str) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    r = gateway.post("/v1/recommendations", json={"user_id": user, "n": 10}, headers=headers)
    r.raise_for_status()
    body: dict[str, Any] = r.json()
    return body, (time.perf_counter() - started) * 1000


def _now_iso() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat()


def _wait_for_profile(platform: EmbeddedPlatform, tenant: str, user: str, expected: int) -> UserState | None:
    """The user's state once it counts ``expected`` events (or the last seen, after 30 s)."""
    deadline = time.monotonic() + 30
    state = None
    while time.monotonic() < deadline:
        state = platform.features.read(tenant, user)
        if state is not None and state.event_count >= expected:
            return state  # type: ignore[no-any-return]
        time.sleep(0.01)
    return state


def _wait_for_offline_store(platform: EmbeddedPlatform, tenant: str, expected: int) -> None:
    """Training reads the offline store: wait until the processor has written the history."""
    from recsys_platform.offline.parquet_store import OfflineEventStore

    store = OfflineEventStore(platform.settings.stream.feature_store.offline_root)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if store.tenant_dir(tenant).exists() and store.read(tenant).num_rows >= expected:
            return
        time.sleep(0.1)
