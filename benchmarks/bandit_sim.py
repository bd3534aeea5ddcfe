"""A simulated video audience against the contextual-bandit loop, through the real platform.

Starts the control plane, gateway and stream processor as processes on the running Kafka, Redis
and MLflow (``_replay_stack``), onboards a video tenant whose catalog declares three thumbnails
per video, sends a click history, trains and deploys the champion (a real KServe model server):
that is the *ranker*. Then it turns the surface's bandit policy ``online`` and plays an audience
with a known reward model against ``POST /v1/recommendations``; clicks (as ``watch`` events
with the seconds watched) and skips go back through ``POST /v1/events`` -> Kafka -> the stream
processor, which joins them to the logged decisions, learns and registers checkpoints in MLflow
that the gateway picks up while serving.

The audience: users belong to 4 segments (sent as request context, like a user feature); each
segment likes one or two of 6 categories and one of 3 thumbnail styles. A shown item at visible
position ``k`` (a row of 3) is clicked with probability
``bias[k] * (0.05 + 0.6 * taste[category]) * (1.0 if the style is liked else 0.35)`` and a click
watches ``0.4 + 0.6 * taste[category]`` of the video (the reward). Halfway, every segment's taste
moves to the next category (drift).

For each served request the known model gives the expected reward of the served row, and of
the rows the ranker alone (its order, default thumbnail), uniform random, and the oracle (best
3 item-thumbnail pairs of the same candidates) would have shown: cumulative reward and regret
on the same requests. Then off-policy estimates of the ranker and of uniform random (first slot)
against their true values, and a fairness guardrail (exposure floor for the "indie" provider)
switched on: its floor met and its reward cost.

    python benchmarks/bandit_sim.py                      # 1,600 requests, ~10 min on 2 cores
    python benchmarks/bandit_sim.py --requests 400 --no-write

Needs Kafka, Redis and the MLflow server (``bash scripts/services/start.sh all``).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _machine import machine, now, write_section  # noqa: E402
from _replay_stack import PlatformError, ReplayStack, replay_stack  # noqa: E402

CATEGORIES = ["drama", "comedy", "docs", "kids", "sport", "horror"]
STYLES = ["action", "face", "text"]  # variant 0 ("action") is every item's default thumbnail
SEGMENTS = {
    "family": ({"kids": 0.7, "comedy": 0.3}, "face"),
    "fans": ({"sport": 0.8, "drama": 0.2}, "action"),
    "cinephile": ({"drama": 0.5, "docs": 0.5}, "text"),
    "late": ({"horror": 0.6, "comedy": 0.4}, "face"),
}
BIAS = [1.0, 0.6, 0.4]  # position bias of the visible row
ROW = 3
N_ITEMS, N_USERS, DURATION = 60, 48, 600
SURFACE = "tv-home"


@dataclass
class Audience:
    rng: random.Random
    drifted: bool = False
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)

    def build(self) -> list[dict[str, Any]]:
        catalog = []
        for i in range(N_ITEMS):
            item = {
                "item_id": f"vid{i:03d}",
                "title": f"video {i}",
                "category": CATEGORIES[i % len(CATEGORIES)],
                "provider": "indie" if i % 5 == 0 else "studio",
                "duration_seconds": DURATION,
                "variants": [{"id": f"thumb-{s}", "features": {"style": s}} for s in STYLES],
            }
            self.items[item["item_id"]] = item
            catalog.append(item)
        segments = list(SEGMENTS)
        self.users = {f"user{u:03d}": segments[u % len(segments)] for u in range(N_USERS)}
        return catalog

    def taste(self, segment: str, category: str) -> float:
        likes, _ = SEGMENTS[segment]
        if self.drifted:  # every segment now likes the next category of what it liked
            likes = {CATEGORIES[(CATEGORIES.index(c) + 1) % len(CATEGORIES)]: v for c, v in likes.items()}
        return likes.get(category, 0.0)

    def click_p(self, user: str, item: str, variant: str | None, position: int) -> float:
        seg = self.users[user]
        style = (variant or "thumb-action").removeprefix("thumb-")
        base = 0.05 + 0.6 * self.taste(seg, self.items[item]["category"])
        return BIAS[position] * base * (1.0 if style == SEGMENTS[seg][1] else 0.35)

    def watch_share(self, user: str, item: str) -> float:
        return 0.4 + 0.6 * self.taste(self.users[user], self.items[item]["category"])

    def value(self, user: str, row: list[tuple[str, str | None]]) -> float:
        """Expected reward of a visible row."""
        return sum(
            self.click_p(user, i, v, k) * self.watch_share(user, i) for k, (i, v) in enumerate(row[:ROW])
        )

    def pair_value(self, user: str, item: str, variant: str, position: int) -> float:
        return self.click_p(user, item, variant, position) * self.watch_share(user, item)

    def oracle(self, user: str, candidates: list[str]) -> float:
        best = sorted(
            (max(self.pair_value(user, i, f"thumb-{s}", 0) for s in STYLES) for i in candidates), reverse=True
        )
        return sum(b * BIAS[k] for k, b in enumerate(best[:ROW]))

    def random_value(self, user: str, candidates: list[str]) -> float:
        mean = statistics.fmean(self.pair_value(user, i, f"thumb-{s}", 0) for i in candidates for s in STYLES)
        return mean * sum(BIAS)

    def history(self, n: int) -> list[dict[str, Any]]:
        """Clicks before the bandit: users click items of the categories they like."""
        events = []
        ids = list(self.items)
        t = time.time() - 3600
        for k in range(n):
            user = self.rng.choice(list(self.users))
            weights = [0.02 + self.taste(self.users[user], self.items[i]["category"]) for i in ids]
            item = self.rng.choices(ids, weights)[0]
            events.append(_event(user, item, "click", None, None, t + k * 0.5))
        return events


def _event(
    user: str, item: str, kind: str, rec_id: str | None, value: float | None, at: float | None = None
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": uuid.uuid4().hex,
        "user_id": user,
        "item_id": item,
        "type": kind,
        "timestamp": datetime.fromtimestamp(at or time.time(), UTC).isoformat(),
    }
    if rec_id:
        event["recommendation_id"] = rec_id
    if value is not None:
        event["value"] = value
    return event


@dataclass
class Tally:
    online: list[float] = field(default_factory=list)
    ranker: list[float] = field(default_factory=list)
    random: list[float] = field(default_factory=list)
    oracle: list[float] = field(default_factory=list)
    ranker_first: list[float] = field(default_factory=list)
    uniform_first: list[float] = field(default_factory=list)
    realized: float = 0.0
    latency_ms: list[float] = field(default_factory=list)
    indie_exposure: list[float] = field(default_factory=list)


def _exposure_share(items: list[str], audience: Audience) -> float:
    weights = [1 / math.log2(2 + k) for k in range(len(items))]
    indie = sum(w for w, i in zip(weights, items, strict=True) if audience.items[i]["provider"] == "indie")
    return indie / sum(weights)


def serve_round(stack: ReplayStack, audience: Audience, tally: Tally, n_requests: int) -> None:
    """``n_requests`` recommendations; the audience reacts; the reactions go back as events."""
    events = []
    for _ in range(n_requests):
        user = audience.rng.choice(list(audience.users))
        body = {
            "user_id": user,
            "n": 10,
            "surface": SURFACE,
            "context": {"segment": audience.users[user]},
            "filters": {"exclude_seen": False},  # people re-watch; 60 videos would run out
        }
        sent = time.perf_counter()
        response = stack.gw.post("/v1/recommendations", json=body)
        tally.latency_ms.append((time.perf_counter() - sent) * 1000)
        if response.status_code != 200:
            raise PlatformError(f"recommendations -> {response.status_code}: {response.text[:500]}")
        data = response.json()
        if not data["items"]:
            raise PlatformError(f"empty list for {user}: {data}")
        served = [(i["item_id"], i.get("presentation")) for i in data["items"]]
        candidates = [i["item_id"] for i in data["items"]]
        by_score = [i["item_id"] for i in sorted(data["items"], key=lambda i: -i["score"])]
        ranker_row = [(i, "thumb-action") for i in by_score]
        tally.online.append(audience.value(user, served))
        tally.ranker.append(audience.value(user, ranker_row))
        tally.random.append(audience.random_value(user, candidates))
        tally.oracle.append(audience.oracle(user, candidates))
        tally.ranker_first.append(audience.pair_value(user, by_score[0], "thumb-action", 0))
        tally.uniform_first.append(
            statistics.fmean(
                audience.pair_value(user, i, f"thumb-{s}", 0) for i in candidates for s in STYLES
            )
        )
        tally.indie_exposure.append(_exposure_share(candidates, audience))
        rec_id = data["recommendation_id"]
        for k, (item, variant) in enumerate(served[:ROW]):
            if audience.rng.random() < audience.click_p(user, item, variant, k):
                share = audience.watch_share(user, item)
                tally.realized += share
                events.append(_event(user, item, "watch", rec_id, round(share * DURATION, 1)))
            elif k == 0:
                events.append(_event(user, item, "skip", rec_id, None))
    if events:
        stack.send_events(events)


def _mean(xs: list[float]) -> float:
    return statistics.fmean(xs) if xs else float("nan")


def _windows(t: Tally, size: int) -> list[str]:
    rows = []
    for start in range(0, len(t.online), size):
        end = min(start + size, len(t.online))
        sl = slice(start, end)
        on, rk, rd, orc = (_mean(x[sl]) for x in (t.online, t.ranker, t.random, t.oracle))
        regret = sum(o - v for o, v in zip(t.oracle[:end], t.online[:end], strict=True))
        rows.append(
            f"| {start + 1}-{end} | {on:.3f} | {rk:.3f} | {rd:.3f} | {orc:.3f} | {on / orc:.0%} "
            f"| {regret:.1f} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1600, help="recommendations in the learning phase")
    parser.add_argument("--round", type=int, default=40, help="requests between two event posts")
    parser.add_argument("--fairness-requests", type=int, default=200, help="requests per fairness phase")
    parser.add_argument("--exploration", type=float, default=0.1)
    parser.add_argument(
        "--apprentice", type=float, default=0.2, help="share of the learning phase in apprentice mode first"
    )
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    audience = Audience(random.Random(args.seed))
    catalog = audience.build()
    schema = {
        "fields": [
            {"name": "title", "type": "text", "required": True},
            {"name": "category", "type": "string"},
            {"name": "provider", "type": "string"},
            {"name": "duration_seconds", "type": "integer"},
            {"name": "variants", "type": "variants"},
        ]
    }
    started = time.monotonic()
    wait_s = 4
    env = {"RECSYS_GATEWAY_BANDIT_REFRESH_SECONDS": "1", "RECSYS_STREAM_BANDIT_CHECKPOINT_SECONDS": "3"}
    with replay_stack("bandit", "bandit-sim", "video", catalog_schema=schema, env=env) as stack:
        stack.import_catalog(catalog)
        history = audience.history(3000)
        stack.send_events(history)
        stack.wait_applied(len(history))
        stack.wait_offline(len(history))
        run = stack.train()
        stack.ensure_champion(run)
        stack.deploy()
        setup_s = time.monotonic() - started
        off = Tally()  # the ranker alone, policy off: the latency baseline
        serve_round(stack, audience, off, 60)
        policy = {
            "mode": "apprentice",
            "exploration": args.exploration,
            "candidates": 10,
            "slots": ROW,
            "reward": {"click": 0.0, "watch": 1.0, "skip": 0.0, "default": 0.0, "wait_seconds": wait_s},
        }
        stack._call("PUT", f"/v1/tenants/{stack.tenant}/policies/{SURFACE}", json=policy)
        time.sleep(2.5)  # the gateway's refresh interval (1 s here) picks the policy up
        tally = Tally()
        learn_started = time.monotonic()
        done = 0
        online_from = int(args.requests * args.apprentice)
        while done < args.requests:
            if policy["mode"] == "apprentice" and done >= online_from:
                policy["mode"] = "online"
                stack._call("PUT", f"/v1/tenants/{stack.tenant}/policies/{SURFACE}", json=policy)
                time.sleep(1.5)
            if not audience.drifted and done >= args.requests // 2:
                audience.drifted = True
            k = min(args.round, args.requests - done)
            serve_round(stack, audience, tally, k)
            done += k
        learn_s = time.monotonic() - learn_started
        time.sleep(wait_s + 4)  # every decision's wait window closes; the processor learns them
        state = stack._call("GET", f"/v1/tenants/{stack.tenant}/policies/{SURFACE}")
        ope = stack._call(
            "POST",
            f"/v1/tenants/{stack.tenant}/policies/{SURFACE}/evaluate",
            json={
                "candidates": [
                    {"name": "ranker", "kind": "ranker"},
                    {"name": "uniform", "kind": "uniform"},
                    {"name": "online", "kind": "checkpoint"},
                    {"name": "greedy", "kind": "checkpoint", "exploration": 0.0},
                ],
                "first_slot_only": True,
            },
        )
        # fairness: an exposure floor for the indie provider, on the learned policy
        before = Tally()
        serve_round(stack, audience, before, args.fairness_requests)
        floor = 0.3
        rules = {
            "slate_size": 10,
            "rules": [
                {"type": "fairness", "field": "provider", "group": "indie", "floor": floor, "name": "indie"}
            ],
        }
        stack._call("PUT", f"/v1/tenants/{stack.tenant}/guardrails/{SURFACE}", json=rules)
        time.sleep(2.5)
        after = Tally()
        serve_round(stack, audience, after, args.fairness_requests)
        total_s = time.monotonic() - started

    third = len(tally.online) // 3
    late = slice(len(tally.online) - third, None)
    pre_drift = slice(len(tally.online) // 2 - third // 2, len(tally.online) // 2)
    true_first = {"ranker": _mean(tally.ranker_first), "uniform": _mean(tally.uniform_first)}
    est = {c["name"]: c for c in ope["candidates"]}
    lines = [
        f"Run {now()} on {machine()}.",
        "",
        f"`python benchmarks/bandit_sim.py --requests {args.requests}` through the real control plane, "
        "gateway, "
        "Kafka, stream processor, MLflow and a KServe model server (the trained champion is the ranker). "
        f"{N_USERS} users in 4 segments (the segment is request context), {N_ITEMS} videos in 6 categories "
        "with "
        f"3 thumbnails each; a visible row of {ROW} (position bias {BIAS}); exploration {args.exploration}; "
        f"reward = share of the video watched; reward wait window {wait_s} s. The first "
        f"{args.apprentice:.0%} of the requests in apprentice mode (the ranker's slate, learned from), then "
        f"online. Preferences drift at request "
        f"{args.requests // 2}. Setup (history of 3,000 clicks, training, deployment) {setup_s:.0f} s; "
        "learning "
        f"phase {learn_s:.0f} s ({len(tally.online) / learn_s:.1f} requests/s with the event posts); "
        f"whole run {total_s:.0f} s. Short run: {args.requests} requests.",
        "",
        "Expected reward per request of the served row (known reward model) and of what the ranker alone, "
        "uniform random and the oracle would have shown on the same requests; regret is cumulative "
        "(oracle - online):",
        "",
        "| requests | online bandit | ranker alone | random | oracle | online / oracle | cum. regret |",
        "|---|---|---|---|---|---|---|",
        *_windows(tally, max(1, len(tally.online) // 8)),
        "",
        f"Last third (after the drift, requests {len(tally.online) - third + 1}-{len(tally.online)}): online "
        f"{_mean(tally.online[late]):.3f} = {_mean(tally.online[late]) / _mean(tally.oracle[late]):.0%} "
        "of the "
        f"oracle's {_mean(tally.oracle[late]):.3f}; ranker alone {_mean(tally.ranker[late]):.3f} "
        f"(online / ranker = {_mean(tally.online[late]) / _mean(tally.ranker[late]):.2f}x). "
        "Just before the drift: "
        f"online {_mean(tally.online[pre_drift]) / _mean(tally.oracle[pre_drift]):.0%} of the oracle. "
        f"Realised reward (sampled clicks) {tally.realized:.1f} over {len(tally.online)} requests. Gateway "
        "latency (one client, sequential, with the other services busy on the same 2 cores): "
        f"p50 {statistics.median(tally.latency_ms):.1f} ms with the bandit stage, "
        f"{statistics.median(off.latency_ms):.1f} ms with the policy off (60 requests before). "
        f"Policy at the end: checkpoint version {state['checkpoint_version']}, {state['learned']} decisions "
        "learned.",
        "",
        f"Off-policy estimates of the first slot from the logged decisions ({ope['decisions']} decisions, "
        f"`POST .../policies/{SURFACE}/evaluate`), against the true value of the same policies on the same "
        "requests (known model):",
        "",
        "| policy | true | IPS | SNIPS | DR [95% CI] | DR error | ESS |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("ranker", "uniform", "online", "greedy"):
        c = est[name]
        truth = true_first.get(name)
        err = f"{(c['dr']['value'] - truth) / truth:+.1%}" if truth else "-"
        lines.append(f"| {name} | {truth:.4f} | " if truth else f"| {name} (checkpoint) | - | ")
        lines[-1] += (
            f"{c['ips']['value']:.4f} | {c['snips']['value']:.4f} | {c['dr']['value']:.4f} "
            f"[{c['dr']['ci_low']:.4f}, {c['dr']['ci_high']:.4f}] | {err} "
            f"| {c['effective_sample_size']:.0f} |"
        )
    cost = 1 - _mean(after.online) / _mean(before.online)
    lines += [
        "",
        f"Fairness guardrail (position-weighted exposure floor {floor:.0%} for provider `indie`, 1 in 5 "
        f"videos), {args.fairness_requests} requests before and after switching it on: indie exposure "
        f"{_mean(before.indie_exposure):.1%} -> {_mean(after.indie_exposure):.1%} (min per slate after: "
        f"{min(after.indie_exposure):.1%}); reward {_mean(before.online):.3f} -> {_mean(after.online):.3f} "
        f"(cost {cost:.1%}).",
    ]
    report = "\n".join(lines)
    print(report)
    if not args.no_write:
        write_section("Contextual bandit: simulated audience (bandit_sim.py)", report)


if __name__ == "__main__":
    main()
