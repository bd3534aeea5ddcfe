"""The model-registry port: one registered model per tenant, versions, aliases, the promotion gate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from recsys_platform.registry.gate import GateEvidence, GatePolicy

#: Alias of the version the serving side uses.
CHAMPION = "champion"
#: Alias of the most recent registered candidate.
CHALLENGER = "challenger"
#: Metric the gate compares.
GATE_METRIC = "ndcg_at_10"


@dataclass(frozen=True)
class Lineage:
    """Where a model version came from; stored as tags on the run and the version."""

    tenant_id: str
    training_run_id: str
    pipeline_run_id: str
    data_window_start: str
    data_window_end: str
    code_version: str

    def tags(self) -> dict[str, str]:
        """The lineage as MLflow tags (``recsys.`` prefixed)."""
        return {
            "recsys.tenant": self.tenant_id,
            "recsys.training_run_id": self.training_run_id,
            "recsys.pipeline_run_id": self.pipeline_run_id,
            "recsys.data_window_start": self.data_window_start,
            "recsys.data_window_end": self.data_window_end,
            "recsys.code_version": self.code_version,
        }


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered version: its number, aliases, metrics and lineage tags."""

    name: str
    version: str
    aliases: tuple[str, ...]
    metrics: Mapping[str, float]
    tags: Mapping[str, str]
    run_id: str | None
    created_at_ms: int
    source: str = ""


@dataclass(frozen=True)
class GateDecision:
    """The outcome of comparing a challenger with the champion."""

    promoted: bool
    reason: str
    challenger_score: float
    champion_score: float | None
    champion_version: str | None = None
    details: Mapping[str, str] = field(default_factory=dict)
    rule: str = ""
    """Which rule of :mod:`recsys_platform.registry.gate` decided."""


class ModelRegistry(Protocol):
    """Per-tenant registered models (``<prefix><tenant_id>``) with champion/challenger aliases."""

    def model_name(self, tenant_id: str) -> str:
        """The registered model name of a tenant."""
        ...

    def ensure_registered_model(self, tenant_id: str) -> str:
        """Create the tenant's experiment and registered model if missing; return the model name."""
        ...

    def delete_registered_model(self, tenant_id: str) -> None:
        """Delete the tenant's registered model and experiment (gone already is fine)."""
        ...

    def register(
        self,
        tenant_id: str,
        artifact_dir: Path,
        metrics: Mapping[str, float],
        params: Mapping[str, str],
        lineage: Lineage,
    ) -> ModelVersionInfo:
        """Log a run with metrics/params/lineage, log the artifact directory and register a version.

        The new version gets the ``challenger`` alias. On failure after the version was
        created it is deleted again (no half-registered version).
        """
        ...

    def list_versions(self, tenant_id: str) -> list[ModelVersionInfo]:
        """All versions, newest first."""
        ...

    def get_version(self, tenant_id: str, version: str) -> ModelVersionInfo:
        """One version (raises ``NotFound``)."""
        ...

    def get_champion(self, tenant_id: str) -> ModelVersionInfo | None:
        """The version with the ``champion`` alias, or ``None``."""
        ...

    def promote(self, tenant_id: str, version: str) -> ModelVersionInfo:
        """Make ``version`` the champion (the previous champion is remembered for rollback)."""
        ...

    def promote_if_better(
        self, tenant_id: str, version: str, evidence: GateEvidence, policy: GatePolicy
    ) -> GateDecision:
        """Apply :func:`~recsys_platform.registry.gate.decide` against the current champion;
        promote ``version`` when it passes (a refused gate never moves ``champion``)."""
        ...

    def rollback(self, tenant_id: str) -> ModelVersionInfo:
        """Move ``champion`` back to the previous champion version (raises ``Conflict`` if none)."""
        ...

    def set_version_tag(self, tenant_id: str, version: str, key: str, value: str) -> None:
        """Tag a version (e.g. ``recsys.gate`` with the gate's reason)."""
        ...

    def delete_version(self, tenant_id: str, version: str) -> None:
        """Delete a version (gone already is fine)."""
        ...

    def download(self, tenant_id: str, ref: str, destination: Path) -> Path:
        """Download version number or alias ``ref``; return the directory holding ``manifest.json``."""
        ...

    def check(self) -> None:
        """Raise if the registry cannot be reached."""
        ...
