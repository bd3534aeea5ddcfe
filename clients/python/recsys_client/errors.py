"""Errors: every non-2xx answer is a :class:`ApiError` carrying the problem details.

The subclass says what kind of error it was (``except NotFound``), ``problem`` has the
RFC 9457 body the service sent (``detail``, ``errors`` naming the fields).
"""

from typing import Any, Optional

from recsys_client.models import ProblemDetails


class RecsysError(Exception):
    """Base of the client's errors."""


class ConnectionFailed(RecsysError):
    """The service could not be reached (refused, DNS, timeout): the message names the URL."""

    def __init__(self, url: str, reason: str, hint: str = "") -> None:
        self.url = url
        self.reason = reason
        message = f"cannot reach {url}: {reason}"
        super().__init__(f"{message}. {hint}" if hint else message)


class ApiError(RecsysError):
    """A non-2xx answer with its problem details."""

    def __init__(
        self, status: int, problem: ProblemDetails, headers: Optional[dict[str, str]] = None
    ) -> None:
        self.status = status
        self.problem = problem
        self.headers = headers or {}
        super().__init__(f"HTTP {status}: {problem.detail or problem.title}")

    @property
    def detail(self) -> str:
        return self.problem.detail

    @property
    def field_errors(self) -> dict[str, str]:
        """``{field: reason}`` of the invalid fields the service named."""
        return {e.field: e.reason for e in self.problem.errors or []}


class BadRequest(ApiError):
    """400."""


class Unauthenticated(ApiError):
    """401: no key, or an unknown, malformed or revoked one."""


class Forbidden(ApiError):
    """403: the key lacks the scope, or belongs to another tenant."""


class NotFound(ApiError):
    """404."""


class Conflict(ApiError):
    """409: exists already, or not in a state that allows this."""


class PayloadTooLarge(ApiError):
    """413."""


class InvalidInput(ApiError):
    """422: ``field_errors`` names each field and the reason."""


class RateLimited(ApiError):
    """429: the tenant's quota is exhausted (after the client's retries)."""


class ServiceUnavailable(ApiError):
    """503 (or 502/504): a backing service did not answer (after the client's retries)."""


class ServerError(ApiError):
    """500 and other 5xx."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: InvalidInput,
    429: RateLimited,
    502: ServiceUnavailable,
    503: ServiceUnavailable,
    504: ServiceUnavailable,
}


def error_for(status: int, body: Any, headers: Optional[dict[str, str]] = None) -> ApiError:
    """The exception of an answer: its status's class with the parsed problem details (a body
    that is not problem details, e.g. from a proxy, becomes one with the text as ``detail``)."""
    if isinstance(body, dict) and "detail" in body:
        problem = ProblemDetails.model_validate(
            {"type": "about:blank", "title": "", "status": status, **body}
        )
    else:
        text = body if isinstance(body, str) else str(body)
        problem = ProblemDetails(type="about:blank", title=f"HTTP {status}", status=status, detail=text[:500])
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else ApiError)
    return cls(status, problem, headers)
