"""The committed demo catalogs are the generator's output and fit their use case's template."""

from __future__ import annotations

import pytest
from recsys_platform.catalog.schemas import TEMPLATES
from recsys_platform.catalog.validation import validate_item
from recsys_platform.demo import demo_items, demo_path, generate

USE_CASES = ["news", "ecommerce", "video"]


def test_every_use_case_has_a_demo_catalog() -> None:
    assert sorted(USE_CASES) == sorted(TEMPLATES)


@pytest.mark.parametrize("use_case", USE_CASES)
def test_committed_file_matches_the_generator(use_case: str) -> None:
    assert demo_items(use_case) == generate(use_case), (
        f"{demo_path(use_case).name} is stale; regenerate with "
        "`python -c 'from recsys_platform.demo import write_all; write_all()'`"
    )


@pytest.mark.parametrize("use_case", USE_CASES)
def test_generator_is_deterministic(use_case: str) -> None:
    assert generate(use_case, n=20) == generate(use_case, n=20)
    assert generate(use_case, n=20) != generate(use_case, n=20, seed=8)


@pytest.mark.parametrize("use_case", USE_CASES)
def test_every_demo_item_validates_against_its_template(use_case: str) -> None:
    items = demo_items(use_case)
    assert len(items) == 300
    ids = [validate_item(item, TEMPLATES[use_case])[0] for item in items]
    assert len(set(ids)) == len(ids), "item ids are unique"


def test_unknown_use_case_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown use case"):
        generate("music")
