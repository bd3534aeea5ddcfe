"""Tenant lifecycle hook: deleting a tenant stops and removes all of its deployments."""

from __future__ import annotations

from recsys_platform.deploy.service import DeploymentService
from recsys_platform.provisioning.ports import ResourceRef, TenantContext


class DeploymentsProvisioner:
    """Owns a tenant's deployments as one resource, so a tenant purge undeploys them.

    Nothing is created at onboarding (deployments come later, through the API); the
    recorded resource only makes the purge call :meth:`deprovision`.
    """

    name = "deployments"

    def __init__(self, service: DeploymentService) -> None:
        self._service = service

    def provision(self, tenant: TenantContext) -> list[ResourceRef]:
        return [ResourceRef("deployments", tenant.tenant_id)]

    def deprovision(self, tenant_id: str, resources: list[ResourceRef]) -> None:
        self._service.purge(tenant_id)

    def check(self) -> None:
        """Nothing to reach: the deployer's backend is checked when it is used."""
