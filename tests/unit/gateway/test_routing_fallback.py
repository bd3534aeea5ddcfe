"""Routing snapshots, predict URLs, fallback filtering, impression records, model 4xx mapping."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from recsys_platform.errors import InvalidInput, NotFound
from recsys_platform.gateway.fallback import FallbackItem, FallbackList
from recsys_platform.gateway.impressions import Impression, decode_impression, encode_impression
from recsys_platform.gateway.model_client import model_rejection
from recsys_platform.gateway.routing import Target, TenantRoutes, predict_url


def test_predict_url_from_a_base_url_or_a_full_url() -> None:
    assert predict_url("http://10.0.0.1:8080/", "champ") == "http://10.0.0.1:8080/v1/models/champ:predict"
    full = "http://m.ns.svc/v1/models/x:predict"
    assert predict_url(full, "ignored") == full


def test_default_target_is_named_default_or_the_only_one() -> None:
    a, b = Target("a", "http://a"), Target("default", "http://d")
    assert TenantRoutes(targets={"a": a, "default": b}).default == b
    assert TenantRoutes(targets={"a": a}).default == a
    assert TenantRoutes(targets={"a": a, "c": Target("c", "http://c")}).default is None
    assert TenantRoutes().default is None


def test_fallback_select_applies_filters() -> None:
    items = tuple(FallbackItem(f"i{k}", 1 - k / 10, "popular") for k in range(6))
    cats = {"i0": ("news",), "i1": ("sports",), "i2": ("news",), "i3": ("sports", "news")}
    fallback = FallbackList(items=items, categories=cats, source="model")
    assert [x.item_id for x in fallback.select(3)] == ["i0", "i1", "i2"]
    assert [x.item_id for x in fallback.select(10, exclude_items={"i0"})][:2] == ["i1", "i2"]
    assert [x.item_id for x in fallback.select(10, include_categories=["sports"])] == ["i1", "i3"]
    assert [x.item_id for x in fallback.select(10, exclude_categories=["news"])] == ["i1", "i4", "i5"]


def _impression(**overrides: object) -> Impression:
    fields: dict[str, object] = {
        "recommendation_id": "r1",
        "tenant_id": "acme",
        "user_id": "u1",
        "session_id": None,
        "surface": "default",
        "experiment": "e",
        "experiment_id": "eid",
        "variant": "control",
        "deployment": "default",
        "model_version": "3",
        "items": ["a", "b"],
        "positions": [1, 2],
        "propensities": [0.5, 0.5],
        "fallback": False,
        "timestamp": datetime(2026, 11, 28, 10, tzinfo=UTC),
        "attribution_window_seconds": 60,
    }
    fields.update(overrides)
    return Impression(**fields)  # type: ignore[arg-type]


def test_impression_round_trip_and_bad_records() -> None:
    imp = _impression()
    assert decode_impression(encode_impression(imp)) == imp
    with pytest.raises(ValueError, match="not JSON"):
        decode_impression(b"{oops")
    with pytest.raises(ValueError, match="v:"):
        decode_impression(b'{"v": 99}')
    with pytest.raises(ValueError, match="invalid impression"):
        decode_impression(b'{"v": 1, "timestamp": "2026-11-28T10:00:00+00:00", "bogus": 1}')


def test_model_server_4xx_names_the_field() -> None:
    err = model_rejection(400, "filters.colour: unknown filter")
    assert isinstance(err, InvalidInput) and err.errors[0].field == "filters.colour"
    assert model_rejection(400, "n: must be between 1 and 200").errors[0].field == "n"
    unknown = model_rejection(400, "similar_to: unknown item 'zz'")
    assert isinstance(unknown, NotFound) and unknown.errors[0].field == "item_id"
    assert model_rejection(400, "something odd").errors[0].field == "request"
    real = model_rejection(400, "instances[0].similar_to: unknown item 'x' (not in the model)")
    assert isinstance(real, NotFound) and real.errors[0].field == "item_id"
    nested = model_rejection(400, "instances[0].filters.include_categories: must be a list")
    assert nested.errors[0].field == "filters.include_categories"
