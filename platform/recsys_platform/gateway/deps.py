"""Gateway request dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

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


def _services(request: Request) -> GatewayServices:
    services: GatewayServices = request.app.state.services
    return services


ServicesDep = Annotated[GatewayServices, Depends(_services)]


def get_caller(
    services: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> TenantCaller:
    caller = services.auth.authenticate(bearer_token(authorization, x_api_key))
    set_tenant(caller.tenant_id)
    return caller


CallerDep = Annotated[TenantCaller, Depends(get_caller)]
