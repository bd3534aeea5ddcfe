"""Building the catalog frame from catalog records."""

from __future__ import annotations

import math

import pytest
from recsys_platform.recommenders.catalog_frame import catalog_frame


def test_records_become_one_row_each_with_text_categories_and_times() -> None:
    frame = catalog_frame(
        [
            {"item_id": "a", "title": "Heat", "description": "A heist", "genres": ["Crime", "Drama"]},
            {"item_id": 7, "attributes": {"category": "news"}, "created_at": "2024-01-01T00:00:00Z"},
        ]
    )
    assert frame["item_id"].tolist() == ["a", "7"]
    assert frame.loc[0, "title"] == "Heat"
    assert frame.loc[0, "text"] == "Heat A heist"
    assert frame.loc[0, "categories"] == ["crime", "drama"]
    assert frame.loc[1, "categories"] == ["news"]
    assert frame.loc[1, "created_at"] == 1704067200.0
    assert math.isnan(frame.loc[0, "created_at"])
    assert frame["available"].tolist() == [True, True]


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"title": "x"}, "item_id"),
        ({"item_id": "a", "genres": 3}, "genres"),
        ({"item_id": "a", "created_at": "yesterday"}, "created_at"),
        ({"item_id": "a", "available": "yes"}, "available"),
    ],
)
def test_bad_records_are_refused_naming_the_field(record: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=f"record 0: field '{field}'"):
        catalog_frame([record])


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicated"):
        catalog_frame([{"item_id": "a"}, {"item_id": "a"}])
