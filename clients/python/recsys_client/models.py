"""The API's models, as the client sends and reads them.

Field names, types and required-ness follow the services' OpenAPI documents; a test in the
server repository (``tests/unit/client/test_schema_compat.py``) compares each model here with
the server's schema of the same name and fails the build when a server change would break
the client. Answers ignore fields the client does not know yet, so a server may add fields.
Written for Python 3.9+ (``Optional``, not ``X | None``: pydantic evaluates annotations).
"""

from datetime import datetime
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

EventType = Literal[
    "impression", "view", "click", "add_to_cart", "purchase", "rating", "watch", "skip", "like", "share"
]
ContextValue = Union[str, int, float, bool]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")


# -- errors -----------------------------------------------------------------------------------


class ProblemFieldError(_Answer):
    field: str
    reason: str


class ProblemDetails(_Answer):
    """RFC 9457 problem details; extra members (e.g. per-event results of a 503) in ``extra``."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: Optional[str] = None
    errors: Optional[list[ProblemFieldError]] = None


# -- gateway ----------------------------------------------------------------------------------


class Event(_Request):
    """One user event; ``event_id`` makes retries safe (duplicates count once)."""

    event_id: str
    user_id: str
    item_id: str
    type: EventType
    timestamp: datetime
    session_id: Optional[str] = None
    value: Optional[float] = Field(default=None, description="A rating (0-10) or watch seconds.")
    context: dict[str, ContextValue] = Field(default_factory=dict)
    recommendation_id: Optional[str] = None


class EventResult(_Answer):
    index: int
    event_id: Optional[str]
    status: Literal["accepted", "rejected", "unavailable"]
    errors: list[dict[str, str]] = Field(default_factory=list)


class EventBatchResult(_Answer):
    accepted: int
    rejected: int
    unavailable: int
    results: list[EventResult]


class RecommendationFilters(_Request):
    include_categories: Optional[list[str]] = None
    exclude_categories: Optional[list[str]] = None
    exclude_items: Optional[list[str]] = None
    exclude_seen: Optional[bool] = None


class RecommendationRequest(_Request):
    user_id: str
    session_id: Optional[str] = None
    n: int = 10
    context: dict[str, ContextValue] = Field(default_factory=dict)
    filters: Optional[RecommendationFilters] = None
    surface: str = "default"


class RerankRequest(_Request):
    user_id: str
    items: list[str]
    session_id: Optional[str] = None
    n: Optional[int] = None
    context: dict[str, ContextValue] = Field(default_factory=dict)
    filters: Optional[RecommendationFilters] = None
    surface: str = "default"


class RecommendedItem(_Answer):
    item_id: str
    score: float
    reason: str
    position: int


class RecommendationResponse(_Answer):
    recommendation_id: str
    items: list[RecommendedItem]
    variant: Optional[str]
    experiment: Optional[str]
    model_version: Optional[str]
    fallback: bool


class BatchRecommendationResponse(_Answer):
    results: list[RecommendationResponse]


# -- control plane ----------------------------------------------------------------------------

UseCase = str
Scope = Literal["events:write", "recommendations:read", "admin", "users:delete", "users:export"]


class Quotas(_Answer):
    requests_per_second: int
    events_per_second: int
    max_items: int
    max_models: int


class ResourcePublic(_Answer):
    provisioner: str
    kind: str
    name: str


class TenantPublic(_Answer):
    id: str
    display_name: str
    use_case: UseCase
    status: str
    quotas: Quotas
    labels: dict[str, str]
    resources: list[ResourcePublic]
    created_at: datetime
    updated_at: datetime
    deleted_at: Optional[datetime]


class TenantList(_Answer):
    items: list[TenantPublic]
    next_cursor: Optional[str] = None


class ApiKeyPublic(_Answer):
    id: str
    name: str
    prefix: str
    scopes: list[Scope]
    status: Literal["active", "revoked", "expired"]
    created_at: datetime
    expires_at: Optional[datetime]
    last_used_at: Optional[datetime]
    revoked_at: Optional[datetime]


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="The secret key. Shown once; store it now.")


class ApiKeyList(_Answer):
    items: list[ApiKeyPublic]
    next_cursor: Optional[str] = None


class ItemResult(_Answer):
    index: int
    item_id: Optional[str]
    status: Literal["created", "updated", "rejected"]
    errors: list[dict[str, str]] = Field(default_factory=list)


class ItemBatchResult(_Answer):
    created: int
    updated: int
    rejected: int
    results: list[ItemResult]


class ItemPublic(_Answer):
    item_id: str
    attributes: dict[str, Any]
    created_at: Any
    updated_at: Any


class ItemPage(_Answer):
    items: list[ItemPublic]
    next_cursor: Optional[str]


class ModelPublic(_Answer):
    alias: Optional[str] = None
    version: Optional[str] = None


class DeploymentPublic(_Answer):
    id: str
    tenant_id: str
    name: str
    mode: str
    status: str
    endpoint: Optional[str]
    model: ModelPublic
    resolved_version: Optional[str]
    previous_version: Optional[str]
    min_replicas: int
    max_replicas: int
    canary_traffic_percent: Optional[int]
    error: Optional[str]
    created_at: datetime
    updated_at: datetime


class DeploymentList(_Answer):
    items: list[DeploymentPublic]
    next_cursor: Optional[str] = None


class VariantSpec(_Answer):
    name: str
    deployment: str
    weight: float


class ExperimentPublic(_Answer):
    id: str
    tenant_id: str
    name: str
    surface: str
    status: Literal["draft", "running", "stopped"]
    variants: list[VariantSpec]
    attribution_window_seconds: int
    created_at: datetime
    started_at: Optional[datetime]
    stopped_at: Optional[datetime]


class ExperimentList(_Answer):
    items: list[ExperimentPublic]
    next_cursor: Optional[str] = None


class VariantResult(_Answer):
    variant: str
    deployment: str
    weight: float
    impressions: int
    clicks: int
    ctr: float
    ctr_ci_low: float
    ctr_ci_high: float
    is_control: bool
    lift: Optional[float]
    p_value: Optional[float]
    significant: bool


class ExperimentResults(_Answer):
    experiment: str
    status: Literal["draft", "running", "stopped"]
    control: str
    variants: list[VariantResult]


class TrainingRunPublic(_Answer):
    id: str
    tenant_id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    trigger: str
    stage: Optional[str]
    params: dict[str, Any]
    metrics: dict[str, float]
    model_version: Optional[str]
    promoted: bool
    error: Optional[str]
    requested_at: datetime


class TrainingRunList(_Answer):
    items: list[TrainingRunPublic]


class Principal(_Answer):
    kind: Literal["platform_admin", "api_key"]
    tenant_id: Optional[str] = None
    key_id: Optional[str] = None
    scopes: list[Scope] = Field(default_factory=list)


class ModelVersionPublic(_Answer):
    version: str
    aliases: list[str]
    metrics: dict[str, float]
    tags: dict[str, str]
    run_id: Optional[str]
    created_at: datetime


class ModelList(_Answer):
    registered_model: str
    champion: Optional[str]
    challenger: Optional[str]
    items: list[ModelVersionPublic]
