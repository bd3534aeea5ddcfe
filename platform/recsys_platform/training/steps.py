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
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from recsys_platform.training import data
from recsys_platform.training.params import TrainingParams
from recsys_platform.training.progress import maybe_fail, stage

if TYPE_CHECKING:
    import pandas as pd

    from recsys_platform.registry.ports import ModelVersionInfo

log = logging.getLogger(__name__)
#: Env fallback for the database URL so a Kubeflow run need not carry it as a parameter.
DATABASE_URL_ENV = "RECSYS_CONTROL_PLANE_DATABASE__URL"
#: Version tags holding the promotion gate's reason and rule (read back in Kubeflow mode).
GATE_TAG = "recsys.gate"
GATE_RULE_TAG = "recsys.gate_rule"


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
        if params.stream_blend and not config.stream_weights:
            eval_model = _with_stream_weights(
                eval_model, events, train_part, params.stream_ranker, catalog, params.stream_replay_events
            )
        save_model(eval_model, eval_model_dir)
        if params.refit_on_all:
            tuned = config.model_copy(update={"stream_weights": eval_model.config.stream_weights})
            final = HybridRecommender.fit(interactions, catalog=catalog, config=tuned, now=now)
            final.state.validation.update(
                {k: v for k, v in eval_model.state.validation.items() if k.startswith("stream_")}
            )
            final.state.stream_ranker_model = eval_model.state.stream_ranker_model
            save_model(final, model_dir)
        else:
            shutil.copytree(eval_model_dir, model_dir, dirs_exist_ok=True)


def _with_stream_weights(
    model: Any,
    events: Any,
    train_part: Any,
    with_ranker: bool = True,
    catalog: Any = None,
    replay_events: int = 3000,
) -> Any:
    """The model with the streaming blend weights tuned on a point-in-time replay of the hold-out
    (``stream_blend.tune_stream_weights``) and, when it earns its place, the stream ranker learned
    on the same replay rows (``fit_stream_ranker``); the reports go into the validation figures,
    ``stream_served_ndcg_at_10`` being what serving computes (the gate's figure)."""
    from recsys_platform.recommenders.hybrid import HybridRecommender
    from recsys_platform.recommenders.stream_blend import (
        fit_stream_ranker,
        replay_cases,
        tune_stream_weights,
        uses_stream,
    )

    if train_part.timestamps is None or not len(train_part.timestamps):
        return model
    cut = float(train_part.timestamps.max())
    rows = list(_replay_rows(events))
    cases = replay_cases(model, rows, cut, published=published_times(catalog), max_cases=replay_events)
    weights, report = tune_stream_weights(model, rows, cut, cases=cases)
    report["served_ndcg_at_10"] = report.get("blend_ndcg_at_10", 0.0)
    ranker_text = None
    if with_ranker and uses_stream(weights):
        ranker_text, ranker_report = fit_stream_ranker(cases, weights)
        report.update(ranker_report)
        if ranker_text is not None:
            report["served_ndcg_at_10"] = ranker_report["ranker_ndcg_at_10"]
    log.info("streaming blend weights %s (%s)", weights, report)
    tuned = HybridRecommender(model.config.model_copy(update={"stream_weights": weights}), model.state)
    tuned.state.validation.update({f"stream_{k}": float(v) for k, v in report.items()})
    tuned.state.stream_ranker_model = ranker_text
    return HybridRecommender(tuned.config, tuned.state)


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
    """Metrics of the candidate on the temporal hold-out, its reachability and the champion's
    score on the same hold-out (see :func:`evaluate_candidate`)."""
    from recsys_platform.recommenders.artifact import load_model
    from recsys_platform.registry.mlflow_registry import MlflowModelRegistry

    with stage("evaluate", status_dir):
        maybe_fail("evaluate")
        params = TrainingParams.model_validate_json(params_json or "{}")
        events, catalog = data.read_frames(events_path, catalog_path)
        registry = MlflowModelRegistry(mlflow_tracking_uri, registry_prefix)
        return evaluate_candidate(load_model(eval_model_dir), events, catalog, params, registry, tenant_id)


class ChampionSource(Protocol):
    """What the evaluate step needs of the registry (``ModelRegistry`` provides it)."""

    def get_champion(self, tenant_id: str) -> ModelVersionInfo | None: ...

    def download(self, tenant_id: str, ref: str, destination: Path) -> Path: ...


def evaluate_candidate(
    candidate: Any,
    events: pd.DataFrame,
    catalog: pd.DataFrame,
    params: TrainingParams,
    registry: ChampionSource,
    tenant_id: str,
) -> dict[str, float]:
    """Everything the gate decides on, measured on one hold-out (the last ``holdout_fraction``).

    ``candidate`` is the model fitted before the cut. Keys: the ``evaluate_model`` metrics,
    ``holdout_*`` (reachability, users, events), ``baseline_popularity_*`` and, when the tenant
    has a champion, ``champion_version``, ``champion_ndcg_at_10`` (scored on equal terms, see
    :func:`_champion_comparison`), ``gate_same_recipe``, ``gate_newer_data`` and
    ``gate_champion_refit`` (1.0 or 0.0).
    """
    from recsys_platform.recommenders.evaluation import (
        evaluate_model,
        holdout_reachability,
        temporal_split,
    )

    interactions = data.to_interactions(events)
    train_part, test_part = temporal_split(interactions, holdout_fraction=params.holdout_fraction)
    metrics = {k: float(v) for k, v in evaluate_model(candidate, train_part, test_part).items()}
    metrics.update(holdout_reachability(candidate, train_part, test_part))
    baseline = evaluate_model(cast(Any, _PopularityBaseline(candidate)), train_part, test_part)
    for key in ("ndcg_at_10", "recall_at_10", "map_at_10", "precision_at_10"):
        metrics[f"baseline_popularity_{key}"] = float(baseline[key])
    scorer = _served_replay(candidate, events, train_part, metrics, catalog, params.stream_replay_events)
    champion = registry.get_champion(tenant_id)
    if champion is not None:
        # the registered model's last event: all events, or the cut without refit_on_all
        cut = cast(Any, train_part.timestamps).max()  # temporal_split needs timestamps
        data_end = events["timestamp"].max() if params.refit_on_all else cut
        metrics.update(
            _champion_comparison(
                registry,
                tenant_id,
                champion,
                candidate,
                catalog,
                train_part,
                test_part,
                candidate_ndcg=metrics["ndcg_at_10"],
                now=float(events["timestamp"].max()),
                data_end=float(data_end),
                scorer=scorer,
            )
        )
    return metrics


def _served_replay(
    candidate: Any,
    events: pd.DataFrame,
    train_part: Any,
    metrics: dict[str, float],
    catalog: Any = None,
    replay_events: int = 3000,
) -> Callable[[Any], float] | None:
    """When the candidate serves a streaming blend, the gate decides on what serving computes.

    The user-level hold-out above scores the batch model alone; a model whose list blends the
    streaming signals (news: most clicks go to items published after training) is judged on the
    point-in-time replay of the same hold-out instead (``stream_blend.replay_cases``, measured
    when its weights were tuned): ``ndcg_at_10`` is the blend's next-event nDCG@10, the baseline
    is recent-popular on the same events, reachability the share of events whose item was among
    the served candidates. The batch figures stay, prefixed ``batch_``. Returns the scorer of a
    champion on the same replay (its own blend), or None for a batch-only candidate.
    """
    from recsys_platform.recommenders.stream_blend import replay_cases, replay_ndcg, uses_stream

    validation = candidate.state.validation
    if not uses_stream(candidate.config.stream_weights) or "stream_blend_ndcg_at_10" not in validation:
        return None
    for key in ("ndcg_at_10", "holdout_reachability", "holdout_reachable_users", "holdout_users"):
        metrics[f"batch_{key}"] = metrics[key]
    metrics["batch_baseline_popularity_ndcg_at_10"] = metrics["baseline_popularity_ndcg_at_10"]
    metrics["ndcg_at_10"] = validation.get("stream_served_ndcg_at_10", validation["stream_blend_ndcg_at_10"])
    metrics["baseline_popularity_ndcg_at_10"] = validation.get("stream_recent_popular_ndcg_at_10", 0.0)
    metrics["holdout_reachability"] = validation.get("stream_reachable", 0.0)
    metrics["holdout_reachable_users"] = validation.get("stream_reachable_users", 0.0)
    metrics["holdout_users"] = validation.get("stream_users", 0.0)
    metrics["holdout_replay_events"] = validation.get("stream_cases", 0.0)
    metrics["served_replay"] = 1.0
    rows = list(_replay_rows(events))
    cut = float(train_part.timestamps.max())
    published = published_times(catalog)

    def score(model: Any) -> float:
        ranker = getattr(model, "stream_ranker", None)
        cases = replay_cases(model, rows, cut, published=published, max_cases=replay_events)
        return replay_ndcg(cases, model.config.stream_weights, ranker=ranker)

    return score


def published_times(catalog: pd.DataFrame | None) -> dict[str, float]:
    """Item -> publish time (unix s) of the catalog items that have one (the replays' ``fresh``)."""
    if catalog is None or not len(catalog) or "created_at" not in catalog:
        return {}
    import pandas as pd

    times = pd.to_numeric(catalog["created_at"], errors="coerce")
    known = times.notna()
    return dict(zip(catalog["item_id"][known].astype(str), times[known].astype(float), strict=True))


def _replay_rows(events: pd.DataFrame) -> Iterator[tuple[str, str, float, float, str | None]]:
    """``(user, item, weight, unix s, session)`` of an events frame, for the streaming replays."""
    sessions = events["session_id"] if "session_id" in events else [None] * len(events)
    yield from zip(
        events["user_id"].astype(str),
        events["item_id"].astype(str),
        events["value"].astype(float),
        events["timestamp"].astype(float),
        (None if s is None or s != s else str(s) for s in sessions),  # s != s: NaN
        strict=True,
    )


class _PopularityBaseline:
    """The number to beat: the candidate's own popularity list minus the user's history."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.item_ids = model.item_ids

    def recommend(self, history: Any, n: int = 10, **_: Any) -> Any:
        return self._model.popular(n, exclude=history)


def _window_end(champion: ModelVersionInfo) -> float | None:
    end = champion.tags.get("recsys.data_window_end", "")
    try:
        return datetime.fromisoformat(end).timestamp() if end else None
    except ValueError:
        return None


def _saved_config(folder: Path) -> Any:
    """The ``HybridConfig`` a saved model was trained with (its recipe), from its manifest."""
    from recsys_platform.recommenders.artifact import MANIFEST
    from recsys_platform.recommenders.hybrid import HybridConfig

    manifest = json.loads((folder / MANIFEST).read_text())
    return HybridConfig.model_validate(manifest["config"])


def _champion_comparison(
    registry: ChampionSource,
    tenant_id: str,
    champion: ModelVersionInfo,
    candidate: Any,
    catalog: pd.DataFrame,
    train_part: Any,
    test_part: Any,
    *,
    candidate_ndcg: float,
    now: float,
    data_end: float,
    scorer: Callable[[Any], float] | None = None,
) -> dict[str, float]:
    """The champion's ndcg@10 on the candidate's hold-out, on equal terms with the candidate.

    - The champion's data ended before the cut (it saw none of the hold-out): its artifact is
      scored as it serves. The candidate knows as much or more, which is the point of retraining.
    - Its data reach past the cut: it saw part of the hold-out, which the candidate did not. Its
      recipe (config from its manifest) is refitted on the candidate's train part, so both models
      saw the same events; with the same recipe that refit is the candidate itself (not refitted).

    ``now`` is the reference time the candidate was fitted with; ``data_end`` the last event of
    the model that will be registered (``gate_newer_data``: it ends after the champion's data).
    On failure (an artifact this code cannot read) only ``champion_version`` is returned and the
    gate falls back to the champion's logged metric, saying so. ``scorer`` replaces the hold-out
    ndcg@10 (a candidate judged on the served streaming replay); the recipe then is the config
    without the tuned ``stream_weights``, which every run sets anew.
    """
    import tempfile

    from recsys_platform.recommenders.artifact import load_model
    from recsys_platform.recommenders.evaluation import evaluate_model
    from recsys_platform.recommenders.hybrid import HybridRecommender

    out = {"champion_version": float(champion.version)}
    seen_until = _window_end(champion)
    out["gate_newer_data"] = float(seen_until is not None and data_end > seen_until + 1e-3)
    try:
        with tempfile.TemporaryDirectory(prefix="recsys-champion-") as tmp:
            folder = registry.download(tenant_id, champion.version, Path(tmp) / "model")
            config = _saved_config(folder)
            ignore = {"stream_weights"} if scorer is not None else set()
            same = config.model_dump(mode="json", exclude=ignore) == candidate.config.model_dump(
                mode="json", exclude=ignore
            )

            def measure(model: Any) -> float:
                if scorer is not None:
                    return scorer(model)
                return float(evaluate_model(model, train_part, test_part)["ndcg_at_10"])

            saw_holdout = seen_until is None or bool((test_part.timestamps <= seen_until).any())
            if not saw_holdout:
                score = measure(load_model(folder))
            elif same:
                score = candidate_ndcg
            else:
                refit = HybridRecommender.fit(train_part, catalog=catalog, config=config, now=now)
                score = measure(refit)
        out["gate_same_recipe"] = float(same)
        out["gate_champion_refit"] = float(saw_holdout)
        out["champion_ndcg_at_10"] = float(score)
    except Exception:  # an old/incompatible champion artifact: the gate uses its logged metric
        log.warning("champion %s of %s could not be evaluated", champion.version, tenant_id, exc_info=True)
    return out


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
    from recsys_platform.registry.gate import GateEvidence, GatePolicy
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
        # the version's own metrics; the champion's score and the comparison flags are the gate's
        candidate = {k: v for k, v in metrics.items() if not k.startswith(("champion_", "gate_"))}
        info = registry.register(tenant_id, Path(model_dir), candidate, flat, lineage)
        try:
            maybe_fail("register")
            policy = GatePolicy(
                margin=params.promotion_margin if params.promotion_margin is not None else promotion_margin,
                min_reachability=params.min_holdout_reachability,
                min_users=params.min_holdout_users,
                allow_below_baseline=params.allow_below_baseline,
            )
            decision = registry.promote_if_better(
                tenant_id, info.version, GateEvidence.from_metrics(metrics), policy
            )
        except BaseException:
            registry.delete_version(tenant_id, info.version)
            raise
        try:  # informational; a promoted version must never be deleted over it
            registry.set_version_tag(tenant_id, info.version, GATE_TAG, decision.reason)
            registry.set_version_tag(tenant_id, info.version, GATE_RULE_TAG, decision.rule)
        except Exception:
            log.warning("could not tag version %s with the gate reason", info.version, exc_info=True)
        return {
            "model_version": info.version,
            "promoted": decision.promoted,
            "reason": decision.reason,
            "rule": decision.rule,
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
