"""Declared catalog schemas, templates and which schema changes stored items survive."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from recsys_platform.catalog.schemas import TEMPLATES, CatalogField, CatalogSchema
from recsys_platform.catalog.validation import incompatible_changes


def schema(*fields: dict[str, Any]) -> CatalogSchema:
    return CatalogSchema.model_validate({"fields": list(fields)})


def test_item_id_is_reserved() -> None:
    with pytest.raises(ValidationError, match="'item_id' is reserved"):
        schema({"name": "item_id", "type": "string"})


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"fields\[1\]\.name: 'title' is declared twice"):
        schema({"name": "title", "type": "text"}, {"name": "title", "type": "string"})


@pytest.mark.parametrize("name", ["Title", "1st", "with-dash", "with space", "", "x" * 64])
def test_bad_field_names(name: str) -> None:
    with pytest.raises(ValidationError):
        schema({"name": name, "type": "string"})


@pytest.mark.parametrize("field", [{"name": "a", "type": "float"}, {"name": "a", "type": "string", "x": 1}])
def test_bad_field_declarations(field: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        schema(field)


@pytest.mark.parametrize("use_case", ["news", "ecommerce", "video"])
def test_every_template_requires_a_title(use_case: str) -> None:
    title = TEMPLATES[use_case].by_name()["title"]
    assert (title.type, title.required) == ("text", True)


BASE = schema({"name": "title", "type": "text", "required": True}, {"name": "price", "type": "number"})


def test_adding_an_optional_field_is_compatible() -> None:
    new = BASE.model_copy(update={"fields": [*BASE.fields, CatalogField(name="brand", type="string")]})
    assert incompatible_changes(BASE, new) == []
    assert incompatible_changes(BASE, BASE) == []


def test_relaxing_required_is_compatible() -> None:
    new = schema({"name": "title", "type": "text"}, {"name": "price", "type": "number"})
    assert incompatible_changes(BASE, new) == []


@pytest.mark.parametrize(
    ("new", "field", "reason"),
    [
        (schema({"name": "title", "type": "text", "required": True}), "price", "cannot remove"),
        (
            schema({"name": "title", "type": "text", "required": True}, {"name": "price", "type": "string"}),
            "price",
            "cannot change type number -> string",
        ),
        (
            schema(
                {"name": "title", "type": "text", "required": True},
                {"name": "price", "type": "number", "required": True},
            ),
            "price",
            "cannot make an existing field required",
        ),
        (
            schema(
                {"name": "title", "type": "text", "required": True},
                {"name": "price", "type": "number"},
                {"name": "brand", "type": "string", "required": True},
            ),
            "brand",
            "a new field cannot be required",
        ),
    ],
)
def test_incompatible_changes_are_named(new: CatalogSchema, field: str, reason: str) -> None:
    problems = incompatible_changes(BASE, new)
    assert [p.field for p in problems] == [field]
    assert reason in problems[0].reason


def test_all_incompatible_changes_are_reported() -> None:
    new = schema({"name": "title", "type": "string", "required": True})
    assert {p.field for p in incompatible_changes(BASE, new)} == {"title", "price"}
