"""Gateway request dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool

from recsys_platform.events.log import EventLog
from recsys_platform.gateway.auth import GatewayAuth, TenantCaller
from recsys_platform.gateway.ratelimit import RateLimiter
from recsys_platform.observability.logging import set_tenant
from recsys_platform.settings import GatewaySettings
from recsys_platform.web.credentials import bearer_token


@dataclass
class GatewayServices:
    settings: GatewaySettings
    auth: GatewayAuth
    event_log: EventLog
    limiter: RateLimiter
    topic_prefix: str


async def _services(request: Request) -> GatewayServices:
    # async: FastAPI runs a plain ``def`` dependency in the thread pool, a hop per request
    services: GatewayServices = request.app.state.services
    return services


ServicesDep = Annotated[GatewayServices, Depends(_services)]


async def get_caller(
    services: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> TenantCaller:
    """The authenticated caller: a cache hit on the event loop, a miss (database) in a thread."""
    raw_key = bearer_token(authorization, x_api_key)
    caller = services.auth.cached(raw_key)
    if caller is None:
        caller = await run_in_threadpool(services.auth.authenticate, raw_key)
    set_tenant(caller.tenant_id)
    return caller


CallerDep = Annotated[TenantCaller, Depends(get_caller)]
