"""The request path, independent of KServe: parse -> features -> model -> re-rank -> response.

``model.py`` (the ``kserve.Model``) only decodes the protocol and calls
:meth:`RecommendationService.predict`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from recsys_platform.recommenders.stream_blend import MODEL, SIGNAL_CANDIDATES, blend, uses_stream

from recsys_model_servers.features import StreamSignalReader, UserFeatureReader, merge_history
from recsys_model_servers.loader import ItemScoringModel, LoadedModel, ScoredItemLike
from recsys_model_servers.rerank import (
    Candidate,
    ItemInfo,
    drop_items,
    filter_categories,
    normalize_scores,
    rerank,
)
from recsys_model_servers.schemas import (
    PopularRequest,
    Request,
    RequestError,
    RerankRequest,
    Response,
    ResponseItem,
    SimilarRequest,
    UserRequest,
    parse_request,
    request_kind,
)
from recsys_model_servers.settings import RerankSettings
from recsys_model_servers.tracing import (
    MODEL_SPAN,
    ONLINE_STORE_SPAN,
    STREAM_SPAN,
    RequestTracer,
    hash_user_id,
)

#: Candidate pool growth when filters leave fewer than ``n`` items.
POOL_GROWTH = 4
SCORE_DIGITS = 6
#: Reason of a re-ranked item the model does not know (it keeps its place among the unknown).
UNKNOWN_ITEM_REASON = "not known to the model"


class ModelHolder(Protocol):
    """Something that holds the current model (``ModelLoader``)."""

    @property
    def current(self) -> LoadedModel: ...


@dataclass(frozen=True)
class ServiceConfig:
    """Per-deployment knobs of the request path."""

    name: str
    tenant_id: str | None = None
    candidate_pool: int = 100
    max_n: int = 200
    rerank: RerankSettings = field(default_factory=RerankSettings)


@dataclass(frozen=True)
class _UserContext:
    history: list[str]
    """Items the model scores from, most recent first."""
    seen: set[str]
    """Items to leave out (empty when repeats are wanted)."""
    affinity: Mapping[str, float] | None
    cold: bool
    now: float
    session_items: list[str]
    """The current session's items, most recent first (the request's history first)."""
    session_key: str
    """The session as the streaming state names it (its id, or ``u:<user>``)."""


class RecommendationService:
    """Answers REQUESTs with RESPONSEs (model_api.md) from the current model."""

    def __init__(
        self,
        config: ServiceConfig,
        models: ModelHolder,
        features: UserFeatureReader,
        tracer: RequestTracer | None = None,
        clock: Callable[[], float] = time.time,
        signals: StreamSignalReader | None = None,
    ) -> None:
        self.config = config
        self._models = models
        self._features = features
        self._signals = signals
        self._tracer = tracer or RequestTracer(None)
        self._clock = clock
        self._similar_rerank = config.rerank.model_copy(
            update={"diversity": "none", "freshness_weight": 0.0, "max_per_category": None}
        )

    def parse(self, instances: object, field: str = "instances") -> list[Request]:
        """Validate every instance before any work; the first bad field raises :class:`RequestError`."""
        if not isinstance(instances, list):
            raise RequestError(field, "must be a list of request objects")
        if not instances:
            raise RequestError(field, "must not be empty")
        return [parse_request(raw, self.config.max_n, f"{field}[{i}]") for i, raw in enumerate(instances)]

    def predict(
        self, requests: Sequence[Request], headers: Mapping[str, str] | None = None, field: str = "instances"
    ) -> list[dict[str, Any]]:
        """RESPONSE dicts for parsed requests, all from one model version.

        Raises:
            RequestError: a request names an unknown item (``instances[2].similar_to: ...``).
        """
        loaded = self._models.current  # read once: a hot swap mid-request does not mix versions
        attributes: dict[str, Any] = {
            "recsys.model.name": self.config.name,
            "recsys.model.version": loaded.version,
            "recsys.request.count": len(requests),
        }
        if self.config.tenant_id:
            attributes["recsys.tenant_id"] = self.config.tenant_id
        with self._tracer.predict(headers, attributes) as span:
            responses = []
            for i, request in enumerate(requests):
                try:
                    responses.append(self._one(request, loaded, span).as_dict())
                except RequestError as exc:
                    raise RequestError(f"{field}[{i}].{exc.field}", exc.reason) from None
        return responses

    # -- one request --------------------------------------------------------------------------

    def _one(self, request: Request, loaded: LoadedModel, span: Any) -> Response:
        span.set_attribute("recsys.request.kind", request_kind(request))
        if isinstance(request, RerankRequest):
            return self._rerank(request, loaded, span)
        if isinstance(request, UserRequest):
            return self._for_user(request, loaded, span)
        if isinstance(request, SimilarRequest):
            return self._similar(request, loaded)
        return self._popular(request, loaded)

    def _user_context(
        self, request: UserRequest | RerankRequest, loaded: LoadedModel, span: Any, exclude_seen: bool
    ) -> _UserContext:
        """The user's online row read once: the history the model scores from (the items the
        user liked, positive weight, as in training), the items to leave out (every item the
        user interacted with, when ``exclude_seen``), affinity, cold start and "now"."""
        span.set_attribute("recsys.user_hash", hash_user_id(self.config.tenant_id, request.user_id))
        with self._tracer.child(ONLINE_STORE_SPAN, {"recsys.features.enabled": self._features.enabled}) as s:
            features = self._features.read(request.user_id)
            s.set_attribute("recsys.features.status", features.status)
        if request.session_id is not None and request.session_id == features.state.session_id:
            span.set_attribute("recsys.session.clicks", features.state.session_clicks)
        history = merge_history(request.history, features.state.positive_items)
        seen = set(request.history) | set(features.recent_items) if exclude_seen else set()
        known = sum(1 for h in history if h in loaded.items)
        is_cold = getattr(loaded.model, "is_cold", None)  # the model's own routing rule, when it has one
        cold = bool(is_cold(history)) if callable(is_cold) else known < loaded.cold_start_threshold
        cold = cold or known == 0  # no known history: a cold-start list whatever the model's threshold
        span.set_attribute("recsys.history.length", known)
        span.set_attribute("recsys.cold_start", cold)
        state = features.state
        same_session = request.session_id is None or request.session_id == state.session_id
        session_items = merge_history(request.history, state.session_items if same_session else ())
        session_key = request.session_id or state.session_id or "u:" + request.user_id
        return _UserContext(
            history,
            seen,
            # The model computes a user's category affinity from the history, as it did for every
            # training row; the online row's decayed affinity would be a feature it never saw.
            # Only a user without any known history item gets the online one (cold start).
            (state.category_affinity or None) if known == 0 else None,
            cold,
            self._clock(),
            session_items,
            session_key,
        )

    def _stream(self, loaded: LoadedModel, user: _UserContext, k: int) -> tuple[dict[str, float], Any]:
        """The model's streaming blend weights and this request's signals (None: model alone)."""
        weights = dict(getattr(getattr(loaded.model, "config", None), "stream_weights", None) or {})
        if self._signals is None or not uses_stream(weights):
            return weights, None
        want = [name for name, w in weights.items() if w > 0 and name != MODEL]
        with self._tracer.child(STREAM_SPAN, {"recsys.session.items": len(user.session_items)}):
            return weights, self._signals.read(user.session_items, user.session_key, k, want)

    def _for_user(self, request: UserRequest, loaded: LoadedModel, span: Any) -> Response:
        exclude_seen = request.filters.exclude_seen
        if exclude_seen is None:  # the tenant's default: no repeats unless its users re-read/re-buy
            exclude_seen = self.config.rerank.exclude_seen
        user = self._user_context(request, loaded, span, exclude_seen)
        history, seen, affinity, cold, now = user.history, user.seen, user.affinity, user.cold, user.now
        weights, signals = self._stream(loaded, user, SIGNAL_CANDIDATES)
        names = [name for name in weights if name != MODEL]
        ranker = getattr(loaded.model, "stream_ranker", None)
        lengths = (len(history), len(user.session_items))

        def generate(pool: int, exclude: Collection[str]) -> Sequence[ScoredItemLike]:
            if signals is not None and weights.get(MODEL, 1.0) <= 0:
                # the tuned blend gives the model's list no weight (fast-moving catalogs): the
                # list is the streaming signals' alone, so the model is not asked for it
                return blend((), signals, weights, names, pool, exclude, ranker=ranker, lengths=lengths)
            listed = loaded.model.recommend(
                history,
                pool,
                exclude=exclude,
                category_affinity=affinity,
                now=now,
                exclude_history=exclude_seen,
            )
            if signals is None:
                return listed
            return blend(listed, signals, weights, names, pool, exclude, ranker=ranker, lengths=lengths)

        items = self._ranked(request, loaded, generate, seen, self.config.rerank, now)
        if len(items) < request.n:
            items += self._backfill(request, loaded, items, seen, now)
        return self._response(items, loaded, cold)

    def _backfill(
        self, request: UserRequest, loaded: LoadedModel, chosen: list[Candidate], seen: set[str], now: float
    ) -> list[Candidate]:
        """Popular items matching the filters after the model's own candidates ran out (narrow
        filters); scored below the last personalised item so they stay behind it."""

        def generate(pool: int, exclude: Collection[str]) -> Sequence[ScoredItemLike]:
            return loaded.model.popular(pool, exclude=exclude, now=now)

        taken = seen | {c.item_id for c in chosen}
        extra = self._ranked(
            request, loaded, generate, taken, self.config.rerank, now, request.n - len(chosen)
        )
        floor = min((c.score for c in chosen), default=1.0)
        return [Candidate(c.item_id, c.score * floor, c.reason, c.sources, c.info) for c in extra]

    def _similar(self, request: SimilarRequest, loaded: LoadedModel) -> Response:
        if request.similar_to not in loaded.items:
            raise RequestError("similar_to", f"unknown item {request.similar_to!r} (not in the model)")

        def generate(pool: int, exclude: Collection[str]) -> Sequence[ScoredItemLike]:
            try:
                return loaded.model.similar_items(request.similar_to, pool, exclude=exclude)
            except KeyError as exc:  # UnknownItemError
                raise RequestError("similar_to", f"unknown item {request.similar_to!r}") from exc

        items = self._ranked(
            request, loaded, generate, {request.similar_to}, self._similar_rerank, self._clock()
        )
        return self._response(items, loaded, False)

    def _popular(self, request: PopularRequest, loaded: LoadedModel) -> Response:
        now = self._clock()

        def generate(pool: int, exclude: Collection[str]) -> Sequence[ScoredItemLike]:
            return loaded.model.popular(pool, exclude=exclude, now=now)

        items = self._ranked(request, loaded, generate, set(), self.config.rerank, now)
        return self._response(items, loaded, False)

    def _rerank(self, request: RerankRequest, loaded: LoadedModel, span: Any) -> Response:
        """The caller's items ordered for the user.

        Filters first: excluded and unavailable items, the category filters (an item the model
        does not know has no categories, so an include filter drops it) and, with
        ``exclude_seen``, the user's history. Then the known items in the model's order
        (``score_items``, scores min-max scaled to [0, 1] over them), then the unknown items by
        how much they are clicked now (trending windows, when the streaming state is read),
        else in the given order (score 0); a model that blends the streaming signals orders
        all of them together. No diversity, freshness or category cap: the caller chose the
        candidates, the model only orders them.
        """
        filters = request.filters
        user = self._user_context(request, loaded, span, exclude_seen=filters.exclude_seen is True)
        history, affinity, cold, now = user.history, user.affinity, user.cold, user.now
        excluded = set(filters.exclude_items) | user.seen
        given = [
            Candidate(i, 0.0, UNKNOWN_ITEM_REASON, (), loaded.items.get(i, _NO_INFO)) for i in request.items
        ]
        kept = drop_items(given, excluded, unavailable=self.config.rerank.exclude_unavailable)
        kept = filter_categories(kept, filters.include_categories, filters.exclude_categories)
        known = [c.item_id for c in kept if c.item_id in loaded.items]
        with self._tracer.child(MODEL_SPAN, {"recsys.candidates.requested": len(known)}) as s:
            scored = _score_items(loaded, history, known, affinity, now) if known else []
            s.set_attribute("recsys.candidates.returned", len(scored))
        ranked = normalize_scores(_candidates(scored, loaded.items))
        unknown = [c for c in kept if c.item_id not in loaded.items]
        n = request.n if request.n is not None else len(request.items)
        weights, signals = self._stream(loaded, user, SIGNAL_CANDIDATES)
        if signals is not None:  # the served blend orders known and unknown items together
            names = [name for name in weights if name != MODEL]
            order = [c.item_id for c in ranked + unknown]
            ranker = getattr(loaded.model, "stream_ranker", None)
            lengths = (len(history), len(user.session_items))
            blended = {
                b.item_id: b
                for b in blend(
                    scored, signals, weights, names, len(order), include=order, ranker=ranker, lengths=lengths
                )
            }
            return self._response(_in_blend_order(ranked + unknown, blended)[:n], loaded, cold)
        if unknown and self._signals is not None:  # items the model has never seen: clicked now
            unknown = self._by_trending(unknown, user)
        return self._response((ranked + unknown)[:n], loaded, cold)

    def _by_trending(self, unknown: list[Candidate], user: _UserContext) -> list[Candidate]:
        """Items the model does not know, by how much they are clicked now (the trending
        windows, each scaled to its top item, summed), then in the given order."""
        assert self._signals is not None
        signals = self._signals.read(user.session_items, user.session_key, SIGNAL_CANDIDATES, want=[])
        if signals is None:
            return unknown
        windows = [f"trending_{w}" for w in sorted(signals.trending)]
        weights = {MODEL: 0.0, **dict.fromkeys(windows, 1.0)}
        order = [c.item_id for c in unknown]
        scored = {b.item_id: b for b in blend((), signals, weights, windows, len(order), include=order)}
        out = []
        for c in _in_blend_order(unknown, scored):
            reason = c.reason if c.score > 0 else UNKNOWN_ITEM_REASON
            out.append(Candidate(c.item_id, c.score, reason, c.sources if c.score > 0 else (), c.info))
        return out

    def _ranked(
        self,
        request: UserRequest | SimilarRequest | PopularRequest,
        loaded: LoadedModel,
        generate: Callable[[int, Collection[str]], Sequence[ScoredItemLike]],
        seen: set[str],
        settings: RerankSettings,
        now: float,
        n: int | None = None,
    ) -> list[Candidate]:
        """Ask the model for a candidate pool, re-rank it; grow the pool while filters leave < n."""
        n = request.n if n is None else n
        filters = request.filters
        excluded = seen | set(filters.exclude_items)
        # Unavailable items are not passed to the model (HybridRecommender blocks them itself and
        # a sold-out catalog can be large); the re-ranker drops any that still come back.
        n_items = len(loaded.items)
        pool = min(max(self.config.candidate_pool, n * 3), n_items)
        while True:
            with self._tracer.child(MODEL_SPAN, {"recsys.candidates.requested": pool}) as s:
                scored = generate(pool, excluded)
                s.set_attribute("recsys.candidates.returned", len(scored))
            candidates = _candidates(scored, loaded.items)
            ranked = rerank(
                candidates,
                n,
                settings,
                now=now,
                excluded=excluded,
                include_categories=filters.include_categories,
                exclude_categories=filters.exclude_categories,
            )
            if len(ranked) >= n or len(scored) < pool or pool >= n_items:
                return ranked
            pool = min(pool * POOL_GROWTH, n_items)

    def _response(self, items: Sequence[Candidate], loaded: LoadedModel, cold: bool) -> Response:
        return Response(
            items=[
                ResponseItem(c.item_id, round(float(c.score), SCORE_DIGITS), c.reason, tuple(c.sources))
                for c in items
            ],
            model_name=self.config.name,
            model_version=loaded.version,
            cold_start=cold,
        )


_NO_INFO = ItemInfo()


def _score_items(
    loaded: LoadedModel,
    history: Sequence[str],
    items: Sequence[str],
    affinity: Mapping[str, float] | None,
    now: float,
) -> Sequence[ScoredItemLike]:
    """The model's scores of ``items`` (all known to it), best first.

    A model without ``score_items`` (see ``ItemScoringModel``) is asked for its whole
    ``recommend`` list; items missing from it (history items, candidates its generators did
    not propose) follow in the given order with the lowest score of the list.
    """
    model = loaded.model
    if isinstance(model, ItemScoringModel):
        return model.score_items(history, items, category_affinity=affinity, now=now)
    wanted = set(items)
    full = model.recommend(history, len(loaded.items), category_affinity=affinity, now=now)
    listed = [s for s in full if s.item_id in wanted]
    floor = min((s.score for s in full), default=0.0)
    found = {s.item_id for s in listed}
    rest = [Candidate(i, floor, "not in the model's list", ()) for i in items if i not in found]
    return [*listed, *rest]


def _in_blend_order(kept: Sequence[Candidate], blended: Mapping[str, ScoredItemLike]) -> list[Candidate]:
    """The kept items by their blended score (ties: the order they had), reasons from the blend."""
    position = {c.item_id: k for k, c in enumerate(kept)}

    def key(c: Candidate) -> tuple[float, int]:
        b = blended.get(c.item_id)
        return (-(b.score if b is not None else 0.0), position[c.item_id])

    out = []
    for c in sorted(kept, key=key):
        b = blended.get(c.item_id)
        if b is None or b.score <= 0:  # nothing scored it: it keeps its own reason
            out.append(Candidate(c.item_id, 0.0, c.reason, c.sources, c.info))
        else:
            out.append(Candidate(c.item_id, b.score, b.reason, tuple(b.sources), c.info))
    return out


def _candidates(scored: Sequence[ScoredItemLike], items: Mapping[str, ItemInfo]) -> list[Candidate]:
    return [
        Candidate(s.item_id, float(s.score), s.reason, tuple(s.sources), items.get(s.item_id, _NO_INFO))
        for s in scored
    ]
