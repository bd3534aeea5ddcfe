"""``recsys policies evaluate --candidate`` specs."""

from __future__ import annotations

import pytest
from recsys_platform.cli.policies import parse_candidate
from recsys_platform.errors import InvalidInput


def test_candidate_specs() -> None:
    assert parse_candidate("ranker") == {"name": "ranker", "kind": "ranker"}
    assert parse_candidate("checkpoint:7@0.05") == {
        "name": "checkpoint:7@0.05",
        "kind": "checkpoint",
        "version": "7",
        "exploration": 0.05,
    }
    assert parse_candidate("checkpoint@0")["exploration"] == 0.0


@pytest.mark.parametrize("spec", ["greedy", "ranker:3", "checkpoint@lots"])
def test_bad_candidate_specs_name_the_option(spec: str) -> None:
    with pytest.raises(InvalidInput, match="--candidate"):
        parse_candidate(spec)
