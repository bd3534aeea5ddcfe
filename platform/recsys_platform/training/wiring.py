"""Builds the training services from settings (used by the control-plane lifespan)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from recsys_platform.registry.mlflow_registry import MlflowModelRegistry
from recsys_platform.registry.ports import ModelRegistry
from recsys_platform.settings import ControlPlaneSettings
from recsys_platform.training.runner import KubeflowPipelineRunner, LocalPipelineRunner, PipelineRunner
from recsys_platform.training.schedule import ScheduleService, TrainingScheduler
from recsys_platform.training.service import TrainingService


@dataclass
class TrainingServices:
    """What the training, schedule and model routes use; kept on ``app.state.training``."""

    registry: ModelRegistry
    runs: TrainingService
    schedules: ScheduleService
    scheduler: TrainingScheduler

    def start(self) -> None:
        self.runs.start()
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.stop()
        self.runs.stop()


def build_registry(settings: ControlPlaneSettings) -> MlflowModelRegistry:
    """The MLflow registry adapter from ``settings.mlflow``."""
    m = settings.mlflow
    return MlflowModelRegistry(m.tracking_uri, m.registry_name_prefix, m.timeout_seconds, m.artifact_root)


def build_runner(settings: ControlPlaneSettings) -> PipelineRunner:
    """kfp.local or Kubeflow, from ``settings.kfp``."""
    kfp = settings.kfp
    if kfp.mode == "kubeflow":
        assert kfp.host is not None  # checked by the settings validator
        return KubeflowPipelineRunner(
            kfp.host,
            namespace=kfp.namespace,
            experiment=kfp.experiment,
            pipeline_root=kfp.pipeline_root or None,
            poll_seconds=kfp.poll_seconds,
            timeout_seconds=settings.training.run_timeout_seconds,
            component_image=kfp.component_image,
        )
    return LocalPipelineRunner(kfp.pipeline_root, settings.training.work_dir)


def build_training(
    settings: ControlPlaneSettings,
    sessions: sessionmaker[Session],
    registry: ModelRegistry | None = None,
    runner: PipelineRunner | None = None,
) -> TrainingServices:
    """Everything training needs; nothing starts until :meth:`TrainingServices.start`."""
    reg = registry or build_registry(settings)
    runs = TrainingService(sessions, settings, reg, runner or build_runner(settings))
    return TrainingServices(
        registry=reg,
        runs=runs,
        schedules=ScheduleService(sessions),
        scheduler=TrainingScheduler(sessions, runs, settings.training.scheduler_interval_seconds),
    )
