"""Domain errors. Each carries its HTTP status; one handler renders RFC 9457 bodies.

Routes raise these (never ``HTTPException``) for domain cases, so services and
the CLI can use the same errors without knowing about HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One invalid field: a dotted location and the reason."""

    field: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


@dataclass
class RecsysError(Exception):
    """Base of every domain error."""

    detail: str
    errors: list[FieldError] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    status: int = 500
    title: str = "Internal error"
    type_slug: str = "internal"

    def __post_init__(self) -> None:
        super().__init__(self.detail)

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        """RFC 9457 problem details body."""
        body: dict[str, Any] = {
            "type": f"https://recsys.dev/problems/{self.type_slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = [e.as_dict() for e in self.errors]
        return body


@dataclass
class InvalidInput(RecsysError):
    status: int = 422
    title: str = "Invalid input"
    type_slug: str = "invalid-input"


@dataclass
class PayloadTooLarge(RecsysError):
    status: int = 413
    title: str = "Payload too large"
    type_slug: str = "payload-too-large"


@dataclass
class Unauthenticated(RecsysError):
    status: int = 401
    title: str = "Unauthenticated"
    type_slug: str = "unauthenticated"


@dataclass
class Forbidden(RecsysError):
    status: int = 403
    title: str = "Forbidden"
    type_slug: str = "forbidden"


@dataclass
class NotFound(RecsysError):
    status: int = 404
    title: str = "Not found"
    type_slug: str = "not-found"


@dataclass
class Conflict(RecsysError):
    status: int = 409
    title: str = "Conflict"
    type_slug: str = "conflict"


@dataclass
class QuotaExceeded(RecsysError):
    status: int = 429
    title: str = "Quota exceeded"
    type_slug: str = "quota-exceeded"


@dataclass
class DeploymentFailed(RecsysError):
    """A model server did not start (bad artifact, crash on load); the reason is in ``detail``."""

    status: int = 502
    title: str = "Deployment failed"
    type_slug: str = "deployment-failed"


@dataclass
class DependencyUnavailable(RecsysError):
    """A backing service (Kafka, database, ...) did not answer; retry later."""

    status: int = 503
    title: str = "Dependency unavailable"
    type_slug: str = "dependency-unavailable"


@dataclass
class InsufficientTrainingData(RecsysError):
    """A tenant's data cannot train a model: no events, too few users/items, no item text."""

    status: int = 422
    title: str = "Insufficient training data"
    type_slug: str = "insufficient-training-data"
