"""``/healthz`` (alive), ``/readyz`` (dependencies answer) and ``/metrics``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


@dataclass(frozen=True)
class ReadinessCheck:
    """A named dependency probe; raises or returns False when the dependency is not usable."""

    name: str
    probe: Callable[[], bool | None]


def health_router(checks: list[ReadinessCheck], registry: CollectorRegistry) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        results: dict[str, dict[str, object]] = {}
        ready = True
        for check in checks:
            start = time.perf_counter()
            try:
                ok = await run_in_threadpool(check.probe) is not False
                error = None if ok else "probe returned false"
            except Exception as exc:  # any failure means not ready; the reason is reported
                ok, error = False, f"{type(exc).__name__}: {exc}"
            ready &= ok
            results[check.name] = {
                "ok": ok,
                "latency_ms": round((time.perf_counter() - start) * 1000, 2),
                **({"error": error} if error else {}),
            }
        status = 200 if ready else 503
        media = "application/json" if ready else "application/problem+json"
        body: dict[str, object] = {"status": "ready" if ready else "not ready", "checks": results}
        if not ready:
            failing = ", ".join(k for k, v in results.items() if not v["ok"])
            body |= {
                "type": "https://recsys.dev/problems/not-ready",
                "title": "Not ready",
                "detail": f"dependencies not ready: {failing}",
            }
        return JSONResponse(body, status_code=status, media_type=media)

    @router.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
