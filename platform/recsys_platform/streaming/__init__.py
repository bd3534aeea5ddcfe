"""Streaming item-side state: trending, transitions, co-visitation, session-kNN, fresh items.

"Fresh models, not only fresh features": the stream processor applies event batches here, the
model server reads :class:`StreamSignals` per request. The definitions are engine-neutral (a
Flink job could keep the same state); three adapters implement the :class:`ItemStatsStore` port:
``MemoryItemStats`` (reference, offline replays), ``RedisItemStats`` (one Lua script per batch)
and ``SqliteItemStats`` (embedded mode, cross-process). All give the same signals.

Semantics (per tenant, all on event time, never the wall clock):

* **Batches.** Events with ``weight <= 0`` are ignored. The rest are applied in timestamp order,
  ties in input order. An event id applied before (the last ``dedup_events`` ids are remembered)
  is skipped, so redelivery counts once. A batch is applied atomically.
* **Watermark** = max applied event time; it never goes backwards.
* **Trending.** Weighted counts per bucket of ``bucket_s``. Window ``w`` holds the ``w / bucket_s``
  most recent buckets, ending with the watermark's bucket (exact at bucket granularity). When the
  watermark advances, buckets that leave a window are subtracted from it; an item whose count
  drops to zero leaves. An event older than a window's start does not count in it (a far-past
  replay never evicts live state); a late event inside a window counts.
* **Sessions.** The session is ``session_id`` or ``"u:" + user_id``. Each keeps its last item and
  last-click time (across batches) and its ``session_max_items`` most recent items.
* **Transitions** (read as ``next_item`` and ``covisit``): a click following the session's last
  click by at most ``session_gap_s`` on a different item adds its weight to
  ``neighbours[previous item][item]``. A late click (older than the session's last click) makes no
  transition and leaves the last item as it was. Each anchor keeps its ``covis_top_k`` highest
  counts (the lowest ``(count, item)`` is dropped when a new neighbour overflows the list).
* **Item -> sessions index** (V-SkNN): each item keeps the ``sessions_per_item`` sessions with the
  latest session last-click time (as of their click on the item), so old replayed sessions go first.
* **Signals.** ``session_items`` is most recent first; duplicates are dropped and at most
  ``session_max_items`` are used; position weights decay linearly (most recent = 1, then
  ``(n-1)/n`` ... ``1/n``). ``next_item`` = neighbours of the most recent item; ``covisit`` = sum
  of each session item's neighbour counts times its weight; ``session_knn`` = V-SkNN (Ludewig &
  Jannach 2018): candidates are the ``sknn_sample`` most recent sessions containing any session
  item, similarity = sum of the weights of the shared items, the ``sknn_neighbours`` most similar
  vote for each of their items with their similarity. Ties everywhere go to the larger id (Redis
  ZREVRANGE order). Items need not be in any catalog (news is clicked before import).
* **Bounded memory.** Every list has a cap; sessions and items not used for ``ttl_s`` of event
  time are removed (at most ``expire_per_batch`` of each per batch); events older than
  ``watermark - ttl_s`` only count as seen. Redis keys additionally expire ``ttl_s`` of wall time
  after their last write. ``usage()`` reports sizes.
"""

from recsys_platform.streaming.config import StreamingConfig
from recsys_platform.streaming.events import ItemEvent, StreamSignals
from recsys_platform.streaming.ports import ItemStatsStore
from recsys_platform.streaming.settings import StreamingStoreSettings, build_item_stats

__all__ = [
    "ItemEvent",
    "ItemStatsStore",
    "StreamSignals",
    "StreamingConfig",
    "StreamingStoreSettings",
    "build_item_stats",
]
