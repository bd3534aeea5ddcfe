"""The re-rank request kind: parsing, and the request path with a stand-in and a real model."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kserve.protocol.infer_type import InferInput, InferRequest
from recsys_model_servers.schemas import RequestError, RerankRequest, parse_request, request_kind
from recsys_platform.features.state import UserState

from tests.unit.model_servers.fakes import FakeModel, MemoryUserStore
from tests.unit.model_servers.test_service import TENANT, ask, item_ids, make_service


def test_user_id_with_items_is_a_rerank_request() -> None:
    req = parse_request({"user_id": "u1", "items": ["i3", "i1"], "filters": {"exclude_items": ["i1"]}}, 200)
    assert isinstance(req, RerankRequest) and request_kind(req) == "rerank"
    assert req.items == ["i3", "i1"] and req.n is None and req.filters.exclude_seen is None
    assert parse_request({"user_id": "u", "items": [f"i{k}" for k in range(500)], "n": 300}, 200).n == 300


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"user_id": "u", "items": []}, "instances[1].items: List should have at least 1 item"),
        ({"user_id": "u", "items": "i1"}, "instances[1].items: Input should be a valid list"),
        ({"user_id": "u", "items": ["i1", 2]}, "instances[1].items.1: Input should be a valid string"),
        ({"user_id": "u", "items": ["i1", "i2", "i1"]}, "instances[1].items.2: duplicate of items.0 ('i1')"),
        ({"user_id": "u", "items": ["i1"], "n": 2}, "instances[1].n: must be in 1..1 (the number of items)"),
        ({"user_id": "u", "items": ["i1"], "n": 0}, "instances[1].n: must be in 1..1"),
        (
            {"user_id": "u", "items": ["i1"], "filters": {"exclude_seen": "yes"}},
            "instances[1].filters.exclude_seen: Input",
        ),
        ({"user_id": "u", "items": ["i1"], "filters": {"x": 1}}, "instances[1].filters.x: unknown field"),
        ({"user_id": "u", "items": ["i1"], "colour": 1}, "instances[1].colour: unknown field"),
    ],
)
def test_bad_rerank_requests_name_the_field(raw: object, message: str) -> None:
    with pytest.raises(RequestError) as err:
        parse_request(raw, 200, "instances[1]")
    assert str(err.value).startswith(message), str(err.value)


def test_given_items_in_the_models_order_unknown_last_in_given_order(
    fake_model: FakeModel, user_store: MemoryUserStore
) -> None:
    # FakeModel has no score_items: the server orders by its whole recommend list
    service, _ = make_service(fake_model, user_store)
    (r,) = ask(service, {"user_id": "nobody", "items": ["new-b", "i7", "i2", "new-a", "i5"]})
    assert item_ids(r) == ["i2", "i5", "i7", "new-b", "new-a"]
    assert r["items"][0]["score"] == 1.0 and r["items"][-1] == {
        "item_id": "new-a",
        "score": 0.0,
        "reason": "not known to the model",
        "sources": [],
    }
    (cut,) = ask(service, {"user_id": "nobody", "items": ["new-b", "i7", "i2"], "n": 2})
    assert item_ids(cut) == ["i2", "i7"]


def test_filters_unavailable_and_seen_items(user_store: MemoryUserStore) -> None:
    model = FakeModel(unavailable={"i4"})
    user_store.write(TENANT, [UserState(user_id="reader", recent_items=("i9", "i8"))])
    service, _ = make_service(model, user_store)
    items = ["i1", "i4", "i8", "i9", "i10", "i3", "new"]
    (kept,) = ask(service, {"user_id": "reader", "items": items, "filters": {"exclude_items": ["i1"]}})
    assert "i1" not in item_ids(kept) and "i4" not in item_ids(kept)
    assert {"i8", "i9"} <= set(item_ids(kept)) and item_ids(kept)[-1] == "new"  # seen kept by default
    assert item_ids(kept)[:2] == ["i10", "i3"]  # warm: items "after" the user's last click first
    (unseen,) = ask(service, {"user_id": "reader", "items": items, "filters": {"exclude_seen": True}})
    assert not {"i8", "i9", "i4"} & set(item_ids(unseen))
    (cats,) = ask(service, {"user_id": "reader", "items": items, "filters": {"include_categories": ["c0"]}})
    assert item_ids(cats) == ["i3", "i9"]  # c0 only: unknown items have no category


def test_a_model_with_score_items_is_asked_for_exactly_the_kept_items(fake_model: FakeModel) -> None:
    asked: list[Any] = []

    class Scoring(FakeModel):
        def score_items(self, history: Any, item_ids: Any, **kw: Any) -> list[Any]:
            asked.append(list(item_ids))
            return list(reversed(self.recommend(history, 100)))[: len(item_ids)]

    model = Scoring()
    service, _ = make_service(model)
    ask(service, {"user_id": "u", "items": ["i1", "zz", "i2"], "filters": {"exclude_items": ["i2"]}})
    assert asked == [["i1"]]


def test_v1_and_v2_protocols_carry_rerank_requests(fake_model: FakeModel) -> None:
    import sys

    sys.argv = sys.argv[:1]  # kserve parses argv at import time
    from recsys_model_servers.model import RecsysModel

    service, _ = make_service(fake_model)
    model = RecsysModel("T_acme", service, ready=True)
    try:
        request = {"user_id": "u", "items": ["i9", "x", "i1"]}
        v1 = model.predict_sync({"instances": [request]})
        assert isinstance(v1, dict) and item_ids(v1["predictions"][0]) == ["i1", "i9", "x"]
        infer = InferRequest(
            model_name="T_acme",
            infer_inputs=[InferInput("request", [1], "BYTES", [json.dumps(request)])],
        )
        v2 = model.predict_sync(infer)
        assert item_ids(json.loads(v2.outputs[0].data[0])) == ["i1", "i9", "x"]  # type: ignore[union-attr]
    finally:
        model.stop()
