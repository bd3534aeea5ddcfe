"""Request parsing: good requests pass, bad ones name the field and the reason."""

from __future__ import annotations

import pytest
from recsys_model_servers.schemas import (
    PopularRequest,
    RequestError,
    SimilarRequest,
    UserRequest,
    parse_request,
)


def test_the_three_request_kinds() -> None:
    user = parse_request(
        {"user_id": "u1", "n": 5, "filters": {"exclude_items": ["x"]}, "history": ["a"]}, 200
    )
    assert isinstance(user, UserRequest) and user.n == 5 and user.filters.exclude_items == ["x"]
    assert isinstance(parse_request({"similar_to": "i1"}, 200), SimilarRequest)
    popular = parse_request({"popular": True, "n": 100}, 200)
    assert isinstance(popular, PopularRequest) and popular.n == 100
    assert parse_request({"user_id": "u"}, 200).n == 10


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"user_id": "u", "n": 0}, "instances[3].n: must be in 1..200, got 0"),
        ({"user_id": "u", "n": 201}, "instances[3].n: must be in 1..200, got 201"),
        ({"user_id": "u", "n": "10"}, "instances[3].n: Input should be a valid integer"),
        ({"user_id": "u", "n": True}, "instances[3].n: Input should be a valid integer"),
        ({"user_id": 7}, "instances[3].user_id: Input should be a valid string"),
        ({"user_id": ""}, "instances[3].user_id: String should have at least 1 character"),
        ({"user_id": "u", "filters": {"colour": ["red"]}}, "instances[3].filters.colour: unknown field"),
        (
            {"user_id": "u", "filters": {"exclude_items": "x"}},
            "instances[3].filters.exclude_items: Input should be a valid list",
        ),
        ({"user_id": "u", "history": [1]}, "instances[3].history.0: Input should be a valid string"),
        ({"user_id": "u", "surprise": 1}, "instances[3].surprise: unknown field"),
        ({"popular": False}, "instances[3].popular: must be true"),
        ({"n": 3}, "instances[3]: must have exactly one of user_id, similar_to, popular"),
        (
            {"user_id": "u", "popular": True},
            "instances[3]: must have exactly one of user_id, similar_to, popular (got user_id, popular)",
        ),
        ("u1", "instances[3]: must be a JSON object, got str"),
    ],
)
def test_bad_requests_name_the_field(raw: object, message: str) -> None:
    with pytest.raises(RequestError) as err:
        parse_request(raw, 200, "instances[3]")
    assert str(err.value).startswith(message), str(err.value)


def test_an_empty_include_list_is_no_category_filter() -> None:
    empty = parse_request({"user_id": "u", "filters": {"include_categories": []}}, 200)
    assert empty.filters.include_categories is None
    some = parse_request({"user_id": "u", "filters": {"include_categories": ["sports"]}}, 200)
    assert some.filters.include_categories == ["sports"]
