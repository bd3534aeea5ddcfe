"""``recsys policies``: a tenant's contextual-bandit policies and their off-policy evaluation."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from recsys_platform.cli.common import (
    DEFAULT_DEV_TOKEN,
    DEFAULT_URL,
    TokenOpt,
    UrlOpt,
    client,
    console,
    reported_errors,
)
from recsys_platform.errors import FieldError, InvalidInput

app = typer.Typer(help="Bandit policies per surface: mode, exploration, evaluation.", no_args_is_help=True)


def parse_candidate(spec: str) -> dict[str, Any]:
    """``ranker``, ``uniform``, ``checkpoint``, ``checkpoint:7`` or ``checkpoint:7@0.05``
    (``checkpoint@0.05``: the serving checkpoint at another exploration rate)."""
    head, _, exploration = spec.partition("@")
    kind, _, version = head.partition(":")
    if kind not in ("ranker", "uniform", "checkpoint") or (version and kind != "checkpoint"):
        raise InvalidInput(
            f"--candidate '{spec}' must be ranker, uniform or checkpoint[:VERSION][@EXPLORATION]",
            [FieldError("candidate", "unknown policy")],
        )
    body: dict[str, Any] = {"name": spec, "kind": kind}
    if version:
        body["version"] = version
    if exploration:
        try:
            body["exploration"] = float(exploration)
        except ValueError:
            raise InvalidInput(
                f"--candidate '{spec}': exploration '{exploration}' is not a number",
                [FieldError("candidate.exploration", "not a number")],
            ) from None
    return body


@app.command("set")
def set_policy(
    tenant_id: str,
    surface: str,
    mode: Annotated[str, typer.Option(help="off, apprentice or online.")] = "online",
    exploration: Annotated[float, typer.Option(help="Epsilon: share of explored decisions.")] = 0.1,
    wait: Annotated[int, typer.Option("--wait", help="Reward wait window (seconds).")] = 600,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = DEFAULT_DEV_TOKEN,
) -> None:
    """Set the surface's policy mode and exploration rate."""
    body = {"mode": mode, "exploration": exploration, "reward": {"wait_seconds": wait}}
    with reported_errors(), client(url, token) as c:
        p = c.request("PUT", f"/v1/tenants/{tenant_id}/policies/{surface}", json=body)
    console.print(f"{p['surface']}  [bold]{p['mode']}[/bold]  exploration={p['exploration']:g}")


@app.command("list")
def list_policies(tenant_id: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = DEFAULT_DEV_TOKEN) -> None:
    """The tenant's policies with their serving checkpoint and learning state."""
    with reported_errors(), client(url, token) as c:
        items = c.get(f"/v1/tenants/{tenant_id}/policies")["items"]
    table = Table("surface", "mode", "exploration", "checkpoint", "learned", "last reward")
    for p in items:
        table.add_row(
            p["surface"],
            p["mode"],
            f"{p['exploration']:g}",
            p["checkpoint_version"] or "-",
            str(p["learned"]),
            str(p["last_reward_at"] or "-"),
        )
    console.print(table)


@app.command("evaluate")
def evaluate(
    tenant_id: str,
    surface: str,
    candidate: Annotated[
        list[str],
        typer.Option("--candidate", help="ranker | uniform | checkpoint[:VERSION][@EXPLORATION], repeat."),
    ],
    first_slot_only: Annotated[bool, typer.Option(help="Only the first slot of each slate.")] = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = DEFAULT_DEV_TOKEN,
) -> None:
    """Off-policy estimates (IPS, SNIPS, DR with 95% intervals, effective sample size)."""
    with reported_errors():
        body = {"candidates": [parse_candidate(c) for c in candidate], "first_slot_only": first_slot_only}
        with client(url, token) as c:
            res = c.post(f"/v1/tenants/{tenant_id}/policies/{surface}/evaluate", json=body)
    table = Table(
        "candidate", "IPS", "SNIPS", "DR", "ESS",
        title=f"{surface}: {res['decisions']} decisions, {res['samples']} slots, "
        f"logged reward {res['logged_reward']:.4f}",
    )  # fmt: skip
    for r in res["candidates"]:
        table.add_row(
            r["name"],
            *(
                f"{r[k]['value']:.4f} [{r[k]['ci_low']:.4f}, {r[k]['ci_high']:.4f}]"
                for k in ("ips", "snips", "dr")
            ),
            f"{r['effective_sample_size']:.0f}",
        )
    console.print(table)
