"""The wire protocol's request and response shapes, and the parser that names bad fields.

One REQUEST is one of (model_api.md)::

    {"user_id": "u1", "session_id": "s1"?, "n": 10, "filters": {...}?, "context": {...}?, "history": [...]?}
    {"similar_to": "item-id", "n": 10, "filters": {...}?}
    {"popular": true, "n": 100, "filters": {...}?}
    {"user_id": "u1", "items": ["i3", "i9", ...], "n": k?, "filters": {...}?, ...}

Parsing is kserve-free: a bad request raises :class:`RequestError` (a ``ValueError``)
whose message starts with the dotted field name; ``model.py`` turns it into KServe's
``InvalidInput`` (HTTP 400).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)

DEFAULT_N = 10
MAX_ID_LENGTH = 512
MAX_LIST = 1000
#: Most items one re-rank request may carry.
MAX_RERANK_ITEMS = 1000


class RequestError(ValueError):
    """A request the server refuses; the message names the field and the reason."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


Id = StrictStr


class Filters(BaseModel):
    """Business filters of one request."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    include_categories: list[Id] | None = Field(default=None, max_length=MAX_LIST)
    """Only items in at least one of these categories; empty or None: no category filter (as the
    gateway's fallback list and re-rank read it)."""
    exclude_categories: list[Id] = Field(default_factory=list, max_length=MAX_LIST)
    """No item in any of these categories."""
    exclude_items: list[Id] = Field(default_factory=list, max_length=MAX_LIST)
    """Never these items."""
    exclude_seen: StrictBool | None = None
    """Leave out every item of the user's history (None: the server's ``rerank.exclude_seen`` for
    recommendations; keep them for a re-rank, whose items the caller chose)."""

    @field_validator("include_categories")
    @classmethod
    def _empty_include_is_no_filter(cls, value: list[str] | None) -> list[str] | None:
        return value or None


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    n: StrictInt = DEFAULT_N
    filters: Filters = Filters()


class UserRequest(_Base):
    """Recommendations for a user (``user_id``); unknown users get a cold-start list."""

    user_id: Id = Field(min_length=1, max_length=MAX_ID_LENGTH)
    session_id: Id | None = Field(default=None, max_length=MAX_ID_LENGTH)
    context: dict[str, Any] = Field(default_factory=dict)
    history: list[Id] = Field(default_factory=list, max_length=MAX_LIST)
    """Item ids the client knows the user just interacted with, most recent first; they come
    before the online store's recent items."""


class SimilarRequest(_Base):
    """Items similar to ``similar_to``."""

    similar_to: Id = Field(min_length=1, max_length=MAX_ID_LENGTH)


class PopularRequest(_Base):
    """The tenant's popular items."""

    popular: StrictBool


class RerankRequest(_Base):
    """The caller's ``items`` ordered for a user (``GetPersonalizedRanking``); ``n`` defaults to
    all of them."""

    user_id: Id = Field(min_length=1, max_length=MAX_ID_LENGTH)
    items: list[Id] = Field(min_length=1, max_length=MAX_RERANK_ITEMS)
    """Candidate item ids, unique; ids the model does not know are kept (after the known ones)."""
    n: StrictInt | None = None  # type: ignore[assignment]  # None: every item that passes the filters
    session_id: Id | None = Field(default=None, max_length=MAX_ID_LENGTH)
    context: dict[str, Any] = Field(default_factory=dict)
    history: list[Id] = Field(default_factory=list, max_length=MAX_LIST)
    """As in :class:`UserRequest`: comes before the online store's recent items."""


Request = UserRequest | SimilarRequest | PopularRequest | RerankRequest


def parse_request(raw: object, max_n: int, where: str = "") -> Request:
    """Validate one REQUEST object.

    Args:
        raw: The decoded JSON object.
        max_n: The largest ``n`` accepted.
        where: Prefix of field names in error messages (``instances[0]``).

    Raises:
        RequestError: naming the first bad field (``instances[0].n: must be in 1..200``).
    """

    def name(loc: str) -> str:
        return f"{where}.{loc}" if where else loc

    if not isinstance(raw, dict):
        raise RequestError(where or "request", f"must be a JSON object, got {type(raw).__name__}")
    kinds = [k for k in ("user_id", "similar_to", "popular") if k in raw]
    if len(kinds) != 1:
        raise RequestError(
            where or "request",
            "must have exactly one of user_id, similar_to, popular"
            + (f" (got {', '.join(kinds)})" if kinds else ""),
        )
    kinds_to_models: dict[str, type[_Base]] = {
        "user_id": UserRequest,
        "similar_to": SimilarRequest,
        "popular": PopularRequest,
    }
    model = kinds_to_models[kinds[0]]
    if kinds == ["user_id"] and "items" in raw:
        model = RerankRequest
    try:
        request = model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or kinds[0]
        message = "unknown field" if first["type"] == "extra_forbidden" else first["msg"]
        raise RequestError(name(loc), message) from None
    if isinstance(request, RerankRequest):
        return _check_rerank(request, name)
    if not 1 <= request.n <= max_n:
        raise RequestError(name("n"), f"must be in 1..{max_n}, got {request.n}")
    if isinstance(request, PopularRequest) and not request.popular:
        raise RequestError(name("popular"), "must be true")
    assert isinstance(request, UserRequest | SimilarRequest | PopularRequest)
    return request


def _check_rerank(request: RerankRequest, name: Callable[[str], str]) -> RerankRequest:
    """Unique ``items``; ``n`` in 1..len(items)."""
    first: dict[str, int] = {}
    for i, item in enumerate(request.items):
        if item in first:
            raise RequestError(name(f"items.{i}"), f"duplicate of items.{first[item]} ({item!r})")
        first[item] = i
    if request.n is not None and not 1 <= request.n <= len(request.items):
        raise RequestError(
            name("n"), f"must be in 1..{len(request.items)} (the number of items), got {request.n}"
        )
    return request


def request_kind(request: Request) -> Literal["user", "similar", "popular", "rerank"]:
    """``user``, ``similar``, ``popular`` or ``rerank``."""
    if isinstance(request, RerankRequest):
        return "rerank"
    if isinstance(request, UserRequest):
        return "user"
    if isinstance(request, SimilarRequest):
        return "similar"
    return "popular"


@dataclass(frozen=True)
class ResponseItem:
    """One recommended item as returned on the wire."""

    item_id: str
    score: float
    reason: str
    sources: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "score": self.score,
            "reason": self.reason,
            "sources": list(self.sources),
        }


@dataclass(frozen=True)
class Response:
    """One RESPONSE: the items and which model produced them."""

    items: list[ResponseItem]
    model_name: str
    model_version: str
    cold_start: bool
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "items": [i.as_dict() for i in self.items],
            "model_version": self.model_version,
            "model_name": self.model_name,
            "cold_start": self.cold_start,
            **self.extra,
        }
