"""MLflow adapter of the provisioning port: each tenant's experiment and registered model."""

from __future__ import annotations

from recsys_platform.provisioning.ports import ResourceRef, TenantContext
from recsys_platform.registry.mlflow_registry import MlflowModelRegistry
from recsys_platform.settings import MlflowSettings

KIND = "mlflow_registered_model"


class MlflowRegistryProvisioner:
    """Creates ``<prefix><tenant>`` (experiment + registered model) at onboarding, deletes it at purge."""

    name = "mlflow"

    def __init__(self, settings: MlflowSettings, registry: MlflowModelRegistry | None = None) -> None:
        self._registry = registry or MlflowModelRegistry(
            settings.tracking_uri,
            settings.registry_name_prefix,
            settings.timeout_seconds,
            settings.artifact_root,
        )

    def provision(self, tenant: TenantContext) -> list[ResourceRef]:
        """Idempotent: an existing experiment/model is adopted."""
        return [ResourceRef(KIND, self._registry.ensure_registered_model(tenant.tenant_id))]

    def deprovision(self, tenant_id: str, resources: list[ResourceRef]) -> None:
        """Delete the registered model (all versions) and the experiment; gone already is fine."""
        if any(r.kind == KIND for r in resources):
            self._registry.delete_registered_model(tenant_id)

    def check(self) -> None:
        """The tracking server answers ``/health`` (no-op for a local ``sqlite:`` store)."""
        self._registry.check()
