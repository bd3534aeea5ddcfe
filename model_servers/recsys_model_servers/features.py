"""The user's real-time features: one online-store read per request.

An unknown user is an empty state (cold start), not an error. A failing online
store does not fail the request either: the user is served from the request's own
``history`` (or as a cold start) and the failure is logged and reported in the
trace, so the gateway is not forced onto its popularity fallback by a Redis blip.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from recsys_platform.errors import DependencyUnavailable, NotFound
from recsys_platform.features.ports import UserFeatureStore
from recsys_platform.features.state import UserState
from recsys_platform.streaming.events import StreamSignals
from recsys_platform.streaming.ports import ItemStatsStore
from recsys_platform.streaming.scoring import FRESH_ITEMS, fresh_scores

log = logging.getLogger(__name__)

FeatureStatus = Literal["ok", "unknown_user", "unavailable", "disabled"]
#: Seconds between two warnings about the same failing store (a down store fails every request).
WARN_EVERY_SECONDS = 30.0


@dataclass(frozen=True)
class UserFeatures:
    """What the request path needs from the user's online row."""

    state: UserState
    status: FeatureStatus

    @property
    def recent_items(self) -> tuple[str, ...]:
        """Item ids, most recent first."""
        return self.state.recent_items


class UserFeatureReader:
    """Reads one user's state from the tenant's online store (or nothing, when disabled)."""

    def __init__(self, store: UserFeatureStore | None, tenant_id: str | None) -> None:
        if store is not None and not tenant_id:
            raise ValueError("tenant_id is required to read online features")
        self._store = store
        self._tenant_id = tenant_id or ""
        self._last_warning = 0.0

    @property
    def enabled(self) -> bool:
        """Whether requests read the online store."""
        return self._store is not None

    def read(self, user_id: str) -> UserFeatures:
        """The user's state; an empty state when unknown, disabled or the store failed."""
        empty = UserState(user_id=user_id)
        if self._store is None:
            return UserFeatures(empty, "disabled")
        try:
            state = self._store.read(self._tenant_id, user_id)
        except (DependencyUnavailable, NotFound) as exc:
            self._warn(f"online features unavailable, serving without them: {exc.detail}")
            return UserFeatures(empty, "unavailable")
        if state is None:
            return UserFeatures(empty, "unknown_user")
        return UserFeatures(state, "ok")

    def check(self) -> None:
        """Raise if the online store cannot be reached (no-op when disabled)."""
        if self._store is not None:
            self._store.check()

    def close(self) -> None:
        """Close the store's connections."""
        if self._store is not None:
            self._store.close()

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY_SECONDS:
            self._last_warning = now
            log.warning(message)


def merge_history(request_history: tuple[str, ...] | list[str], stored: tuple[str, ...]) -> list[str]:
    """The request's history first, then the stored recent items; each id once, order kept."""
    return list(dict.fromkeys([*request_history, *stored]))


class StreamSignalReader:
    """Reads the tenant's streaming signals (session-kNN, co-visitation, trending) for a request.

    Like the user row: a failing store does not fail the request; the model's own list is served
    and the failure is logged (at most every ``WARN_EVERY_SECONDS``).
    """

    def __init__(self, store: ItemStatsStore, tenant_id: str) -> None:
        self._store = store
        self._tenant_id = tenant_id
        self._last_warning = 0.0

    def read(
        self, session_items: Sequence[str], session_key: str, k: int, want: Sequence[str] | None = None
    ) -> StreamSignals | None:
        """The signals for this session (most recent item first), or None when the store failed;
        only the session signals in ``want`` are read, and the newest catalog items only when
        ``want`` names ``fresh``."""
        try:
            signals = self._store.signals(
                self._tenant_id, session_items, k=k, exclude_session=session_key, want=want
            )
            if want is not None and "fresh" in want:
                newest = self._store.fresh(self._tenant_id, FRESH_ITEMS)
                signals = replace(signals, fresh=fresh_scores(newest, signals.watermark_ms))
            return signals
        except Exception as exc:  # any backend error: serve the model's list alone
            now = time.monotonic()
            if now - self._last_warning >= WARN_EVERY_SECONDS:
                self._last_warning = now
                log.warning("streaming signals unavailable, serving the model alone: %s", exc)
            return None

    def check(self) -> None:
        """Raise if the store cannot be reached."""
        self._store.check()

    def close(self) -> None:
        """Close the store's connections."""
        self._store.close()
