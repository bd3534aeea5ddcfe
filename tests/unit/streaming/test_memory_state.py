"""The reference algorithm's internals that the contract suite cannot see: expiry and dedup bounds."""

from __future__ import annotations

from recsys_platform.streaming.config import StreamingConfig
from recsys_platform.streaming.events import ItemEvent
from recsys_platform.streaming.memory import MemoryItemStats, _ExpiringIndex

T0 = 1_700_000_000_000


def test_expiring_index_pops_the_oldest_current_entries() -> None:
    index = _ExpiringIndex()
    index.update("a", 5)
    index.update("b", 3)
    index.update("b", 9)  # the stale (3, "b") entry must not expire b
    index.update("c", 1)
    assert index.pop_older(cutoff=6, limit=10) == ["c", "a"]
    assert index.last == {"b": 9}
    assert index.pop_older(cutoff=100, limit=0) == []


def test_sessions_and_items_unused_for_ttl_expire() -> None:
    store = MemoryItemStats(StreamingConfig(ttl_s=60, trending_windows_s=(60,)))
    store.apply("news", [ItemEvent("1", "u", "a", T0, "old"), ItemEvent("2", "u", "b", T0 + 1, "old")])
    assert store.usage("news")["sessions"] == 1
    store.apply("news", [ItemEvent("3", "u", "c", T0 + 61_002, "new")])
    usage = store.usage("news")
    assert (usage["sessions"], usage["items"], usage["neighbour_lists"]) == (1, 1, 0)
    assert store.signals("news", ["a"]).next_item == {}


def test_remembered_event_ids_are_bounded() -> None:
    store = MemoryItemStats(StreamingConfig(dedup_events=3))
    store.apply("news", [ItemEvent(str(n), "u", "a", T0 + n) for n in range(10)])
    assert store.usage("news")["event_ids"] == 3
    assert store.apply("news", [ItemEvent("9", "u", "a", T0 + 20)]) == 0  # still remembered
    assert store.apply("news", [ItemEvent("0", "u", "a", T0 + 20)]) == 1  # forgotten: accepted again
