"""A real KServe model server with a tiny deterministic model, for gateway tests.

Run as ``python -m tests.integration.gateway.fake_model_server`` with the environment:
FAKE_MODEL_NAME (served model names = deployment names, comma-separated), FAKE_MODEL_PORT, and optionally
FAKE_MODEL_TRACE_FILE (every received ``traceparent`` is appended to it).

Answers the platform's V1 wire protocol: items are derived from the user id and prefixed
with the model name (so a test sees which deployment answered); ``context.sleep_ms``
makes it slow; ``context.reject`` makes it refuse the request (400 naming the field).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from typing import Any

N_ITEMS = 300
FILTER_KEYS = {"include_categories", "exclude_categories", "exclude_items"}


def category(index: int) -> str:
    return f"cat{index % 3}"


def main() -> None:
    names = os.environ["FAKE_MODEL_NAME"].split(",")
    port = int(os.environ["FAKE_MODEL_PORT"])
    trace_file = os.environ.get("FAKE_MODEL_TRACE_FILE")
    sys.argv = sys.argv[:1]  # kserve parses argv at import time
    import kserve
    from kserve.errors import InvalidInput

    class FakeRecommender(kserve.Model):  # type: ignore[misc]
        def __init__(self, name: str) -> None:
            super().__init__(name)
            self.ready = True

        def item(self, index: int, score: float, reason: str) -> dict[str, Any]:
            return {
                "item_id": f"{self.name}-i{index:03d}",
                "score": score,
                "reason": reason,
                "sources": ["fake"],
            }

        async def predict(
            self, payload: Any, headers: dict[str, str] | None = None, response_headers: Any = None
        ) -> dict[str, Any]:
            if trace_file and headers and headers.get("traceparent"):
                with open(trace_file, "a") as f:
                    f.write(headers["traceparent"] + "\n")
            instances = payload.get("instances") if isinstance(payload, dict) else None
            if not isinstance(instances, list) or len(instances) != 1:
                raise InvalidInput("instances: expected a list with one request")
            return {"predictions": [await self.answer(instances[0])]}

        async def answer(self, req: dict[str, Any]) -> dict[str, Any]:
            n = req.get("n", 10)
            if not isinstance(n, int) or not 1 <= n <= 200:
                raise InvalidInput("n: must be an integer between 1 and 200")
            context = req.get("context") or {}
            if "reject" in context:
                raise InvalidInput("context.reject: this model refuses the request")
            if context.get("sleep_ms"):
                await asyncio.sleep(float(context["sleep_ms"]) / 1000)
            name = self.name
            base = {"model_version": "7", "model_name": name, "cold_start": False}
            if req.get("popular"):
                return {**base, "items": [self.item(i, 1 - i / N_ITEMS, "popular now") for i in range(n)]}
            if "similar_to" in req:
                target = str(req["similar_to"])
                if not target.startswith(f"{name}-i"):
                    raise InvalidInput(f"similar_to: unknown item '{target}'")
                start = int(target.rsplit("i", 1)[1])
                idx = [(start + k) % N_ITEMS for k in range(1, n + 1)]
                items = [self.item(i, 1 - k / n, f"like {target}") for k, i in enumerate(idx)]
                return {**base, "items": items}
            filters = req.get("filters") or {}
            for key in filters:
                if key not in FILTER_KEYS:
                    raise InvalidInput(f"filters.{key}: unknown filter")
            user = str(req["user_id"])
            seed = int(hashlib.sha256(user.encode()).hexdigest()[:8], 16)
            out: list[dict[str, Any]] = []
            for k in range(N_ITEMS):
                i = (seed + k * 7) % N_ITEMS
                cat = category(i)
                if f"{name}-i{i:03d}" in (filters.get("exclude_items") or ()):
                    continue
                if filters.get("include_categories") and cat not in filters["include_categories"]:
                    continue
                if cat in (filters.get("exclude_categories") or ()):
                    continue
                out.append(self.item(i, 1 - len(out) / 100, f"for {user[:2]}"))
                if len(out) == n:
                    break
            return {**base, "items": out}

    kserve.ModelServer(http_port=port, enable_grpc=False, enable_latency_logging=False).start(
        [FakeRecommender(n) for n in names]
    )


if __name__ == "__main__":
    main()
