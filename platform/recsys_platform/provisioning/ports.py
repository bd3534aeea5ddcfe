"""The provisioning port: create and remove what a tenant needs in one backing service."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from recsys_platform.tenancy.schemas import Retention, UseCase


@dataclass(frozen=True)
class TenantContext:
    """What a provisioner needs to know about the tenant."""

    tenant_id: str
    use_case: UseCase
    retention: Retention


@dataclass(frozen=True)
class ResourceRef:
    """One provisioned thing, e.g. ``("kafka_topic", "recsys.shop.events")``."""

    kind: str
    name: str


class Provisioner(Protocol):
    """Creates and removes one backend's resources for a tenant.

    ``provision`` is idempotent (existing resources are adopted, not an error) and
    returns every resource it owns for the tenant; ``deprovision`` tolerates
    resources that are already gone. Both raise on a backend failure so the
    control plane can roll back or retry.
    """

    name: str

    def provision(self, tenant: TenantContext) -> list[ResourceRef]: ...

    def deprovision(self, tenant_id: str, resources: list[ResourceRef]) -> None: ...

    def check(self) -> None:
        """Raise if the backend cannot be reached (readiness)."""
        ...
