"""The ``kserve.Model``: thin hooks that decode V1/V2 requests and call the service.

V1: ``POST /v1/models/<name>:predict`` with ``{"instances": [REQUEST, ...]}`` ->
``{"predictions": [RESPONSE, ...]}``.

V2 (Open Inference): ``POST /v2/models/<name>/infer`` with one ``BYTES`` input named
``request``, each element one REQUEST as a JSON string (shape ``[k]``); the output
``response`` holds the RESPONSEs as JSON strings in the same order.

``predict`` is a coroutine that runs the synchronous request path in the model's own small
thread pool: KServe calls a plain ``def predict`` on its event loop, which serves one request
at a time and stops accepting connections meanwhile. In the pool, the online-store read (network
I/O) and numpy/FAISS work of one request overlap with the others.

Import this module only after ``sys.argv`` is reset (``kserve.model_server`` parses
it at import time); ``__main__`` does that.
"""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kserve import Model
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

from recsys_model_servers.schemas import Request, RequestError
from recsys_model_servers.service import RecommendationService

V2_INPUT = "request"
V2_OUTPUT = "response"


class RecsysModel(Model):  # type: ignore[misc]  # kserve ships no type information
    """One deployment of a tenant's recommender, served under the deployment name."""

    def __init__(
        self, name: str, service: RecommendationService, ready: bool = False, predict_threads: int = 4
    ) -> None:
        super().__init__(name)
        self.service = service
        self.ready = ready
        self._pool = ThreadPoolExecutor(max_workers=predict_threads, thread_name_prefix="recsys-predict")

    def load(self) -> bool:
        """The loader has already loaded the artifact; the model is ready once it has."""
        self.ready = True
        return self.ready

    async def predict(
        self, payload: dict[str, Any] | InferRequest, headers: dict[str, str] | None = None
    ) -> dict[str, Any] | InferResponse:
        """V1 dict in -> dict out; V2 ``InferRequest`` in -> ``InferResponse`` out (in the thread pool)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.predict_sync, payload, headers)

    def predict_sync(
        self, payload: dict[str, Any] | InferRequest, headers: dict[str, str] | None = None
    ) -> dict[str, Any] | InferResponse:
        """The synchronous request path of :meth:`predict` (raises KServe's ``InvalidInput``)."""
        try:
            if isinstance(payload, InferRequest):
                requests = self.service.parse(_v2_instances(payload), field=f"inputs.{V2_INPUT}")
                responses = self.service.predict(requests, headers, field=f"inputs.{V2_INPUT}")
                return _v2_response(payload, self.name, responses, _v2_shape(payload, len(responses)))
            if isinstance(payload, bytes | str):  # a body sent without a JSON content type
                try:
                    payload = json.loads(payload)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    raise RequestError("body", "must be JSON (Content-Type: application/json)") from None
            if not isinstance(payload, dict):
                raise RequestError("body", "must be a JSON object with instances")
            unknown = sorted(set(payload) - {"instances"})
            if unknown:
                raise RequestError(unknown[0], "unknown field (expected only instances)")
            parsed: list[Request] = self.service.parse(payload.get("instances"))
            return {"predictions": self.service.predict(parsed, headers)}
        except RequestError as exc:
            raise InvalidInput(str(exc)) from None

    def validate(self, payload: Any) -> Any:
        """No KServe-side checks: :meth:`predict_sync` checks the body and names the bad field
        (KServe's own check answers without one: 'Expected "instances" to be a list')."""
        return payload

    def stop(self) -> None:
        """Release the thread pool (KServe calls this when the model is unloaded)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        super().stop()


def _v2_instances(request: InferRequest) -> list[object]:
    inputs = {i.name: i for i in request.inputs}
    if V2_INPUT not in inputs:
        raise RequestError("inputs", f"needs one BYTES input named {V2_INPUT!r}")
    unknown = sorted(set(inputs) - {V2_INPUT})
    if unknown:
        raise RequestError(f"inputs.{unknown[0]}", "unknown input")
    tensor = inputs[V2_INPUT]
    if tensor.datatype != "BYTES":
        raise RequestError(f"inputs.{V2_INPUT}.datatype", f"must be BYTES, got {tensor.datatype}")
    elements = _flatten(tensor.data)
    shape = [int(d) for d in tensor.shape]
    if math.prod(shape) != len(elements) or not elements:  # gRPC: not checked before the model
        count = math.prod(shape)
        reason = f"{shape} holds {count} elements, the data has {len(elements)}"
        raise RequestError(f"inputs.{V2_INPUT}.shape", reason)
    out: list[object] = []
    for i, element in enumerate(elements):
        text = element.decode("utf-8") if isinstance(element, bytes) else element
        if isinstance(text, dict):  # already decoded JSON
            out.append(text)
            continue
        if not isinstance(text, str):
            raise RequestError(f"inputs.{V2_INPUT}[{i}]", "must be a JSON string")
        try:
            out.append(json.loads(text))
        except json.JSONDecodeError as exc:
            raise RequestError(f"inputs.{V2_INPUT}[{i}]", f"not valid JSON ({exc.msg})") from None
    return out


def _flatten(data: Any) -> list[Any]:
    if hasattr(data, "tolist"):
        data = data.tolist()
    if not isinstance(data, list):
        return [data]
    flat: list[Any] = []
    for element in data:
        flat.extend(_flatten(element) if isinstance(element, list) else [element])
    return flat


def _v2_shape(request: InferRequest, count: int) -> list[int]:
    """The ``response`` tensor's shape: the ``request`` tensor's (``[k]``, ``[k, 1]``, ...)."""
    tensor = next((i for i in request.inputs if i.name == V2_INPUT), None)
    shape = [int(d) for d in tensor.shape] if tensor is not None else []
    return shape if shape and math.prod(shape) == count else [count]


def _v2_response(
    request: InferRequest, name: str, responses: list[dict[str, Any]], shape: list[int]
) -> InferResponse:
    version = responses[0]["model_version"] if responses else None
    output = InferOutput(
        name=V2_OUTPUT,
        shape=shape,
        datatype="BYTES",
        data=[json.dumps(r, separators=(",", ":")) for r in responses],
    )
    return InferResponse(
        response_id=request.id or uuid.uuid4().hex,
        model_name=name,
        infer_outputs=[output],
        model_version=version,
    )
