"""The request path with a stand-in model and an in-memory online store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from recsys_model_servers.features import UserFeatureReader
from recsys_model_servers.loader import LoadedModel, prepare
from recsys_model_servers.schemas import RequestError
from recsys_model_servers.service import RecommendationService, ServiceConfig
from recsys_model_servers.settings import RerankSettings
from recsys_model_servers.tracing import RequestTracer, hash_user_id
from recsys_platform.features.state import UserState

from tests.unit.model_servers.fakes import NOW, FakeModel, MemoryUserStore

TENANT = "acme"
NO_RERANK = RerankSettings(diversity="none")


@dataclass
class Holder:
    current: LoadedModel


def make_service(
    model: FakeModel,
    store: MemoryUserStore | None = None,
    rerank: RerankSettings = NO_RERANK,
    tracer: RequestTracer | None = None,
    pool: int = 5,
) -> tuple[RecommendationService, Holder]:
    holder = Holder(prepare(model, "3", "models:/recsys-acme/3"))
    config = ServiceConfig(name="T_acme", tenant_id=TENANT, candidate_pool=pool, rerank=rerank)
    reader = UserFeatureReader(store, TENANT if store is not None else None)
    return RecommendationService(config, holder, reader, tracer, clock=lambda: NOW), holder


def ask(
    service: RecommendationService, *instances: dict[str, Any], headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    return service.predict(service.parse(list(instances)), headers)


def item_ids(response: dict[str, Any]) -> list[str]:
    return [i["item_id"] for i in response["items"]]


def test_unknown_user_gets_a_cold_start_list(fake_model: FakeModel, user_store: MemoryUserStore) -> None:
    service, _ = make_service(fake_model, user_store)
    (r,) = ask(service, {"user_id": "nobody", "n": 3})
    assert r["cold_start"] is True
    assert item_ids(r) == ["i0", "i1", "i2"]
    assert r["model_name"] == "T_acme" and r["model_version"] == "3"
    assert r["items"][0] == {
        "item_id": "i0",
        "score": 1.0,
        "reason": "popular now",
        "sources": ["popularity"],
    }
    assert user_store.reads == 1


def test_stored_recent_items_drive_the_list_and_are_never_returned(
    fake_model: FakeModel, user_store: MemoryUserStore
) -> None:
    user_store.write(TENANT, [UserState("u1", recent_items=("i10", "i3"), category_affinity={"c1": 2.0})])
    service, _ = make_service(fake_model, user_store)
    (r,) = ask(service, {"user_id": "u1", "n": 4})
    assert r["cold_start"] is False
    assert item_ids(r) == ["i11", "i12", "i13", "i14"]
    assert r["items"][0]["reason"] == "because you liked i10"
    call = fake_model.calls[-1][1]
    # warm: the model derives affinity from the history, as in training (not the online value)
    assert call["history"] == ["i10", "i3"] and call["affinity"] is None
    # a new click (most recent first) changes the next list
    user_store.write(TENANT, [UserState("u1", recent_items=("i20", "i10", "i3"))])
    (r2,) = ask(service, {"user_id": "u1", "n": 2})
    assert item_ids(r2) == ["i21", "i22"]


def test_a_user_without_known_history_gets_the_online_affinity(
    fake_model: FakeModel, user_store: MemoryUserStore
) -> None:
    user_store.write(TENANT, [UserState("u1", recent_items=("unknown-1",), category_affinity={"c1": 2.0})])
    service, _ = make_service(fake_model, user_store)
    ask(service, {"user_id": "u1", "n": 2})
    assert fake_model.calls[-1][1]["affinity"] == {"c1": 2.0}


def test_disliked_items_are_not_scored_from_but_never_returned(
    fake_model: FakeModel, user_store: MemoryUserStore
) -> None:
    # i11 was skipped (negative weight): the model scores from i10 and i3 only, and i11 is left out
    state = UserState("u1", recent_items=("i11", "i10", "i3"), recent_weights=(-0.5, 1.0, 1.0))
    user_store.write(TENANT, [state])
    service, _ = make_service(fake_model, user_store)
    (r,) = ask(service, {"user_id": "u1", "n": 3})
    assert fake_model.calls[-1][1]["history"] == ["i10", "i3"]
    assert item_ids(r) == ["i12", "i13", "i14"]


def test_repeats_come_back_only_when_the_tenant_or_request_wants_them(
    fake_model: FakeModel, user_store: MemoryUserStore
) -> None:
    user_store.write(TENANT, [UserState("u1", recent_items=("i10", "i11", "i12"))])
    service, _ = make_service(fake_model, user_store)
    (r,) = ask(service, {"user_id": "u1", "n": 2})
    assert item_ids(r) == ["i13", "i14"]
    (again,) = ask(service, {"user_id": "u1", "n": 2, "filters": {"exclude_seen": False}})
    assert item_ids(again) == ["i11", "i12"]
    rereads, _ = make_service(
        fake_model, user_store, rerank=NO_RERANK.model_copy(update={"exclude_seen": False})
    )
    assert item_ids(ask(rereads, {"user_id": "u1", "n": 2})[0]) == ["i11", "i12"]


def test_request_history_comes_before_stored_items(
    fake_model: FakeModel, user_store: MemoryUserStore
) -> None:
    user_store.write(TENANT, [UserState("u1", recent_items=("i10", "i3"))])
    service, _ = make_service(fake_model, user_store)
    (r,) = ask(service, {"user_id": "u1", "n": 2, "history": ["i5", "i10"]})
    assert fake_model.calls[-1][1]["history"] == ["i5", "i10", "i3"]
    assert item_ids(r) == ["i6", "i7"]


def test_filters_grow_the_pool_until_n_items_match(fake_model: FakeModel) -> None:
    service, _ = make_service(fake_model, pool=4)
    (r,) = ask(
        service,
        {"user_id": "u", "n": 4, "filters": {"include_categories": ["c2"], "exclude_items": ["i5"]}},
    )
    assert item_ids(r) == ["i2", "i8", "i11", "i14"]
    asked = [c[1]["n"] for c in fake_model.calls if c[0] == "recommend"]
    assert asked == [12, 30]  # max(pool, 3n), then x4 capped at the catalog size
    (r2,) = ask(service, {"user_id": "u", "n": 5, "filters": {"exclude_categories": ["c0", "c1"]}})
    assert all(int(i[1:]) % 3 == 2 for i in item_ids(r2))


def test_narrow_filters_are_backfilled_with_popular_items_behind_the_personal_ones(
    user_store: MemoryUserStore,
) -> None:
    model = FakeModel(max_candidates=6)  # the model proposes only 6 items for a warm user
    user_store.write(TENANT, [UserState("u1", recent_items=("i10", "i3"))])
    service, _ = make_service(model, user_store)
    (r,) = ask(service, {"user_id": "u1", "n": 4, "filters": {"include_categories": ["c2"]}})
    assert item_ids(r) == ["i11", "i14", "i2", "i5"]  # 2 personal (i11..i16 hold two c2), 2 popular c2
    assert [i["reason"] for i in r["items"]] == ["because you liked i10"] * 2 + ["popular now"] * 2
    scores = [i["score"] for i in r["items"]]
    assert scores == sorted(scores, reverse=True) and scores[1] > 0  # relevance is relative to the pool


def test_unavailable_items_never_returned() -> None:
    model = FakeModel(unavailable={"i3"})
    service, _ = make_service(model)  # the server's item table marks i3 unavailable ...
    model.unavailable = set()  # ... so even when the model proposes it, it is dropped
    assert item_ids(ask(service, {"popular": True, "n": 3})[0]) == ["i0", "i6", "i9"]


def test_similar_items_and_unknown_item(fake_model: FakeModel) -> None:
    service, _ = make_service(fake_model, rerank=RerankSettings())
    (r,) = ask(service, {"similar_to": "i4", "n": 3})
    assert item_ids(r) == ["i1", "i7", "i10"]  # similarity order kept: no diversity on similar_to
    assert r["cold_start"] is False
    with pytest.raises(RequestError, match=r"^instances\[0\]\.similar_to: unknown item 'nope'"):
        ask(service, {"similar_to": "nope"})


def test_popular_with_diversity_interleaves_categories(fake_model: FakeModel) -> None:
    plain, _ = make_service(fake_model, rerank=RerankSettings(diversity="none"), pool=30)
    assert item_ids(ask(plain, {"popular": True, "n": 3})[0]) == ["i0", "i3", "i6"]
    diverse, _ = make_service(fake_model, rerank=RerankSettings(diversity="mmr", mmr_lambda=0.3), pool=30)
    assert item_ids(ask(diverse, {"popular": True, "n": 3})[0]) == ["i0", "i1", "i2"]
    capped, _ = make_service(fake_model, rerank=RerankSettings(diversity="none", max_per_category=1), pool=30)
    (r,) = ask(capped, {"popular": True, "n": 4, "filters": {"include_categories": ["c0", "c1"]}})
    assert item_ids(r) == ["i0", "i1", "i3", "i6"]


def test_store_failure_serves_without_features(fake_model: FakeModel, user_store: MemoryUserStore) -> None:
    user_store.fail = True
    service, _ = make_service(fake_model, user_store)
    (r,) = ask(service, {"user_id": "u1", "n": 2, "history": ["i7", "i8"]})
    assert item_ids(r) == ["i9", "i10"]


def test_batch_of_instances_and_bad_instance_fails_whole_batch(fake_model: FakeModel) -> None:
    service, _ = make_service(fake_model)
    responses = ask(service, {"popular": True, "n": 1}, {"similar_to": "i0", "n": 1})
    assert [item_ids(r) for r in responses] == [["i0"], ["i3"]]
    calls = len(fake_model.calls)
    with pytest.raises(RequestError, match=r"^instances\[1\]\.n: must be in 1\.\.200"):
        service.parse([{"popular": True}, {"popular": True, "n": 999}])
    assert len(fake_model.calls) == calls
    with pytest.raises(RequestError, match="^instances: must not be empty"):
        service.parse([])
    with pytest.raises(RequestError, match="^instances: must be a list"):
        service.parse({"user_id": "u"})


def test_a_swapped_model_serves_the_next_request(fake_model: FakeModel) -> None:
    service, holder = make_service(fake_model)
    assert ask(service, {"popular": True, "n": 1})[0]["model_version"] == "3"
    holder.current = prepare(FakeModel(tag=" (v4)"), "4", "models:/recsys-acme/4")
    (r,) = ask(service, {"popular": True, "n": 1})
    assert r["model_version"] == "4" and r["items"][0]["reason"] == "popular now (v4)"


def test_spans_continue_the_callers_trace_and_hash_the_user(
    fake_model: FakeModel, user_store: MemoryUserStore
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    service, _ = make_service(fake_model, user_store, tracer=RequestTracer(provider))
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent = "00f067aa0ba902b7"
    ask(
        service,
        {"user_id": "alice@example.com", "n": 2},
        headers={"traceparent": f"00-{trace_id}-{parent}-01"},
    )
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"model_server.predict", "online_store.read", "model.recommend"}
    root = spans["model_server.predict"]
    assert root.context is not None and format(root.context.trace_id, "032x") == trace_id
    assert root.parent is not None and format(root.parent.span_id, "016x") == parent
    for child in ("online_store.read", "model.recommend"):
        child_parent = spans[child].parent
        assert child_parent is not None and child_parent.span_id == root.context.span_id
    attrs = dict(root.attributes or {})
    assert attrs["recsys.user_hash"] == hash_user_id(TENANT, "alice@example.com")
    assert "alice@example.com" not in repr([dict(s.attributes or {}) for s in exporter.get_finished_spans()])
    assert dict(spans["online_store.read"].attributes or {})["recsys.features.status"] == "unknown_user"


class BrokenStats:
    def signals(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("redis down")


def test_streaming_signals_blend_into_the_list_when_the_model_weights_them(
    fake_model: FakeModel, user_store: MemoryUserStore
) -> None:
    from recsys_model_servers.features import StreamSignalReader
    from recsys_platform.streaming.events import ItemEvent
    from recsys_platform.streaming.memory import MemoryItemStats

    stats = MemoryItemStats()
    t = 1_700_000_000_000
    # other readers of i3 went on to "fresh" (not in the model) and to i7
    stats.apply(
        TENANT,
        [
            ItemEvent(f"e{k}{p}", f"r{k}", item, t + k * 10 + p, f"s{k}")
            for k in range(5)
            for p, item in enumerate(("i3", "fresh", "i7"))
        ],
    )
    user_store.write(TENANT, [UserState("u1", recent_items=("i3",), session_id="now", session_items=("i3",))])
    holder = Holder(prepare(fake_model, "3", "models:/recsys-acme/3"))
    config = ServiceConfig(name="T_acme", tenant_id=TENANT, candidate_pool=5, rerank=NO_RERANK)
    reader = UserFeatureReader(user_store, TENANT)
    plain = RecommendationService(
        config, holder, reader, clock=lambda: NOW, signals=StreamSignalReader(stats, TENANT)
    )
    assert item_ids(ask(plain, {"user_id": "u1", "n": 3})[0]) == ["i0", "i1", "i2"]  # no weights: model alone
    fake_model.config.stream_weights = {"model": 0.2, "session_knn": 1.0}
    (r,) = ask(plain, {"user_id": "u1", "n": 3})
    assert item_ids(r)[:2] == ["i7", "fresh"] or item_ids(r)[:2] == ["fresh", "i7"]
    assert "i3" not in item_ids(r)
    broken = RecommendationService(
        config,
        holder,
        reader,
        clock=lambda: NOW,
        signals=StreamSignalReader(BrokenStats(), TENANT),  # type: ignore[arg-type]
    )
    assert item_ids(ask(broken, {"user_id": "u1", "n": 3})[0]) == ["i0", "i1", "i2"]


def streaming_service(
    fake_model: FakeModel, user_store: MemoryUserStore, stats: Any
) -> RecommendationService:
    """A service over ``fake_model`` (version 3) that reads the tenant's streaming state ``stats``."""
    from recsys_model_servers.features import StreamSignalReader

    holder = Holder(prepare(fake_model, "3", "models:/recsys-acme/3"))
    config = ServiceConfig(name="T_acme", tenant_id=TENANT, candidate_pool=5, rerank=NO_RERANK)
    return RecommendationService(
        config,
        holder,
        UserFeatureReader(user_store, TENANT),
        clock=lambda: NOW,
        signals=StreamSignalReader(stats, TENANT),
    )


def test_a_blend_without_model_weight_does_not_ask_the_model(
    fake_model: FakeModel, user_store: MemoryUserStore
) -> None:
    from recsys_platform.streaming.events import ItemEvent
    from recsys_platform.streaming.memory import MemoryItemStats

    stats = MemoryItemStats()
    stats.apply(
        TENANT, [ItemEvent(f"e{k}", f"r{k}", "hot", 1_700_000_000_000 + k, f"s{k}") for k in range(3)]
    )
    user_store.write(
        TENANT, [UserState("u1", recent_items=("i3", "i4"), session_id="now", session_items=("i4",))]
    )
    fake_model.config.stream_weights = {"model": 0.0, "trending_900": 1.0}
    service = streaming_service(fake_model, user_store, stats)
    (r,) = ask(service, {"user_id": "u1", "n": 3})
    assert item_ids(r)[0] == "hot"
    assert not [c for c in fake_model.calls if c[0] == "recommend"]
    assert len(item_ids(r)) == 3  # the rest backfilled with popular items, behind the trending one


def test_a_rerank_puts_unknown_items_by_what_is_clicked_now(
    fake_model: FakeModel, user_store: MemoryUserStore
) -> None:
    from recsys_model_servers.features import StreamSignalReader
    from recsys_platform.streaming.events import ItemEvent
    from recsys_platform.streaming.memory import MemoryItemStats

    stats = MemoryItemStats()
    t = 1_700_000_000_000
    clicks = ["hot"] * 3 + ["warm"]
    stats.apply(TENANT, [ItemEvent(f"e{k}", f"r{k}", item, t + k, f"s{k}") for k, item in enumerate(clicks)])
    holder = Holder(prepare(fake_model, "3", "models:/recsys-acme/3"))
    config = ServiceConfig(name="T_acme", tenant_id=TENANT, candidate_pool=5, rerank=NO_RERANK)
    reader = UserFeatureReader(user_store, TENANT)
    plain, _ = make_service(fake_model, user_store)
    items = ["cold-new", "warm", "i2", "hot"]
    assert item_ids(ask(plain, {"user_id": "u1", "items": items})[0]) == ["i2", "cold-new", "warm", "hot"]
    live = RecommendationService(
        config, holder, reader, clock=lambda: NOW, signals=StreamSignalReader(stats, TENANT)
    )
    (r,) = ask(live, {"user_id": "u1", "items": items})
    assert item_ids(r) == ["i2", "hot", "warm", "cold-new"]  # known first, then by trending
    assert r["items"][1]["reason"] == "trending now" and r["items"][3]["reason"] == "not known to the model"


def test_a_tenant_cannot_reach_another_tenants_streaming_state_with_its_ids(
    fake_model: FakeModel, user_store: MemoryUserStore
) -> None:
    """Tenant ``other`` clicks on items and sessions; acme's server, asked with exactly those
    session ids, user ids and item ids, reads acme's state only (the tenant is the server's own,
    never taken from the request)."""
    from recsys_model_servers.features import StreamSignalReader
    from recsys_platform.streaming.events import ItemEvent
    from recsys_platform.streaming.memory import MemoryItemStats

    stats = MemoryItemStats()
    t = 1_700_000_000_000
    stats.apply(
        "other",
        [ItemEvent(f"o{k}", "victim", item, t + k, "their-s") for k, item in enumerate(("i3", "secret"))],
    )
    fake_model.config.stream_weights = {
        "model": 0.0,
        "session_knn": 1.0,
        "next_item": 1.0,
        "trending_900": 1.0,
    }
    holder = Holder(prepare(fake_model, "3", "models:/recsys-acme/3"))
    config = ServiceConfig(name="T_acme", tenant_id=TENANT, candidate_pool=5, rerank=NO_RERANK)
    acme = RecommendationService(
        config,
        holder,
        UserFeatureReader(user_store, TENANT),
        clock=lambda: NOW,
        signals=StreamSignalReader(stats, TENANT),
    )
    (r,) = ask(acme, {"user_id": "victim", "session_id": "their-s", "history": ["i3"], "n": 5})
    assert "secret" not in item_ids(r)
    (rr,) = ask(acme, {"user_id": "victim", "session_id": "their-s", "items": ["secret", "i1"]})
    assert rr["items"][-1] == {**rr["items"][-1], "item_id": "secret", "reason": "not known to the model"}


def test_an_item_imported_a_moment_ago_is_recommended_before_anyone_clicked_it(
    fake_model: FakeModel, user_store: MemoryUserStore
) -> None:
    from recsys_platform.streaming.events import ItemEvent
    from recsys_platform.streaming.memory import MemoryItemStats

    stats = MemoryItemStats()
    stats.apply(TENANT, [ItemEvent("e1", "r1", "i0", 1_700_000_000_000, "s1")])
    user_store.write(TENANT, [UserState("u1", recent_items=("i3",))])
    fake_model.config.stream_weights = {"model": 1.0, "fresh": 1.5}
    service = streaming_service(fake_model, user_store, stats)
    assert "breaking" not in item_ids(ask(service, {"user_id": "u1", "n": 3})[0])
    stats.add_items(TENANT, [("breaking", 1_700_000_000_000)])  # what a catalog import does
    (r,) = ask(service, {"user_id": "u1", "n": 3})
    assert item_ids(r)[0] == "breaking"
    assert r["items"][0]["reason"] == "new"
