"""Per-stage breakdown of a py-spy profile (``py-spy record --format raw``: collapsed stacks).

Each sample is charged to the innermost stage whose frame pattern appears in its stack (a
frame is ``function (file:line)``); samples of idle threads (waiting on a lock, a socket or the
event loop's selector with nothing to do) are left out, so the shares are of CPU time.

    python benchmarks/_profile_stages.py model-server.txt gateway.txt
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

#: (stage, frame pattern), innermost match wins; the patterns name our own functions first.
MODEL_SERVER_STAGES = [
    ("protocol decode (V1 JSON, request parse)", r"^(parse_request|parse|_v2_instances) \(|json/decoder"),
    ("feature read (Feast online row)", r"recsys_platform/features/feast_store|features\.py:6\d\)"),
    ("streaming signals read (Redis)", r"streaming/(redis_store|scoring)|features\.py:1[01]\d\)"),
    ("streaming blend", r"stream_blend\.py"),
    ("candidate generation + ranker (model.recommend)", r"^recommend \(recsys_platform/recommenders/hybrid"),
    ("re-rank (filters, freshness, MMR, cap)", r"rerank\.py|^_candidates \(recsys_model_servers"),
    ("response encode", r"^_response \(recsys_model_servers|orjson|jsonable|json/encoder"),
    ("tracing (spans)", r"opentelemetry|tracing\.py"),
    ("KServe / FastAPI / uvicorn (HTTP)", r"kserve|fastapi|starlette|uvicorn|h11|httptools|pydantic"),
]
GATEWAY_STAGES = [
    ("auth (key -> tenant)", r"gateway/auth\.py|tenancy/keys|tenancy/lookup"),
    ("rate limit", r"ratelimit\.py"),
    ("routing + assignment", r"routing\.py|assignment\.py|gateway/serving\.py"),
    ("impression (Kafka produce)", r"impressions\.py|confluent_kafka|kafka_log"),
    ("model-server call (aiohttp client)", r"model_client\.py|aiohttp|yarl|multidict"),
    ("fallback list", r"fallback\.py"),
    ("request/response models (pydantic)", r"pydantic|recommendation_schemas|rerank_schemas"),
    ("tracing (spans)", r"opentelemetry|tracing\.py"),
    ("FastAPI / starlette / uvicorn (HTTP)", r"fastapi|starlette|uvicorn|h11|httptools|anyio"),
]
IDLE = re.compile(
    r"\b(select|poll|epoll|_worker \(concurrent|wait \(threading|_wait_for_tstate_lock|"
    r"run_forever|_run_once|acquire|get \(queue)\b"
)


def stage_shares(raw: str, stages: list[tuple[str, str]]) -> tuple[int, list[tuple[str, float]]]:
    """(busy samples, [(stage, share of busy samples)]) with an ``other`` row last."""
    patterns = [(name, re.compile(p)) for name, p in stages]
    counts: Counter[str] = Counter()
    busy = 0
    for line in raw.splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        frames = stack.split(";")
        if IDLE.search(frames[-1]):  # the leaf frame waits: not CPU
            continue
        busy += int(n)
        for frame in reversed(frames):
            hit = next((name for name, p in patterns if p.search(frame)), None)
            if hit:
                counts[hit] += int(n)
                break
        else:
            counts["other (interpreter, GC, threads)"] += int(n)
    order = [name for name, _ in stages] + ["other (interpreter, GC, threads)"]
    return busy, [(name, counts[name] / busy if busy else 0.0) for name in order if counts[name]]


def table(title: str, raw_path: Path, stages: list[tuple[str, str]], cpu_ms: float | None = None) -> str:
    """A markdown table of the stage shares (and ms of CPU per request when ``cpu_ms`` is given)."""
    busy, shares = stage_shares(raw_path.read_text(), stages)
    head = f"| {title} stage | share of CPU samples |" + (" CPU ms/request |" if cpu_ms else "")
    rows = [head, "|---|---|" + ("---|" if cpu_ms else "")]
    for name, share in shares:
        rows.append(f"| {name} | {share:.0%} |" + (f" {share * cpu_ms:.2f} |" if cpu_ms else ""))
    rows.append(f"| (busy samples) | {busy} |" + (" |" if cpu_ms else ""))
    return "\n".join(rows)


if __name__ == "__main__":
    for path in sys.argv[1:]:
        stages = GATEWAY_STAGES if "gateway" in path else MODEL_SERVER_STAGES
        print(table(Path(path).stem, Path(path), stages))  # noqa: T201 - a script
        print()  # noqa: T201
