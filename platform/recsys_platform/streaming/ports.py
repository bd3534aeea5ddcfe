"""The streaming item-state port: one adapter per backend (memory, Redis, SQLite)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from recsys_platform.streaming.events import ItemEvent, StreamSignals


class ItemStatsStore(Protocol):
    """Item-side statistics kept current from the event stream, per tenant, on event time."""

    def apply(self, tenant_id: str, events: Sequence[ItemEvent]) -> int:
        """Apply a batch of events.

        Events whose ``event_id`` was applied before are skipped (exactly once under
        redelivery); the batch is applied atomically (all or nothing).

        Returns:
            How many events were applied (new, with a positive weight).
        """
        ...

    def signals(
        self,
        tenant_id: str,
        session_items: Sequence[str],
        *,
        k: int = 100,
        exclude_session: str | None = None,
        want: Collection[str] | None = None,
    ) -> StreamSignals:
        """What serving needs for one request, in a small constant number of round trips.

        Args:
            tenant_id: The tenant.
            session_items: The current session's clicked items, MOST RECENT FIRST.
            k: Items per signal (trending returns ``trending_top_k`` per window).
            exclude_session: The current session's own id, left out of the V-SkNN neighbours.
            want: The session signals the caller uses (``session_knn``, ``covisit``,
                ``next_item``; None = all): the others are not read and come back empty.
                Trending is always read (it costs one short read per window).

        Items of ``session_items`` are not removed (the caller filters them).
        """
        ...

    def add_items(self, tenant_id: str, items: Sequence[tuple[str, int]]) -> None:
        """Catalog items with their publish/import time (ms); the newest are kept in a bounded set."""
        ...

    def fresh(self, tenant_id: str, k: int) -> list[tuple[str, int]]:
        """The ``k`` most recently published/imported items, newest first."""
        ...

    def watermark(self, tenant_id: str) -> int | None:
        """Max event time applied for the tenant (``None`` before the first event)."""
        ...

    def usage(self, tenant_id: str) -> dict[str, int]:
        """Sizes for reporting: ``keys``, ``items``, ``sessions``, ``bytes`` (and more per adapter)."""
        ...

    def delete_tenant(self, tenant_id: str) -> None:
        """Remove all of the tenant's state, and nothing of any other tenant."""
        ...

    def delete_sessions(self, tenant_id: str, sessions: Sequence[str]) -> int:
        """Forget these sessions (an end user's data erased): their items and their membership
        in the items' session lists; aggregate counts (trending, co-visitation) stay. Returns
        how many were held."""
        ...

    def check(self) -> None:
        """Raise ``DependencyUnavailable`` if the backend cannot be reached."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
