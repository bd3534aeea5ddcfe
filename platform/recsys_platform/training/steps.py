"""The bodies of the pipeline's steps. KFP components are one-line calls into these.

Each step reads and writes plain files (the component's input/output artifact paths), reports
its stage (:mod:`recsys_platform.training.progress`) and raises with a message that says what
went wrong; the run service shows that message as the run's error.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, cast

from recsys_platform.training import data
from recsys_platform.training.params import TrainingParams
from recsys_platform.training.progress import maybe_fail, stage

log = logging.getLogger(__name__)
#: Env fallback for the database URL so a Kubeflow run need not carry it as a parameter.
DATABASE_URL_ENV = "RECSYS_CONTROL_PLANE_DATABASE__URL"
#: Version tag holding the promotion gate's reason (read back in Kubeflow mode).
GATE_TAG = "recsys.gate"


def load_data(
    tenant_id: str,
    offline_root: str,
    database_url: str,
    params_json: str,
    events_path: str,
    catalog_path: str,
    status_dir: str = "",
) -> str:
    """Events + catalog -> step outputs; returns the data window as JSON."""
    with stage("load_data", status_dir):
        maybe_fail("load_data")
        params = TrainingParams.model_validate_json(params_json or "{}")
        url = database_url or os.environ.get(DATABASE_URL_ENV, "")
        if not url:
            raise ValueError(f"no database URL: pass database_url or set {DATABASE_URL_ENV}")
        events = data.load_events(offline_root, tenant_id, params)
        catalog = data.load_catalog(url, tenant_id)
        window = data.check_training_data(tenant_id, events, catalog, params)
        data.write_frames(events, catalog, events_path, catalog_path)
        return json.dumps(window.as_dict())


def _config(params: TrainingParams) -> Any:
    from recsys_platform.recommenders.hybrid import HybridConfig

    return HybridConfig.model_validate(params.model)


def train(
    events_path: str,
    catalog_path: str,
    params_json: str,
    eval_model_dir: str,
    model_dir: str,
    status_dir: str = "",
) -> None:
    """Fit on the pre-hold-out part (for evaluation) and, if asked, refit on everything."""
    from recsys_platform.recommenders.artifact import save_model
    from recsys_platform.recommenders.evaluation import temporal_split
    from recsys_platform.recommenders.hybrid import HybridRecommender

    with stage("train", status_dir):
        maybe_fail("train")
        params = TrainingParams.model_validate_json(params_json or "{}")
        events, catalog = data.read_frames(events_path, catalog_path)
        interactions = data.to_interactions(events)
        config = _config(params)
        now = float(events["timestamp"].max())
        train_part, _ = temporal_split(interactions, holdout_fraction=params.holdout_fraction)
        eval_model = HybridRecommender.fit(train_part, catalog=catalog, config=config, now=now)
        save_model(eval_model, eval_model_dir)
        if params.refit_on_all:
            final = HybridRecommender.fit(interactions, catalog=catalog, config=config, now=now)
            save_model(final, model_dir)
        else:
            shutil.copytree(eval_model_dir, model_dir, dirs_exist_ok=True)


def evaluate(
    eval_model_dir: str,
    events_path: str,
    catalog_path: str,
    params_json: str,
    tenant_id: str,
    mlflow_tracking_uri: str,
    registry_prefix: str,
    status_dir: str = "",
) -> dict[str, float]:
    """Metrics of the candidate on the temporal hold-out, and the champion comparison.

    The champion is compared on hold-out events it never saw (after its data window),
    scored for both models: ``gate_ndcg_at_10`` (candidate) and ``champion_ndcg_at_10``.
    Both are absent when there is no champion, no unseen event or its artifact cannot be
    evaluated; the gate then compares with the champion's logged metric.
    """
    from recsys_platform.recommenders.artifact import load_model
    from recsys_platform.recommenders.evaluation import evaluate_model, temporal_split

    with stage("evaluate", status_dir):
        maybe_fail("evaluate")
        params = TrainingParams.model_validate_json(params_json or "{}")
        events, _ = data.read_frames(events_path, catalog_path)
        interactions = data.to_interactions(events)
        train_part, test_part = temporal_split(interactions, holdout_fraction=params.holdout_fraction)
        candidate = load_model(eval_model_dir)
        metrics = {k: float(v) for k, v in evaluate_model(candidate, train_part, test_part).items()}
        baseline = evaluate_model(cast(Any, _PopularityBaseline(candidate)), train_part, test_part)
        for key in ("ndcg_at_10", "recall_at_10", "map_at_10", "precision_at_10"):
            metrics[f"baseline_popularity_{key}"] = float(baseline[key])
        metrics.update(
            _champion_comparison(
                tenant_id, mlflow_tracking_uri, registry_prefix, candidate, train_part, test_part
            )
        )
        return metrics


class _PopularityBaseline:
    """The number to beat: the candidate's own popularity list minus the user's history."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.item_ids = model.item_ids

    def recommend(self, history: Any, n: int = 10, **_: Any) -> Any:
        return self._model.popular(n, exclude=history)


def _champion_comparison(
    tenant_id: str, uri: str, prefix: str, candidate: Any, train_part: Any, test_part: Any
) -> dict[str, float]:
    import tempfile
    from datetime import datetime

    from recsys_platform.recommenders.artifact import load_model
    from recsys_platform.recommenders.evaluation import evaluate_model
    from recsys_platform.registry.mlflow_registry import MlflowModelRegistry

    registry = MlflowModelRegistry(uri, prefix)
    champion = registry.get_champion(tenant_id)
    if champion is None:
        return {}
    end = champion.tags.get("recsys.data_window_end", "")
    try:
        seen_until = datetime.fromisoformat(end).timestamp() if end else float("-inf")
        unseen = data.subset(test_part, test_part.timestamps > seen_until)
        if len(unseen.user_ids) == 0:
            log.info(
                "no hold-out event is newer than champion %s's data; using its logged metric",
                champion.version,
            )
            return {}
        with tempfile.TemporaryDirectory(prefix="recsys-champion-") as tmp:
            folder = registry.download(tenant_id, champion.version, Path(tmp) / "model")
            champion_scores = evaluate_model(load_model(folder), train_part, unseen)
        candidate_scores = evaluate_model(candidate, train_part, unseen)
        return {
            "gate_ndcg_at_10": float(candidate_scores["ndcg_at_10"]),
            "champion_ndcg_at_10": float(champion_scores["ndcg_at_10"]),
        }
    except Exception:  # an old/incompatible champion artifact: fall back to its logged metric
        log.warning("champion %s of %s could not be evaluated", champion.version, tenant_id, exc_info=True)
        return {}


def register(
    model_dir: str,
    metrics: dict[str, float],
    params_json: str,
    data_window_json: str,
    tenant_id: str,
    mlflow_tracking_uri: str,
    registry_prefix: str,
    promotion_margin: float,
    training_run_id: str,
    pipeline_run_id: str,
    status_dir: str = "",
) -> dict[str, Any]:
    """Register the model (alias ``challenger``), gate it against the champion.

    If anything fails after the version exists, the version is deleted again.
    """
    from recsys_platform.registry.mlflow_registry import MlflowModelRegistry
    from recsys_platform.registry.ports import Lineage

    with stage("register", status_dir):
        params = TrainingParams.model_validate_json(params_json or "{}")
        window = json.loads(data_window_json or "{}")
        registry = MlflowModelRegistry(mlflow_tracking_uri, registry_prefix)
        lineage = Lineage(
            tenant_id=tenant_id,
            training_run_id=training_run_id,
            pipeline_run_id=pipeline_run_id,
            data_window_start=str(window.get("start", "")),
            data_window_end=str(window.get("end", "")),
            code_version=code_version(),
        )
        flat = {f"param.{k}": json.dumps(v, default=str) for k, v in params.model_dump().items()}
        flat.update({f"data.{k}": str(v) for k, v in window.items()})
        candidate = {k: v for k, v in metrics.items() if k not in ("champion_ndcg_at_10", "gate_ndcg_at_10")}
        info = registry.register(tenant_id, Path(model_dir), candidate, flat, lineage)
        try:
            maybe_fail("register")
            margin = params.promotion_margin if params.promotion_margin is not None else promotion_margin
            decision = registry.promote_if_better(
                tenant_id,
                info.version,
                metrics.get("champion_ndcg_at_10"),
                margin,
                challenger_score=metrics.get("gate_ndcg_at_10"),
            )
        except BaseException:
            registry.delete_version(tenant_id, info.version)
            raise
        try:  # informational; a promoted version must never be deleted over it
            registry.set_version_tag(tenant_id, info.version, GATE_TAG, decision.reason)
        except Exception:
            log.warning("could not tag version %s with the gate reason", info.version, exc_info=True)
        return {
            "model_version": info.version,
            "promoted": decision.promoted,
            "reason": decision.reason,
            "champion_version": decision.champion_version,
            "champion_score": decision.champion_score,
        }


def code_version() -> str:
    """``<recsys version>`` plus ``+g<git sha>`` when the code runs from a git checkout."""
    import subprocess

    from recsys_platform import __version__

    sha = os.environ.get("RECSYS_GIT_SHA", "")
    if not sha:
        try:
            sha = subprocess.run(
                ["git", "rev-parse", "--short=12", "HEAD"],
                cwd=Path(__file__).resolve().parent,
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            sha = ""
    return f"{__version__}+g{sha}" if sha else __version__
