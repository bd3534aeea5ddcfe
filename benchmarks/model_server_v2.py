"""Sequential V2 (Open Inference Protocol) infer calls: this checkout's model server side by side
with another git revision's (default: where this branch left ``main``), in one run.

Both servers are real ``python -m recsys_model_servers`` processes serving the same model, fitted
on the news demo catalog, without an online store (each request carries the user's history), so
the difference is the protocol layer. Calls go one at a time over one keep-alive connection per
server (``httpx``), alternating call by call between the two servers so both see the same machine
load. Modes:
JSON tensors, and binary tensors (the binary extension's request body; the response is binary
where the server supports it).

    python benchmarks/model_server_v2.py                      # 4 rounds of 250 calls per server and mode
    python benchmarks/model_server_v2.py --baseline-ref main --rounds 2 --no-write

Writes a section to docs/benchmarks.md unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))
from _machine import machine, now, write_section  # noqa: E402
from freshness import free_port, percentile, process  # noqa: E402

NAME = "daily-planet"


def checkout(ref: str, into: Path) -> Path:
    """The ``platform`` and ``model_servers`` folders of ``ref`` (git archive) under ``into``."""
    tar = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "platform", "model_servers"], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(into, filter="data")
    return into


def server_env(source: Path, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECSYS_MODEL_SERVER_")}
    env["PYTHONPATH"] = os.pathsep.join(str(source / p) for p in ("platform", "model_servers"))
    env.update(
        {
            "OPENBLAS_NUM_THREADS": "1",
            "TMPDIR": str(tmp),
            "RECSYS_MODEL_SERVER_TELEMETRY__LOG_LEVEL": "WARNING",
        }
    )
    return env


def cpu_ms(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads), in milliseconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")


def rev(ref: str) -> str:
    cmd = ["git", "-C", str(ROOT), "rev-parse", "--short", ref]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def bodies(binary: bool, count: int) -> list[tuple[bytes, dict[str, str]]]:
    """``count`` one-request infer bodies, a different demo user and history each."""
    out = []
    for i in range(count):
        request = json.dumps(
            {
                "user_id": f"demo-user-{i % 120}",
                "n": 10,
                "history": [f"n{(7 * i) % 300:04d}", f"n{(7 * i + 3) % 300:04d}"],
            }
        )
        tensor = {"name": "request", "shape": [1], "datatype": "BYTES"}
        if not binary:
            body = json.dumps({"inputs": [{**tensor, "data": [request]}]}).encode()
            out.append((body, {"content-type": "application/json"}))
            continue
        raw = struct.pack("<I", len(request)) + request.encode()
        header = json.dumps(
            {
                "inputs": [{**tensor, "parameters": {"binary_data_size": len(raw)}}],
                "outputs": [{"name": "response", "parameters": {"binary_data": True}}],
            }
        ).encode()
        headers = {
            "content-type": "application/octet-stream",
            "inference-header-content-length": str(len(header)),
        }
        out.append((header + raw, headers))
    return out


def call(client: httpx.Client, url: str, body: bytes, headers: dict[str, str]) -> float:
    """One infer call's wall time in ms (a non-200 answer stops the benchmark)."""
    start = time.perf_counter()
    r = client.post(url, content=body, headers=headers)
    ms = (time.perf_counter() - start) * 1000
    if r.status_code != 200:
        raise RuntimeError(f"{url}: {r.status_code} {r.text[:300]}")
    return ms


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--baseline-ref", help="git revision to compare with (default: where this branch left main)"
    )
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--calls", type=int, default=250, help="calls per round (per server and mode)")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()

    from tests.integration.model_servers.support import fit_demo_model

    where, when = machine(), now()
    if args.baseline_ref is None:
        cmd = ["git", "-C", str(ROOT), "merge-base", "HEAD", "main"]
        fork = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        args.baseline_ref = fork.strip()[:12]
    baseline_sha, head_sha = rev(args.baseline_ref), rev("HEAD")
    with tempfile.TemporaryDirectory(prefix="bench-v2-") as tmp_name:
        tmp = Path(tmp_name)
        artifact = fit_demo_model(tmp / "artifact")
        sources = {"baseline": checkout(args.baseline_ref, tmp / "baseline"), "this": ROOT}
        results: dict[tuple[str, str], list[float]] = {}
        with_servers = []
        for label, source in sources.items():
            port = free_port()
            cmd = [sys.executable, "-m", "recsys_model_servers", "--name", NAME, "--port", str(port)]
            cmd += ["--model-uri", str(artifact), "--no-online-features"]
            ctx = process(
                cmd, server_env(source, tmp), f"http://127.0.0.1:{port}/v2/health/ready", tmp / f"{label}.log"
            )
            with_servers.append((label, port, ctx))
        pids = {label: ctx.__enter__().pid for label, _, ctx in with_servers}
        cpu: dict[tuple[str, str], float] = {}
        try:
            clients = {label: httpx.Client(timeout=10) for label, _, _ in with_servers}
            urls = {
                label: f"http://127.0.0.1:{port}/v2/models/{NAME}/infer" for label, port, _ in with_servers
            }
            modes = {mode: bodies(mode == "binary", args.calls) for mode in ("json", "binary")}
            for label in urls:  # warm-up
                for body, headers in modes["json"][:50]:
                    call(clients[label], urls[label], body, headers)
            for mode, calls in modes.items():
                before = {label: cpu_ms(pid) for label, pid in pids.items()}
                for r in range(args.rounds):
                    # one call to each server in turn (first one, then the other), so both see the
                    # same moment of the machine's load
                    for i, (body, headers) in enumerate(calls):
                        order = list(urls) if (r + i) % 2 == 0 else list(urls)[::-1]
                        for label in order:
                            ms = call(clients[label], urls[label], body, headers)
                            results.setdefault((label, mode), []).append(ms)
                for label, pid in pids.items():
                    cpu[(label, mode)] = cpu_ms(pid) - before[label]
            for c in clients.values():
                c.close()
        finally:
            for _, _, ctx in reversed(with_servers):
                ctx.__exit__(None, None, None)

    rows = []
    for mode in ("json", "binary"):
        base, this = results[("baseline", mode)], results[("this", mode)]
        b50, t50 = statistics.median(base), statistics.median(this)
        b99, t99 = percentile(base, 99), percentile(this, 99)
        bcpu, tcpu = cpu[("baseline", mode)] / len(base), cpu[("this", mode)] / len(this)
        rows.append(
            f"| {mode} | {len(this)} | {b50:.2f} | {t50:.2f} | {t50 / b50:.2f} "
            f"| {b99:.2f} | {t99:.2f} | {t99 / b99:.2f} | {bcpu:.2f} | {tcpu:.2f} | {tcpu / bcpu:.2f} |"
        )
    table = "\n".join(
        [
            f"| tensors | calls per server | p50 ms {baseline_sha} | p50 ms {head_sha} | ratio | "
            f"p99 ms {baseline_sha} | p99 ms {head_sha} | ratio | "
            f"server CPU ms/call {baseline_sha} | server CPU ms/call {head_sha} | ratio |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    print(table)  # noqa: T201 - the benchmark's output
    command = f"python benchmarks/model_server_v2.py --baseline-ref {args.baseline_ref}"
    command += f" --rounds {args.rounds} --calls {args.calls}"
    body = f"""{when}; {where}.

`{command}`:
sequential `POST /v2/models/{NAME}/infer` calls (one REQUEST each: a demo user, its history,
`n` 10) over one keep-alive connection each to two real model-server processes serving the same
model fitted on the news demo catalog, without an online store: `{baseline_sha}`
(before the protocol layer of issue 16: KServe's own V2 routes) and `{head_sha}` (this checkout),
alternating call by call ({args.rounds} rounds of {args.calls} calls per server and mode). Binary:
the binary tensor extension's request body, response asked as binary (the baseline answers JSON). A short
run on a shared 2-core machine: read the ratios, not the absolute numbers. Server CPU per call
is the server process's user+system time (`/proc/<pid>/stat`) over the mode's calls, divided by the
calls: less sensitive to the other jobs on the machine than wall-clock percentiles.

{table}
"""
    if not args.no_write:
        write_section("Latency: model server V2 infer, sequential", body)


if __name__ == "__main__":
    main()
