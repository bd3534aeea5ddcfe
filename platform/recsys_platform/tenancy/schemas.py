"""API schemas of tenants and API keys (``XCreate`` / ``XUpdate`` / ``XPublic``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from recsys_platform.catalog.schemas import CatalogSchema

#: A tenant id is a DNS label (it names a Kubernetes namespace and Kafka topics).
TENANT_ID_PATTERN = r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$"
TenantId = Annotated[str, StringConstraints(pattern=TENANT_ID_PATTERN)]
UseCase = Literal["news", "ecommerce", "video"]
TenantStatus = Literal["provisioning", "active", "deleting", "deleted"]
Scope = Literal["events:write", "recommendations:read", "admin", "users:delete", "users:export"]
ALL_SCOPES: tuple[Scope, ...] = (
    "events:write",
    "recommendations:read",
    "admin",
    "users:delete",
    "users:export",
)

LabelKey = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9._/-]{0,61}[a-z0-9])?$")]
LabelValue = Annotated[str, StringConstraints(max_length=63)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Quotas(Strict):
    """Per-tenant limits enforced by the gateway and the control plane."""

    requests_per_second: int = Field(default=100, ge=1, le=100_000)
    events_per_second: int = Field(default=200, ge=1, le=100_000)
    max_items: int = Field(default=100_000, ge=1, le=100_000_000)
    max_models: int = Field(default=5, ge=1, le=1_000)


class QuotasPatch(Strict):
    requests_per_second: int | None = Field(default=None, ge=1, le=100_000)
    events_per_second: int | None = Field(default=None, ge=1, le=100_000)
    max_items: int | None = Field(default=None, ge=1, le=100_000_000)
    max_models: int | None = Field(default=None, ge=1, le=1_000)


class Retention(Strict):
    """How long the tenant's raw data is kept."""

    events_days: int = Field(default=90, ge=1, le=3650)
    impressions_days: int = Field(default=30, ge=1, le=3650)


class RetentionPatch(Strict):
    events_days: int | None = Field(default=None, ge=1, le=3650)
    impressions_days: int | None = Field(default=None, ge=1, le=3650)


class TenantCreate(Strict):
    id: TenantId = Field(description="Slug: lowercase letters, digits and '-', 3-40 chars.")
    display_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    use_case: UseCase
    quotas: Quotas = Quotas()
    retention: Retention = Retention()
    catalog_schema: CatalogSchema | None = Field(
        default=None, description="Declared item fields; defaults to the use case's template."
    )
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=50)


class TenantUpdate(Strict):
    display_name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None
    ) = None
    quotas: QuotasPatch | None = None
    retention: RetentionPatch | None = None
    labels: dict[LabelKey, LabelValue] | None = Field(default=None, max_length=50)


class ResourcePublic(BaseModel):
    provisioner: str
    kind: str
    name: str


class TenantPublic(BaseModel):
    id: str
    display_name: str
    use_case: UseCase
    status: TenantStatus
    quotas: Quotas
    retention: Retention
    catalog_schema: CatalogSchema
    labels: dict[str, str]
    resources: list[ResourcePublic]
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class TenantList(BaseModel):
    items: list[TenantPublic]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page.")


class TenantLag(BaseModel):
    """How far the stream processor is behind on a tenant's topics."""

    tenant_id: str
    consumer_group: str
    topics: dict[str, int] = Field(description="Records not yet processed (committed), per topic.")
    total: int = Field(description="Sum over the tenant's topics.")


class ApiKeyCreate(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    scopes: list[Scope] = Field(min_length=1, max_length=len(ALL_SCOPES))
    expires_at: datetime | None = None

    @field_validator("scopes")
    @classmethod
    def _unique(cls, scopes: list[Scope]) -> list[Scope]:
        if len(set(scopes)) != len(scopes):
            raise ValueError("scopes must not repeat")
        return scopes

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must include a timezone offset, e.g. 2027-01-01T00:00:00Z")
        return value


class ApiKeyPublic(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="First characters of the key, to recognise it; never the key.")
    scopes: list[Scope]
    status: Literal["active", "revoked", "expired"]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="The secret key. Shown once; store it now.")


class ApiKeyList(BaseModel):
    items: list[ApiKeyPublic]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page.")


class Principal(BaseModel):
    """Who is calling: the platform admin, or a tenant's API key with its scopes."""

    kind: Literal["platform_admin", "api_key"]
    tenant_id: str | None = None
    key_id: str | None = None
    scopes: list[Scope] = Field(default_factory=list)
    expires_at: datetime | None = None
    """When the key stops working (``None``: never, until revoked)."""
