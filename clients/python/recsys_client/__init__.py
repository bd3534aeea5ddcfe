"""recsys-client: typed sync and async clients for the recsys gateway and control plane.

>>> from recsys_client import GatewayClient
>>> with GatewayClient("http://127.0.0.1:8080", api_key="rk_...") as gw:
...     gw.track("u-1", "sku-9", "click")
...     items = gw.recommend("u-1", n=5).items
"""

from recsys_client._http import NO_RETRIES, RetryPolicy
from recsys_client.control_plane import AsyncControlPlaneClient, ControlPlaneClient, paginate
from recsys_client.errors import (
    ApiError,
    BadRequest,
    Conflict,
    ConnectionFailed,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    RecsysError,
    ServerError,
    ServiceUnavailable,
    Unauthenticated,
)
from recsys_client.gateway import AsyncGatewayClient, EventBatcher, GatewayClient, make_event
from recsys_client.models import Event, EventBatchResult, ProblemDetails, RecommendationResponse

__version__ = "0.1.0"

__all__ = [
    "NO_RETRIES",
    "ApiError",
    "AsyncControlPlaneClient",
    "AsyncGatewayClient",
    "BadRequest",
    "Conflict",
    "ConnectionFailed",
    "ControlPlaneClient",
    "Event",
    "EventBatchResult",
    "EventBatcher",
    "Forbidden",
    "GatewayClient",
    "InvalidInput",
    "NotFound",
    "PayloadTooLarge",
    "ProblemDetails",
    "RateLimited",
    "RecommendationResponse",
    "RecsysError",
    "RetryPolicy",
    "ServerError",
    "ServiceUnavailable",
    "Unauthenticated",
    "__version__",
    "make_event",
    "paginate",
]
