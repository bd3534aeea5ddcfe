"""Clients of the tenant-facing gateway: events (batched), recommendations, re-ranking and
similar items. Authenticate with a tenant API key."""

import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any, Optional, Union

from recsys_client._http import AsyncHttp, Call, RetryPolicy, SyncHttp
from recsys_client.models import (
    BatchRecommendationResponse,
    ContextValue,
    Event,
    EventBatchResult,
    EventResult,
    EventType,
    RecommendationFilters,
    RecommendationRequest,
    RecommendationResponse,
    RerankRequest,
)

DEFAULT_GATEWAY_URL = "http://127.0.0.1:8080"
MAX_BATCH = 1000
HINT = "Is the gateway running there? `recsys up` starts the platform on this machine (gateway on :8080)."

EventLike = Union[Event, dict[str, Any]]
FiltersLike = Union[RecommendationFilters, dict[str, Any], None]


def make_event(
    user_id: str,
    item_id: str,
    type: EventType,
    *,
    value: Optional[float] = None,
    session_id: Optional[str] = None,
    context: Optional[dict[str, ContextValue]] = None,
    recommendation_id: Optional[str] = None,
    timestamp: Optional[datetime] = None,
    event_id: Optional[str] = None,
) -> Event:
    """An event with a fresh ``event_id`` and the current time unless given."""
    return Event(
        event_id=event_id or uuid.uuid4().hex,
        user_id=user_id,
        item_id=item_id,
        type=type,
        value=value,
        session_id=session_id,
        context=context or {},
        recommendation_id=recommendation_id,
        timestamp=timestamp or datetime.now(timezone.utc),
    )


def _payload(event: EventLike) -> Any:
    # a dict goes as it is: the gateway validates each event and reports the bad ones
    return event.model_dump(mode="json", exclude_none=True) if isinstance(event, Event) else event


def _chunks(events: Iterable[EventLike], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for event in events:
        chunk.append(_payload(event))
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def merge_results(parts: Sequence[EventBatchResult]) -> EventBatchResult:
    """Results of consecutive batches as one, ``index`` counting across all of them."""
    results: list[EventResult] = []
    for part in parts:
        offset = len(results)
        results.extend(r.model_copy(update={"index": r.index + offset}) for r in part.results)
    return EventBatchResult(
        accepted=sum(p.accepted for p in parts),
        rejected=sum(p.rejected for p in parts),
        unavailable=sum(p.unavailable for p in parts),
        results=results,
    )


def _events_call(batch: list[Any]) -> Call[EventBatchResult]:
    # event ids make a repeated batch count once: safe to retry after a 503
    return Call(
        "POST", "/v1/events", EventBatchResult.model_validate, json={"events": batch}, idempotent=True
    )


def _filters(filters: FiltersLike) -> Optional[RecommendationFilters]:
    if filters is None or isinstance(filters, RecommendationFilters):
        return filters
    return RecommendationFilters.model_validate(filters)


def _recommend_call(
    user_id: str,
    n: int,
    session_id: Optional[str],
    context: Optional[dict[str, ContextValue]],
    filters: FiltersLike,
    surface: str,
) -> Call[RecommendationResponse]:
    body = RecommendationRequest(
        user_id=user_id,
        n=n,
        session_id=session_id,
        context=context or {},
        filters=_filters(filters),
        surface=surface,
    )
    return Call(
        "POST",
        "/v1/recommendations",
        RecommendationResponse.model_validate,
        json=body.model_dump(mode="json", exclude_none=True),
        idempotent=True,
    )


def _rerank_call(
    user_id: str,
    items: Sequence[str],
    n: Optional[int],
    session_id: Optional[str],
    context: Optional[dict[str, ContextValue]],
    filters: FiltersLike,
    surface: str,
) -> Call[RecommendationResponse]:
    body = RerankRequest(
        user_id=user_id,
        items=list(items),
        n=n,
        session_id=session_id,
        context=context or {},
        filters=_filters(filters),
        surface=surface,
    )
    return Call(
        "POST",
        "/v1/rerank",
        RecommendationResponse.model_validate,
        json=body.model_dump(mode="json", exclude_none=True),
        idempotent=True,
    )


def _batch_call(
    requests: Sequence[Union[RecommendationRequest, dict[str, Any]]],
) -> Call[list[RecommendationResponse]]:
    bodies = [
        (r if isinstance(r, RecommendationRequest) else RecommendationRequest.model_validate(r)).model_dump(
            mode="json", exclude_none=True
        )
        for r in requests
    ]
    return Call(
        "POST",
        "/v1/recommendations/batch",
        lambda body: BatchRecommendationResponse.model_validate(body).results,
        json={"requests": bodies},
        idempotent=True,
    )


def _similar_call(item_id: str, n: int) -> Call[RecommendationResponse]:
    return Call("GET", f"/v1/items/{item_id}/similar", RecommendationResponse.model_validate, params={"n": n})


class GatewayClient(SyncHttp):
    """The gateway, synchronously. ``with GatewayClient(url, api_key) as gw: gw.recommend("u1")``.

    Events are sent in batches of ``batch_size`` (at most 1,000, the gateway's limit); 429 and
    503 answers are retried per ``retry`` (see :class:`RetryPolicy`).
    """

    def __init__(
        self,
        base_url: str = DEFAULT_GATEWAY_URL,
        api_key: Optional[str] = None,
        *,
        batch_size: int = MAX_BATCH,
        timeout: float = 10.0,
        retry: Optional[RetryPolicy] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(base_url, api_key, timeout=timeout, retry=retry, hint=HINT, **kwargs)
        self.batch_size = max(1, min(batch_size, MAX_BATCH))

    def __enter__(self) -> "GatewayClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_events(self, events: Iterable[EventLike]) -> EventBatchResult:
        """Send events in batches; the merged per-event results (rejected ones name the field)."""
        return merge_results([self.run(_events_call(chunk)) for chunk in _chunks(events, self.batch_size)])

    def track(self, user_id: str, item_id: str, type: EventType, **fields: Any) -> EventResult:
        """Send one event made by :func:`make_event`; its result."""
        return self.send_events([make_event(user_id, item_id, type, **fields)]).results[0]

    def batcher(self, max_size: Optional[int] = None) -> "EventBatcher":
        """Collects events and sends a batch each ``max_size``; the rest when the block ends."""
        return EventBatcher(self, max_size or self.batch_size)

    def recommend(
        self,
        user_id: str,
        n: int = 10,
        *,
        session_id: Optional[str] = None,
        context: Optional[dict[str, ContextValue]] = None,
        filters: FiltersLike = None,
        surface: str = "default",
    ) -> RecommendationResponse:
        """Top-``n`` items for the user (unknown users get a cold-start list)."""
        return self.run(_recommend_call(user_id, n, session_id, context, filters, surface))

    def rerank(
        self,
        user_id: str,
        items: Sequence[str],
        n: Optional[int] = None,
        *,
        session_id: Optional[str] = None,
        context: Optional[dict[str, ContextValue]] = None,
        filters: FiltersLike = None,
        surface: str = "default",
    ) -> RecommendationResponse:
        """The given items ordered for the user."""
        return self.run(_rerank_call(user_id, items, n, session_id, context, filters, surface))

    def similar_items(self, item_id: str, n: int = 10) -> RecommendationResponse:
        """Items like ``item_id`` (:class:`~recsys_client.errors.NotFound` for an unknown item)."""
        return self.run(_similar_call(item_id, n))

    def recommend_batch(
        self, requests: Sequence[Union[RecommendationRequest, dict[str, Any]]]
    ) -> list[RecommendationResponse]:
        """Lists for up to 100 users in one call, in the order of ``requests``."""
        return self.run(_batch_call(requests))


class EventBatcher:
    """``with gw.batcher(500) as batch: batch.add(event)``; ``batch.result`` after the block."""

    def __init__(self, client: GatewayClient, max_size: int) -> None:
        self._client = client
        self._max = max(1, min(max_size, MAX_BATCH))
        self._pending: list[EventLike] = []
        self._parts: list[EventBatchResult] = []

    def add(self, event: EventLike) -> None:
        self._pending.append(event)
        if len(self._pending) >= self._max:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, []
            self._parts.append(self._client.send_events(pending))

    @property
    def result(self) -> EventBatchResult:
        """Everything sent so far, merged."""
        return merge_results(self._parts)

    def __enter__(self) -> "EventBatcher":
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.flush()


class AsyncGatewayClient(AsyncHttp):
    """The gateway, for asyncio: ``async with AsyncGatewayClient(url, key) as gw: ...``."""

    def __init__(
        self,
        base_url: str = DEFAULT_GATEWAY_URL,
        api_key: Optional[str] = None,
        *,
        batch_size: int = MAX_BATCH,
        timeout: float = 10.0,
        retry: Optional[RetryPolicy] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(base_url, api_key, timeout=timeout, retry=retry, hint=HINT, **kwargs)
        self.batch_size = max(1, min(batch_size, MAX_BATCH))

    async def __aenter__(self) -> "AsyncGatewayClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def send_events(self, events: Iterable[EventLike]) -> EventBatchResult:
        """Send events in batches; the merged per-event results."""
        return merge_results(
            [await self.run(_events_call(chunk)) for chunk in _chunks(events, self.batch_size)]
        )

    async def track(self, user_id: str, item_id: str, type: EventType, **fields: Any) -> EventResult:
        return (await self.send_events([make_event(user_id, item_id, type, **fields)])).results[0]

    async def recommend(
        self,
        user_id: str,
        n: int = 10,
        *,
        session_id: Optional[str] = None,
        context: Optional[dict[str, ContextValue]] = None,
        filters: FiltersLike = None,
        surface: str = "default",
    ) -> RecommendationResponse:
        return await self.run(_recommend_call(user_id, n, session_id, context, filters, surface))

    async def rerank(
        self,
        user_id: str,
        items: Sequence[str],
        n: Optional[int] = None,
        *,
        session_id: Optional[str] = None,
        context: Optional[dict[str, ContextValue]] = None,
        filters: FiltersLike = None,
        surface: str = "default",
    ) -> RecommendationResponse:
        return await self.run(_rerank_call(user_id, items, n, session_id, context, filters, surface))

    async def similar_items(self, item_id: str, n: int = 10) -> RecommendationResponse:
        return await self.run(_similar_call(item_id, n))

    async def recommend_batch(
        self, requests: Sequence[Union[RecommendationRequest, dict[str, Any]]]
    ) -> list[RecommendationResponse]:
        return await self.run(_batch_call(requests))

    async def stream_events(self, events: AsyncIterator[EventLike]) -> EventBatchResult:
        """Send events from an async source in batches of ``batch_size``."""
        parts: list[EventBatchResult] = []
        chunk: list[EventLike] = []
        async for event in events:
            chunk.append(event)
            if len(chunk) >= self.batch_size:
                parts.append(await self.send_events(chunk))
                chunk = []
        if chunk:
            parts.append(await self.send_events(chunk))
        return merge_results(parts)
