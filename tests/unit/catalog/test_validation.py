"""One catalog record against a declared schema: accepted values, normalisation, every error."""

from __future__ import annotations

from typing import Any

import pytest
from recsys_platform.catalog.schemas import CatalogField, CatalogSchema
from recsys_platform.catalog.validation import MAX_LIST, MAX_STRING, RecordInvalid, validate_item

SCHEMA = CatalogSchema(
    fields=[
        CatalogField(name="title", type="text", required=True),
        CatalogField(name="category", type="string"),
        CatalogField(name="views", type="integer"),
        CatalogField(name="price", type="number"),
        CatalogField(name="in_stock", type="boolean"),
        CatalogField(name="published_at", type="timestamp"),
        CatalogField(name="tags", type="string_list"),
    ]
)


def record(**attributes: Any) -> dict[str, Any]:
    return {"item_id": "item-1", "title": "A title", **attributes}


def errors_of(rec: Any, schema: CatalogSchema = SCHEMA) -> dict[str, str]:
    with pytest.raises(RecordInvalid) as exc_info:
        validate_item(rec, schema)
    return {e.field: e.reason for e in exc_info.value.errors}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "Free text"),
        ("title", ""),
        ("title", "x" * MAX_STRING),
        ("category", "books"),
        ("views", 0),
        ("views", -3),
        ("views", 2**53),
        ("price", 9.99),
        ("price", 10),
        ("price", -0.5),
        ("in_stock", True),
        ("in_stock", False),
        ("tags", []),
        ("tags", ["a", "b"]),
        ("tags", ["t"] * MAX_LIST),
    ],
)
def test_good_values_are_kept_as_given(field: str, value: Any) -> None:
    item_id, attributes = validate_item(record(**{field: value}), SCHEMA)
    assert item_id == "item-1"
    assert attributes[field] == value
    assert type(attributes[field]) is type(value)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("title", 42, "expected a string, got number"),
        ("title", "x" * (MAX_STRING + 1), "longer than"),
        ("category", ["books"], "expected a string, got array"),
        ("category", {"a": 1}, "expected a string, got object"),
        ("views", 1.5, "expected an integer, got number"),
        ("views", "7", "expected an integer, got string"),
        ("views", True, "expected an integer, got boolean"),
        ("price", "9.99", "expected a number, got string"),
        ("price", False, "expected a number, got boolean"),
        ("price", float("nan"), "finite"),
        ("price", float("inf"), "finite"),
        ("price", float("-inf"), "finite"),
        pytest.param("price", 10**400, "out of range", id="price-int-too-big-for-float"),
        ("in_stock", 1, "expected true or false, got number"),
        ("in_stock", "true", "expected true or false, got string"),
        ("published_at", 1700000000, "expected an ISO 8601 timestamp string, got number"),
        ("published_at", "yesterday", "not an ISO 8601 timestamp"),
        ("published_at", "2026-13-01T00:00:00Z", "not an ISO 8601 timestamp"),
        ("published_at", "0001-01-01T00:00:00+01:00", "out of range"),
        ("published_at", "9999-12-31T23:00:00-05:00", "out of range"),
        ("tags", "a,b", "expected a list of strings"),
        ("tags", ["a", 1], "expected a list of strings"),
        ("tags", ["t"] * (MAX_LIST + 1), f"more than {MAX_LIST} entries"),
    ],
)
def test_bad_values_are_rejected_with_a_reason(field: str, value: Any, reason: str) -> None:
    errors = errors_of(record(**{field: value}))
    assert list(errors) == [field]
    assert reason in errors[field]


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("2026-11-05T10:30:00Z", "2026-11-05T10:30:00+00:00"),
        ("2026-11-05T10:30:00+00:00", "2026-11-05T10:30:00+00:00"),
        ("2026-11-05T12:30:00+02:00", "2026-11-05T10:30:00+00:00"),
        ("2026-11-05T00:30:00-05:00", "2026-11-05T05:30:00+00:00"),
        ("2026-11-05T10:30:00.250Z", "2026-11-05T10:30:00.250000+00:00"),
        ("2026-11-05T10:30:00", "2026-11-05T10:30:00+00:00"),  # naive: read as UTC
        ("2026-11-05", "2026-11-05T00:00:00+00:00"),
    ],
)
def test_timestamps_are_normalised_to_utc_iso(given: str, stored: str) -> None:
    _, attributes = validate_item(record(published_at=given), SCHEMA)
    assert attributes["published_at"] == stored


def test_null_optional_field_is_dropped() -> None:
    _, attributes = validate_item(record(category=None, price=None), SCHEMA)
    assert attributes == {"title": "A title"}


def test_required_field_missing() -> None:
    assert errors_of({"item_id": "x"}) == {"title": "required field is missing"}


def test_required_field_null() -> None:
    assert errors_of(record(title=None)) == {"title": "required field is null"}


def test_unknown_field_is_rejected() -> None:
    errors = errors_of(record(colour="red"))
    assert errors == {"colour": "not declared in the tenant's catalog schema"}


@pytest.mark.parametrize(
    "item_id",
    ["a", "A1", "sku-123", "ns:item/42", "user@example.com", "v1.2_3", "x" * 200],
)
def test_good_item_ids(item_id: str) -> None:
    assert validate_item(record(item_id=item_id), SCHEMA)[0] == item_id


@pytest.mark.parametrize(
    "item_id",
    [None, "", 42, "-leading-dash", ".hidden", "has space", "tab\tid", "abc\n", "x" * 201, "ünïcode"],
)
def test_bad_item_ids(item_id: Any) -> None:
    rec = record(item_id=item_id)
    if item_id is None:
        del rec["item_id"]
    errors = errors_of(rec)
    assert list(errors) == ["item_id"]
    assert "1-200 characters" in errors["item_id"]


@pytest.mark.parametrize("rec", [[], "item", 7, None])
def test_a_record_must_be_an_object(rec: Any) -> None:
    assert errors_of(rec) == {"item": "must be a JSON object"}


def test_all_errors_of_a_record_are_reported_at_once() -> None:
    rec = {"item_id": "bad id", "views": "many", "price": float("nan"), "colour": "red"}
    errors = errors_of(rec)
    assert set(errors) == {"item_id", "views", "price", "colour", "title"}
    with pytest.raises(RecordInvalid, match="views: expected an integer") as exc_info:
        validate_item(rec, SCHEMA)
    assert "title: required field is missing" in str(exc_info.value)


def test_empty_schema_accepts_only_item_id() -> None:
    assert validate_item({"item_id": "a"}, CatalogSchema()) == ("a", {})
    assert errors_of({"item_id": "a", "title": "t"}, CatalogSchema()) == {
        "title": "not declared in the tenant's catalog schema"
    }
