"""Every error leaves as application/problem+json: handlers on a tiny app, no control plane."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel
from recsys_platform.errors import FieldError, QuotaExceeded
from recsys_platform.web.problems import PROBLEM_JSON, field_errors_from_validation, install_problem_handlers


class Body(BaseModel):
    name: str
    size: int


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/things")
    def create(body: Body) -> dict[str, str]:
        return {"name": body.name}

    @app.get("/quota")
    def quota() -> None:
        raise QuotaExceeded("too many requests", [FieldError("tenant", "over quota")], {"Retry-After": "3"})

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("db password is hunter2")

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_domain_error_keeps_status_headers_and_field_errors(client: TestClient) -> None:
    response = client.get("/quota")
    assert response.status_code == 429
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["retry-after"] == "3"
    assert response.json() == {
        "type": "https://recsys.dev/problems/quota-exceeded",
        "title": "Quota exceeded",
        "status": 429,
        "detail": "too many requests",
        "instance": "/quota",
        "errors": [{"field": "tenant", "reason": "over quota"}],
    }


def test_validation_error_names_fields_without_the_body_prefix(client: TestClient) -> None:
    response = client.post("/things", json={"size": "big"})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert problem["type"] == "https://recsys.dev/problems/invalid-input"
    assert {e["field"] for e in problem["errors"]} == {"name", "size"}
    assert "name:" in problem["detail"]


def test_malformed_json_is_about_the_body(client: TestClient) -> None:
    response = client.post("/things", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "body"
    assert error["reason"].startswith("malformed JSON")


@pytest.mark.parametrize(
    ("method", "path", "status", "title"),
    [("get", "/nowhere", 404, "Not found"), ("delete", "/things", 405, "Method not allowed")],
)
def test_http_errors_are_problems(
    client: TestClient, method: str, path: str, status: int, title: str
) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert (problem["status"], problem["title"]) == (status, title)
    assert problem["type"] == f"https://recsys.dev/problems/http-{status}"


def test_unhandled_error_is_a_500_problem_that_leaks_nothing(client: TestClient) -> None:
    response = client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["detail"] == "internal error; see server logs"
    assert "hunter2" not in response.text


def test_field_errors_from_validation_dotted_locations() -> None:
    errors = field_errors_from_validation(
        [
            {"loc": ("body", "quotas", "max_items"), "msg": "too big", "type": "less_than_equal"},
            {"loc": ("body", "items", 3), "msg": "bad", "type": "x"},
            {"loc": (), "msg": "whole body", "type": "x"},
        ],
        drop_prefix=1,
    )
    assert [e.as_dict() for e in errors] == [
        {"field": "quotas.max_items", "reason": "too big"},
        {"field": "items.3", "reason": "bad"},
        {"field": "body", "reason": "whole body"},
    ]
