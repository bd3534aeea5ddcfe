"""Presentation variants declared on catalog items (``type: variants``), for the bandit."""

from __future__ import annotations

from typing import Any

import pytest
from recsys_platform.catalog.schemas import CatalogField, CatalogSchema
from recsys_platform.catalog.validation import RecordInvalid, validate_item

SCHEMA = CatalogSchema(
    fields=[CatalogField(name="title", type="text"), CatalogField(name="variants", type="variants")]
)


def test_variants_are_kept_with_their_features() -> None:
    variants = [
        {"id": "thumb-a", "features": {"style": "face", "bright": True, "contrast": 0.7}},
        {"id": "thumb-b"},
    ]
    _, attrs = validate_item({"item_id": "v1", "variants": variants}, SCHEMA)
    assert attrs["variants"] == [variants[0], {"id": "thumb-b", "features": {}}]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ([], "non-empty list"),
        ("thumb-a", "non-empty list"),
        ([{"id": "a"}, {"id": "a"}], "[1].id: 'a' repeats"),
        ([{"id": "has space"}], "[0].id: required"),
        ([{"id": "a", "features": {"Bad-Name": 1}}], "names are lowercase"),
        ([{"id": "a", "features": {"x": [1]}}], "[0].features.x: expected a string"),
        ([{"id": "a", "colour": "red"}], "expected an object with 'id'"),
    ],
)
def test_bad_variants_are_rejected_naming_the_entry(value: Any, reason: str) -> None:
    with pytest.raises(RecordInvalid) as exc:
        validate_item({"item_id": "v1", "variants": value}, SCHEMA)
    [error] = exc.value.errors
    assert error.field == "variants" and reason in error.reason
