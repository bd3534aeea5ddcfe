"""The REST routes of the Open Inference Protocol (V2) and V1 predict, ahead of KServe's own.

KServe 0.21's V2 routes deviate from the protocol in ways clients notice (``versions: null``,
empty tensor metadata, no shape checks, FastAPI's 422 ``{"detail": ...}`` for malformed bodies,
``"parameters": null``, requested outputs ignored, 501 for versioned paths, tracebacks at ERROR
for 404s). These routes take the same paths first, decode and encode with :mod:`oip`, and call
the model through ``Model.__call__`` with a KServe ``InferRequest`` (so the model's hooks,
KServe's metrics and gRPC see one request shape). Every error is ``{"error": "..."}``.

Versions: the deployment serves one registered version at a time (``models:/...@alias`` moves
on a hot swap); ``versions`` lists it, ``/versions/<v>/...`` answers for it and 404 otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferInput, InferRequest, InferResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from recsys_model_servers import oip

log = logging.getLogger("recsys_model_servers.protocol")

SERVER_NAME = "recsys-model-server"
PLATFORM = "recsys"
#: Extensions this server implements (Triton's name for the binary tensor data extension).
EXTENSIONS = ["binary_tensor_data"]


def _error(status: int, message: str) -> Response:
    return Response(oip.error_body(message), status_code=status, media_type=oip.JSON_TYPE)


def _json(body: Any) -> Response:
    import orjson

    return Response(orjson.dumps(body), media_type=oip.JSON_TYPE)


class ProtocolRoutes:
    """The handlers of one served model (``model``, a ``RecsysModel``)."""

    def __init__(self, model: Any, version: Callable[[], str]) -> None:
        self.model = model
        self.version = version
        try:
            self.server_version = package_version("recsys")
        except PackageNotFoundError:  # run from a checkout without installing
            self.server_version = "0"

    def _check(self, model_name: str, model_version: str | None) -> Response | None:
        """A 404/503 response when the name or version is not served (None: go on)."""
        if model_name != self.model.name:
            log.info("unknown model %r asked (serving %r)", model_name, self.model.name)
            return _error(404, f"model {model_name!r} not found (this server serves {self.model.name!r})")
        if not self.model.ready:
            return _error(503, f"model {model_name!r} is not ready")
        if model_version is not None:
            current = self.version()
            if model_version != current:
                log.info("unknown version %r of %r asked (serving %r)", model_version, model_name, current)
                message = f"model {model_name!r} version {model_version!r} not found (serving {current!r})"
                return _error(404, message)
        return None

    async def server_metadata(self) -> Response:
        return _json({"name": SERVER_NAME, "version": self.server_version, "extensions": EXTENSIONS})

    async def model_metadata(self, model_name: str, model_version: str | None = None) -> Response:
        if (refused := self._check(model_name, model_version)) is not None:
            return refused
        tensor = {"datatype": oip.DATATYPE, "shape": [-1]}
        return _json(
            {
                "name": self.model.name,
                "versions": [self.version()],
                "platform": PLATFORM,
                "inputs": [{"name": oip.INPUT, **tensor}],
                "outputs": [{"name": oip.OUTPUT, **tensor}],
            }
        )

    async def model_ready(self, model_name: str, model_version: str | None = None) -> Response:
        if (refused := self._check(model_name, model_version)) is not None:
            return refused
        return _json({"name": self.model.name, "ready": True})

    async def infer(self, request: Request, model_name: str, model_version: str | None = None) -> Response:
        if (refused := self._check(model_name, model_version)) is not None:
            return refused
        headers = dict(request.headers)
        try:
            call = oip.decode_infer(await request.body(), headers.get(oip.HEADER_LENGTH))
        except oip.ProtocolError as exc:
            log.warning("bad request: %s", exc.message)
            return _error(exc.status, exc.message)
        tensor = InferInput(name=oip.INPUT, shape=call.shape, datatype=oip.DATATYPE, data=call.elements)
        infer_request = InferRequest(model_name=model_name, infer_inputs=[tensor], request_id=call.request_id)
        try:
            result = await self.model(infer_request, headers=headers)
        except InvalidInput as exc:
            log.warning("bad request: %s", exc)
            return _error(400, str(exc))
        response = result[0] if isinstance(result, tuple) else result
        if not isinstance(response, InferResponse):  # pragma: no cover - the model always answers so
            raise TypeError(f"model answered a V2 request with {type(response).__name__}")
        data = response.outputs[0].data
        body, out_headers = oip.encode_infer(self.model.name, response.model_version, call, list(data))
        return Response(body, headers=out_headers)

    async def predict_v1(self, request: Request, model_name: str) -> Response:
        if (refused := self._check(model_name, None)) is not None:
            return refused
        import orjson

        body = await request.body()
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            message = f"body: not valid JSON ({exc})"
            log.warning("bad request: %s", message)
            return _error(400, message)
        try:
            result = await self.model(payload, headers=dict(request.headers))
        except InvalidInput as exc:
            log.warning("bad request: %s", exc)
            return _error(400, str(exc))
        return _json(result[0] if isinstance(result, tuple) else result)


async def _http_error(_: Request, exc: Exception) -> Response:
    """FastAPI's own answers (no such path: 404, wrong method: 405) in the protocol's error shape."""
    assert isinstance(exc, StarletteHTTPException)
    return _error(exc.status_code, f"{exc.detail}")


async def _validation_error(_: Request, exc: Exception) -> Response:
    """A body FastAPI refuses on a KServe route left to it: 400 naming the field, not 422 ``detail``."""
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    loc = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    message = f"{loc}: {first.get('msg', 'invalid')}"
    log.warning("bad request: %s", message)
    return _error(400, message)


def install_routes(app: FastAPI, model: Any, version: Callable[[], str]) -> None:
    """Put the protocol routes of ``model`` in front of every route ``app`` has or will get, and
    answer FastAPI's own errors (unknown path, wrong method, refused body) as ``{"error": ...}``."""
    routes = ProtocolRoutes(model, version)
    router = APIRouter()
    add = router.add_api_route
    add("/v2", routes.server_metadata, methods=["GET"], include_in_schema=False)
    add("/v2/", routes.server_metadata, methods=["GET"], include_in_schema=False)
    for suffix in ("", "/versions/{model_version}"):
        base = "/v2/models/{model_name}" + suffix
        add(base, routes.model_metadata, methods=["GET"])
        add(base + "/ready", routes.model_ready, methods=["GET"])
        add(base + "/infer", routes.infer, methods=["POST"])
    add("/v1/models/{model_name}:predict", routes.predict_v1, methods=["POST"])
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    before = len(app.router.routes)
    app.include_router(router)
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[0:0] = added
