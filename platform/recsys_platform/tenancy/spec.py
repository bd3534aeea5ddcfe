"""Declarative tenant specs (``tenants/*.yaml``) and the plan that brings a tenant to one.

``recsys tenants apply -f FILE`` works like ``kubectl apply``: it reads the spec,
compares it with what the control plane has, prints the difference, and (unless
``--dry-run``) makes only the changes needed. Applying twice changes nothing.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from recsys_platform.catalog.schemas import TEMPLATES, CatalogSchema
from recsys_platform.client import ApiError, ControlPlaneClient
from recsys_platform.errors import FieldError, InvalidInput
from recsys_platform.tenancy.schemas import (
    ApiKeyCreate,
    LabelKey,
    LabelValue,
    Quotas,
    Retention,
    Scope,
    TenantId,
    UseCase,
)


class KeySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(min_length=1)


class TenantSpec(BaseModel):
    """One ``kind: Tenant`` document."""

    model_config = ConfigDict(extra="forbid")

    apiVersion: Literal["recsys.dev/v1"]  # noqa: N815 - Kubernetes-style manifest keys
    kind: Literal["Tenant"]
    id: TenantId
    display_name: str = Field(min_length=1, max_length=200)
    use_case: UseCase
    quotas: Quotas = Quotas()
    retention: Retention = Retention()
    catalog_schema: CatalogSchema | None = None
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    api_keys: list[KeySpec] = Field(default_factory=list)

    def desired_state(self) -> dict[str, Any]:
        """The fields the control plane stores, in the API's shape."""
        schema = self.catalog_schema or TEMPLATES[self.use_case]
        return {
            "display_name": self.display_name,
            "use_case": self.use_case,
            "quotas": self.quotas.model_dump(),
            "retention": self.retention.model_dump(),
            "labels": dict(self.labels),
            "catalog_schema": schema.model_dump(mode="json"),
        }


def load_specs(path: Path) -> list[TenantSpec]:
    """Read every ``kind: Tenant`` document from a YAML file or a folder of them."""
    files = sorted(p for p in path.glob("*.y*ml")) if path.is_dir() else [path]
    if not files:
        raise InvalidInput(f"{path}: no YAML files", [FieldError("file", "no YAML files")])
    specs: list[TenantSpec] = []
    for file in files:
        try:
            docs = [d for d in yaml.safe_load_all(file.read_text()) if d is not None]
        except (OSError, yaml.YAMLError) as exc:
            raise InvalidInput(f"{file}: {exc}", [FieldError("file", str(exc))]) from exc
        for n, doc in enumerate(docs):
            try:
                specs.append(TenantSpec.model_validate(doc))
            except ValidationError as exc:
                errors = [
                    FieldError(".".join(str(p) for p in e["loc"]) or "document", e["msg"])
                    for e in exc.errors()
                ]
                detail = "; ".join(f"{e.field}: {e.reason}" for e in errors)
                raise InvalidInput(f"{file} (document {n + 1}): {detail}", errors) from exc
    return specs


@dataclass
class Plan:
    """What ``apply`` will do for one tenant."""

    tenant_id: str
    action: Literal["create", "update", "unchanged"]
    diff: str = ""
    patch: dict[str, Any] = field(default_factory=dict)
    schema_changed: bool = False
    keys_to_create: list[KeySpec] = field(default_factory=list)
    keys_to_replace: list[tuple[str, KeySpec]] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        return self.action != "unchanged" or bool(self.keys_to_create or self.keys_to_replace)


def _yaml(data: dict[str, Any]) -> list[str]:
    return str(yaml.safe_dump(data, sort_keys=True)).splitlines(keepends=True)


def plan(client: ControlPlaneClient, spec: TenantSpec) -> Plan:
    desired = spec.desired_state()
    try:
        current_full = client.get(f"/v1/tenants/{spec.id}")
    except ApiError as exc:
        if exc.status != 404:
            raise
        diff = "".join(difflib.unified_diff([], _yaml(desired), "(none)", f"tenant/{spec.id}"))
        return Plan(spec.id, "create", diff=diff, keys_to_create=list(spec.api_keys))
    current = {k: current_full[k] for k in desired}
    if current["use_case"] != desired["use_case"]:
        raise InvalidInput(
            f"tenant/{spec.id}: use_case is immutable ({current['use_case']} -> {spec.use_case}); "
            "create a new tenant instead",
            [FieldError("use_case", "immutable")],
        )
    diff = "".join(
        difflib.unified_diff(
            _yaml(current), _yaml(desired), f"tenant/{spec.id} (live)", f"tenant/{spec.id} (spec)"
        )
    )
    patch = {
        k: desired[k] for k in ("display_name", "quotas", "retention", "labels") if current[k] != desired[k]
    }
    schema_changed = current["catalog_schema"] != desired["catalog_schema"]
    keys = client.get(f"/v1/tenants/{spec.id}/api-keys")["items"]
    active = {k["name"]: k for k in keys if k["status"] == "active"}
    to_create: list[KeySpec] = []
    to_replace: list[tuple[str, KeySpec]] = []
    for key in spec.api_keys:
        live = active.get(key.name)
        if live is None:
            to_create.append(key)
        elif sorted(live["scopes"]) != sorted(key.scopes):
            to_replace.append((live["id"], key))
    action: Literal["update", "unchanged"] = "update" if patch or schema_changed else "unchanged"
    return Plan(
        spec.id,
        action,
        diff=diff,
        patch=patch,
        schema_changed=schema_changed,
        keys_to_create=to_create,
        keys_to_replace=to_replace,
    )


@dataclass
class ApplyResult:
    plan: Plan
    created_keys: list[dict[str, Any]] = field(default_factory=list)


def execute(client: ControlPlaneClient, spec: TenantSpec, p: Plan) -> ApplyResult:
    """Carry out a plan made by :func:`plan` (not idempotent on its own; re-plan first)."""
    result = ApplyResult(p)
    desired = spec.desired_state()
    if p.action == "create":
        body = {"id": spec.id, **desired}
        client.post("/v1/tenants", json=body)
    elif p.action == "update":
        if p.patch:
            client.patch(f"/v1/tenants/{spec.id}", json=p.patch)
        if p.schema_changed:
            client.put(f"/v1/tenants/{spec.id}/catalog/schema", json=desired["catalog_schema"])
    for key in p.keys_to_create:
        body = ApiKeyCreate(name=key.name, scopes=key.scopes).model_dump(mode="json")
        result.created_keys.append(client.post(f"/v1/tenants/{spec.id}/api-keys", json=body))
    for old_id, key in p.keys_to_replace:
        body = ApiKeyCreate(name=key.name, scopes=key.scopes).model_dump(mode="json")
        result.created_keys.append(client.post(f"/v1/tenants/{spec.id}/api-keys", json=body))
        client.delete(f"/v1/tenants/{spec.id}/api-keys/{old_id}")
    return result
