"""The streaming item-state contract, run against every adapter: memory, SQLite and real Redis.

Every test uses stores of its own (a fresh SQLite file, a unique Redis key prefix), so tests
never see each other's state. Times are event times in ms from ``T0``.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from recsys_platform.streaming.config import StreamingConfig
from recsys_platform.streaming.events import ItemEvent, StreamSignals
from recsys_platform.streaming.memory import MemoryItemStats
from recsys_platform.streaming.ports import ItemStatsStore
from recsys_platform.streaming.redis_store import RedisItemStats
from recsys_platform.streaming.sqlite_store import SqliteItemStats

pytestmark = pytest.mark.integration

T0 = 1_700_000_000_000
MIN = 60_000
BACKENDS = ["memory", "sqlite", "redis"]
StoreFactory = Callable[..., ItemStatsStore]


def ev(
    item: str, ts: int, *, session: str | None = "s1", user: str = "u1", w: float = 1.0, eid: str = ""
) -> ItemEvent:
    return ItemEvent(
        event_id=eid or uuid.uuid4().hex,
        user_id=user,
        item_id=item,
        timestamp_ms=ts,
        session_id=session,
        weight=w,
    )


@pytest.fixture
def factories(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, StoreFactory]]:
    """Builders of each backend's store; each store built gets its own file or key prefix."""
    opened: list[ItemStatsStore] = []
    prefixes: list[str] = []
    redis_url: str | None = None

    def memory(config: StreamingConfig | None = None) -> ItemStatsStore:
        store = MemoryItemStats(config)
        opened.append(store)
        return store

    def sqlite(config: StreamingConfig | None = None, path: Path | None = None) -> ItemStatsStore:
        store = SqliteItemStats(path or tmp_path / f"stream-{uuid.uuid4().hex[:8]}.db", config)
        opened.append(store)
        return store

    def redis_store(config: StreamingConfig | None = None) -> ItemStatsStore:
        nonlocal redis_url
        redis_url = redis_url or request.getfixturevalue("redis_url")
        prefix = f"test:stream:{uuid.uuid4().hex[:10]}"
        prefixes.append(prefix)
        store = RedisItemStats(redis_url, config, key_prefix=prefix)
        opened.append(store)
        return store

    yield {"memory": memory, "sqlite": sqlite, "redis": redis_store}
    for store in opened:
        store.close()
    if redis_url and prefixes:
        client = redis.Redis.from_url(redis_url)
        for prefix in prefixes:
            keys = list(client.scan_iter(match=prefix + ":*", count=1000))
            if keys:
                client.delete(*keys)
        client.close()


@pytest.fixture(params=BACKENDS)
def make_store(request: pytest.FixtureRequest, factories: dict[str, StoreFactory]) -> StoreFactory:
    return factories[request.param]


@pytest.fixture
def store(make_store: StoreFactory) -> ItemStatsStore:
    return make_store(StreamingConfig(trending_windows_s=(300, 900), bucket_s=60))


# -- trending ---------------------------------------------------------------------------------


def test_trending_counts_per_window_and_expires_as_event_time_advances(store: ItemStatsStore) -> None:
    assert store.watermark("news") is None
    store.apply("news", [ev("a", T0, w=2.0), ev("b", T0 + 1), ev("a", T0 + 2 * MIN, session="s2")])
    s = store.signals("news", [])
    assert s.watermark_ms == T0 + 2 * MIN
    assert s.trending[300] == pytest.approx({"a": 3.0, "b": 1.0})
    assert s.trending[900] == pytest.approx({"a": 3.0, "b": 1.0})

    # 6 minutes later the first minute's clicks left the 5-minute window, not the 15-minute one.
    store.apply("news", [ev("c", T0 + 6 * MIN, session="s3")])
    s = store.signals("news", [])
    assert s.trending[300] == pytest.approx({"a": 1.0, "c": 1.0})
    assert s.trending[900] == pytest.approx({"a": 3.0, "b": 1.0, "c": 1.0})
    assert [(item, round(score, 6)) for item, score in s.top("trending_900", 1)] == [("a", 3.0)]

    # A late click inside the window counts; one older than the window's start does not.
    store.apply("news", [ev("b", T0 + 4 * MIN, session="s4"), ev("d", T0 - 20 * MIN, session="s5")])
    s = store.signals("news", [])
    assert s.trending[300] == pytest.approx({"a": 1.0, "b": 1.0, "c": 1.0})
    assert "d" not in s.trending[900]
    assert store.watermark("news") == T0 + 6 * MIN  # never goes backwards

    store.apply("news", [ev("e", T0 + 60 * MIN, session="s6")])
    assert store.signals("news", []).trending == {300: {"e": 1.0}, 900: {"e": 1.0}}


def test_far_past_replay_does_not_change_live_signals(store: ItemStatsStore) -> None:
    live = [ev(item, T0 + i * 1000, session=f"live-{i % 3}") for i, item in enumerate("abcabcab")]
    store.apply("news", live)
    before = store.signals("news", ["a", "b"])
    week = 7 * 86_400_000
    replay = [ev(item, T0 - week + i * 1000, session=f"old-{i % 2}") for i, item in enumerate("zzzyyx")]
    assert store.apply("news", replay) == len(replay)
    after = store.signals("news", ["a", "b"])
    assert after == before


def test_trending_top_k_is_bounded(make_store: StoreFactory) -> None:
    store = make_store(StreamingConfig(trending_top_k=3))
    store.apply("news", [ev(f"i{n}", T0 + n, session=f"s{n}", w=float(n + 1)) for n in range(10)])
    trending = store.signals("news", []).trending
    assert all(list(top) == ["i9", "i8", "i7"] for top in trending.values())


# -- exactly once -----------------------------------------------------------------------------


def test_redelivered_batch_counts_once(store: ItemStatsStore) -> None:
    batch = [ev("a", T0, eid="e1"), ev("b", T0 + 1000, eid="e2"), ev("a", T0 + 2000, eid="e1")]
    assert store.apply("news", batch) == 2
    assert store.apply("news", batch) == 0
    assert store.apply("news", [ev("a", T0 + 3000, eid="e3", w=0.0), ev("a", T0 + 3000, eid="e4", w=-1)]) == 0
    s = store.signals("news", ["b"])
    assert s.trending[300] == pytest.approx({"a": 1.0, "b": 1.0})
    assert s.next_item == {}
    assert store.signals("news", ["a"]).next_item == pytest.approx({"b": 1.0})


def test_event_ids_are_per_tenant(store: ItemStatsStore) -> None:
    assert store.apply("shop", [ev("a", T0, eid="same")]) == 1
    assert store.apply("shop-2", [ev("a", T0, eid="same")]) == 1


# -- sessions: next item, co-visitation, V-SkNN ------------------------------------------------


def test_next_item_and_covisit_follow_sessions(store: ItemStatsStore) -> None:
    store.apply(
        "news",
        [
            # s1: a -> b -> c, s2: a -> b, s3: c -> d, s4: a -> x after a long gap (no transition)
            ev("a", T0, session="s1"),
            ev("b", T0 + 1000, session="s1"),
            ev("c", T0 + 2000, session="s1"),
            ev("a", T0 + 500, session="s2"),
            ev("b", T0 + 1500, session="s2", w=2.0),
            ev("c", T0 + 3000, session="s3"),
            ev("d", T0 + 4000, session="s3"),
            ev("a", T0 + 100, session="s4"),
        ],
    )
    # The session's previous click can come from an earlier batch.
    store.apply("news", [ev("x", T0 + 100 + 3_600_000, session="s4"), ev("e", T0 + 5000, session="s2")])
    s = store.signals("news", ["c", "a"])  # most recent first
    assert s.next_item == pytest.approx({"d": 1.0})
    # covisit: c (weight 1) -> d 1; a (weight 1/2) -> b 3
    assert s.covisit == pytest.approx({"d": 1.0, "b": 1.5})
    assert store.signals("news", ["b"]).next_item == pytest.approx({"c": 1.0, "e": 1.0})
    assert "x" not in store.signals("news", ["a"]).next_item


def test_late_click_in_a_session_makes_no_transition(store: ItemStatsStore) -> None:
    store.apply("news", [ev("a", T0), ev("b", T0 + 2000)])
    store.apply("news", [ev("z", T0 + 1000)])  # arrives after b but happened before it
    assert store.signals("news", ["a"]).next_item == pytest.approx({"b": 1.0})
    assert store.signals("news", ["b"]).next_item == {}
    store.apply("news", [ev("c", T0 + 3000)])
    assert store.signals("news", ["b"]).next_item == pytest.approx({"c": 1.0})


def test_user_stream_is_the_session_without_a_session_id(store: ItemStatsStore) -> None:
    store.apply("news", [ev("a", T0, session=None, user="ann"), ev("b", T0 + 1, session=None, user="ann")])
    store.apply("news", [ev("c", T0 + 2, session=None, user="bob")])
    assert store.signals("news", ["a"]).next_item == pytest.approx({"b": 1.0})


def test_session_knn_ranks_what_similar_sessions_clicked(store: ItemStatsStore) -> None:
    events = []
    t = T0
    # Sessions that read a, b then went on to "target"; sessions that read z then "other".
    for n in range(5):
        for item in ("a", "b", "target"):
            t += 1000
            events.append(ev(item, t, session=f"similar-{n}"))
    for n in range(8):
        for item in ("z", "b", "other"):
            t += 1000
            events.append(ev(item, t, session=f"dissimilar-{n}"))
    store.apply("news", events)
    s = store.signals("news", ["a", "b"])
    ranked = [item for item, _ in s.top("session_knn", 10) if item not in ("a", "b")]
    assert ranked[0] == "target"
    # 5 sessions share a (weight 1) and b (weight 1/2); 8 share only b.
    assert s.session_knn["target"] == pytest.approx(5 * 1.5)
    assert s.session_knn["other"] == pytest.approx(8 * 0.5)


def test_session_knn_can_leave_out_the_current_session(store: ItemStatsStore) -> None:
    store.apply("news", [ev("a", T0, session="me"), ev("b", T0 + 1, session="me")])
    assert store.signals("news", ["b", "a"]).session_knn == pytest.approx({"a": 1.5, "b": 1.5})
    assert store.signals("news", ["b", "a"], exclude_session="me").session_knn == {}


def test_only_the_wanted_session_signals_are_read(store: ItemStatsStore) -> None:
    t = T0
    events = []
    for n in range(4):
        for item in ("a", "b", "c"):
            t += 1000
            events.append(ev(item, t, session=f"s{n}"))
    store.apply("news", events)
    full = store.signals("news", ["b", "a"])
    knn_only = store.signals("news", ["b", "a"], want=["session_knn"])
    assert knn_only.session_knn == full.session_knn != {}
    assert knn_only.covisit == {} and knn_only.next_item == {}
    assert knn_only.trending == full.trending  # trending is always read
    transitions = store.signals("news", ["b", "a"], want=["next_item", "covisit"])
    assert transitions.session_knn == {} and transitions.next_item == full.next_item != {}
    assert transitions.covisit == full.covisit


def test_signals_respect_k(store: ItemStatsStore) -> None:
    store.apply("news", [ev(f"n{i}", T0 + 1000 * i, session="s") for i in range(20)])
    store.apply(
        "news",
        [
            ev("n0", T0 + 100_000, session="t"),
            *[ev(f"m{i}", T0 + 100_001 + i, session=f"t{i}") for i in range(3)],
        ],
    )
    s = store.signals("news", [f"n{i}" for i in reversed(range(20))], k=5)
    assert len(s.covisit) == 5 and len(s.session_knn) == 5


# -- fresh items --------------------------------------------------------------------------------


def test_fresh_items_newest_first_and_bounded(make_store: StoreFactory) -> None:
    store = make_store(StreamingConfig(fresh_max_items=3))
    store.add_items("news", [("old", T0), ("mid", T0 + 10), ("new", T0 + 20)])
    store.add_items("news", [("newest", T0 + 30), ("old", T0 - 100)])
    assert store.fresh("news", 10) == [("newest", T0 + 30), ("new", T0 + 20), ("mid", T0 + 10)]
    assert store.fresh("news", 1) == [("newest", T0 + 30)]
    assert store.fresh("other", 5) == []


# -- bounded memory -----------------------------------------------------------------------------


def test_caps_hold_after_many_events(make_store: StoreFactory) -> None:
    config = StreamingConfig(
        trending_windows_s=(120,),
        covis_top_k=4,
        session_max_items=3,
        sessions_per_item=5,
        dedup_events=50,
        ttl_s=600,
        trending_top_k=5,
    )
    store = make_store(config)
    rng = random.Random(7)
    items = [f"i{n}" for n in range(30)]
    t = T0
    sizes = []
    for batch in range(20):
        events = []
        for _ in range(40):
            t += rng.randint(1, 3000)
            events.append(ev(rng.choice(items), t, session=f"s{rng.randint(0, 40) + batch * 10}"))
        store.apply("news", events)
        sizes.append(store.usage("news"))
    final = sizes[-1]
    assert final["event_ids"] <= 50
    # Sessions and items unused for ttl_s of event time are gone: at most ~10 minutes of traffic.
    assert final["sessions"] < 130
    assert max(u["sessions"] for u in sizes[10:]) < 130
    assert final["bytes"] > 0 and final["keys"] > 0
    s = store.signals("news", items)
    assert s.next_item.keys() <= set(items) and len(s.next_item) <= 4
    for item in items:
        assert len(store.signals("news", [item]).next_item) <= 4
    # The item index keeps 5 sessions per item and sessions keep 3 items: V-SkNN scores are bounded.
    knn = store.signals("news", [items[0]], k=100).session_knn
    assert sum(1 for _ in knn) <= 5 * 3


# -- tenants --------------------------------------------------------------------------------------


def test_delete_tenant_leaves_other_tenants_intact(store: ItemStatsStore) -> None:
    for tenant in ("shop", "shop-2", "shopping"):
        store.apply(tenant, [ev("a", T0), ev("b", T0 + 1)])
        store.add_items(tenant, [("a", T0)])
    store.delete_tenant("shop")
    gone = store.signals("shop", ["a"])
    assert gone.watermark_ms is None and gone.next_item == {} and gone.trending[300] == {}
    assert store.fresh("shop", 5) == []
    assert store.usage("shop")["sessions"] == 0
    for tenant in ("shop-2", "shopping"):
        kept = store.signals(tenant, ["a"])
        assert kept.watermark_ms == T0 + 1
        assert kept.next_item == pytest.approx({"b": 1.0})
        assert store.fresh(tenant, 5) == [("a", T0)]
    # The deleted tenant starts again from nothing (its event ids are forgotten too).
    assert store.apply("shop", [ev("a", T0, eid="again")]) == 1


def test_tenants_do_not_see_each_other(store: ItemStatsStore) -> None:
    store.apply("alpha", [ev("a", T0), ev("b", T0 + 1)])
    assert store.signals("beta", ["a"]) == StreamSignals(None, {300: {}, 900: {}}, {}, {}, {})


def test_check_passes_on_a_reachable_backend(store: ItemStatsStore) -> None:
    store.check()


# -- all adapters agree ---------------------------------------------------------------------------


def _random_stream(seed: int, n: int) -> list[list[ItemEvent]]:
    rng = random.Random(seed)
    items = [f"item-{i}" for i in range(40)]
    popular = items[:8]
    t = T0
    batches: list[list[ItemEvent]] = []
    sent: list[ItemEvent] = []
    while n > 0:
        batch: list[ItemEvent] = []
        for _ in range(rng.randint(1, 60)):
            t += rng.randint(0, 20_000)
            ts = t - rng.randint(0, 600_000) if rng.random() < 0.1 else t  # some late events
            item = rng.choice(popular) if rng.random() < 0.5 else rng.choice(items)
            session = None if rng.random() < 0.2 else f"s{rng.randint(0, 60)}"
            weight = rng.choice([1.0, 1.0, 0.5, 2.0, 0.0])
            batch.append(ev(item, ts, session=session, user=f"u{rng.randint(0, 20)}", w=weight))
        if sent and rng.random() < 0.2:
            batch += rng.sample(sent, min(5, len(sent)))  # redelivery
        sent += batch
        batches.append(batch)
        n -= len(batch)
    return batches


def test_all_adapters_give_the_same_signals(factories: dict[str, StoreFactory]) -> None:
    config = StreamingConfig(
        trending_windows_s=(300, 1800),
        covis_top_k=5,
        session_max_items=6,
        sessions_per_item=8,
        sknn_sample=12,
        sknn_neighbours=5,
        session_gap_s=120,
        ttl_s=3600,
        dedup_events=300,
        expire_per_batch=7,
        trending_top_k=15,
    )
    stores = {name: factories[name](config) for name in BACKENDS}
    rng = random.Random(11)
    queries = [[f"item-{rng.randint(0, 39)}" for _ in range(rng.randint(0, 7))] for _ in range(15)]
    for i, batch in enumerate(_random_stream(seed=3, n=2500)):
        applied = {name: store.apply("news", batch) for name, store in stores.items()}
        assert len(set(applied.values())) == 1, applied
        if i % 10 == 0:
            for query in queries:
                expected = stores["memory"].signals("news", query, k=10)
                for name in ("sqlite", "redis"):
                    got = stores[name].signals("news", query, k=10)
                    assert got.watermark_ms == expected.watermark_ms
                    for field in ("next_item", "covisit", "session_knn"):
                        assert getattr(got, field) == pytest.approx(getattr(expected, field)), (name, field)
                    for window, top in expected.trending.items():
                        assert got.trending[window] == pytest.approx(top), (name, window)
    usage = {name: store.usage("news") for name, store in stores.items()}
    for field in ("items", "sessions", "neighbour_lists", "event_ids"):
        assert len({u[field] for u in usage.values()}) == 1, (field, usage)


def test_sqlite_readers_in_other_connections_see_committed_batches(
    factories: dict[str, StoreFactory], tmp_path: Path
) -> None:
    path = tmp_path / "shared.db"
    writer = factories["sqlite"](path=path)
    reader = factories["sqlite"](path=path)
    writer.apply("news", [ev("a", T0), ev("b", T0 + 1)])
    assert reader.signals("news", ["a"]).next_item == pytest.approx({"b": 1.0})
    assert reader.watermark("news") == T0 + 1
