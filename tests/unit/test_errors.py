"""Domain errors carry their HTTP status and render RFC 9457 problem details."""

from __future__ import annotations

import pytest
from recsys_platform.errors import (
    Conflict,
    DependencyUnavailable,
    FieldError,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
    RecsysError,
    Unauthenticated,
)


@pytest.mark.parametrize(
    ("cls", "status", "slug"),
    [
        (RecsysError, 500, "internal"),
        (InvalidInput, 422, "invalid-input"),
        (PayloadTooLarge, 413, "payload-too-large"),
        (Unauthenticated, 401, "unauthenticated"),
        (Forbidden, 403, "forbidden"),
        (NotFound, 404, "not-found"),
        (Conflict, 409, "conflict"),
        (QuotaExceeded, 429, "quota-exceeded"),
        (DependencyUnavailable, 503, "dependency-unavailable"),
    ],
)
def test_status_and_problem_body(cls: type[RecsysError], status: int, slug: str) -> None:
    err = cls("something went wrong", [FieldError("name", "too long")])
    assert isinstance(err, RecsysError)
    assert err.status == status
    assert str(err) == "something went wrong"
    assert err.problem() == {
        "type": f"https://recsys.dev/problems/{slug}",
        "title": err.title,
        "status": status,
        "detail": "something went wrong",
        "errors": [{"field": "name", "reason": "too long"}],
    }
    assert err.title


def test_problem_without_errors_omits_the_key_and_adds_instance() -> None:
    body = NotFound("tenant 'x' not found").problem(instance="/v1/tenants/x")
    assert "errors" not in body
    assert body["instance"] == "/v1/tenants/x"


def test_errors_can_be_raised_and_caught_as_recsys_errors() -> None:
    with pytest.raises(RecsysError) as exc_info:
        raise QuotaExceeded("slow down", headers={"Retry-After": "1"})
    assert exc_info.value.headers == {"Retry-After": "1"}
    assert exc_info.value.status == 429
