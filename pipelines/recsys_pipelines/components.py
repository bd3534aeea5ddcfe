"""KFP v2 components of the training pipeline. Each is one call into ``recsys_platform.training.steps``.

No ``from __future__ import annotations`` here: KFP reads the real annotation objects.
Components run in the project image (``COMPONENT_IMAGE``), which already contains kfp and
``recsys``; ``install_kfp_package=False`` keeps tasks from pip-installing anything (and lets
``kfp.local.SubprocessRunner(use_venv=False)`` run them in this environment).
"""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

#: The project image the components run in on Kubeflow (built from this repository).
COMPONENT_IMAGE = "ghcr.io/recsys/recsys-platform:0.1.0"


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)  # type: ignore[untyped-decorator]
def load_data(
    tenant_id: str,
    offline_root: str,
    database_url: str,
    params_json: str,
    status_dir: str,
    events: Output[Dataset],
    catalog: Output[Dataset],
) -> str:
    """Events (offline store) and catalog (control-plane DB) of the tenant; returns the data window."""
    from recsys_platform.training import steps

    return steps.load_data(
        tenant_id, offline_root, database_url, params_json, events.path, catalog.path, status_dir
    )


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)  # type: ignore[untyped-decorator]
def train_model(
    events: Input[Dataset],
    catalog: Input[Dataset],
    params_json: str,
    status_dir: str,
    eval_model: Output[Model],
    model: Output[Model],
) -> None:
    """Hybrid recommender fit before the hold-out cut (eval_model) and on all data (model)."""
    from recsys_platform.training import steps

    steps.train(events.path, catalog.path, params_json, eval_model.path, model.path, status_dir)


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)  # type: ignore[untyped-decorator]
def evaluate_model(
    eval_model: Input[Model],
    events: Input[Dataset],
    catalog: Input[Dataset],
    params_json: str,
    tenant_id: str,
    mlflow_tracking_uri: str,
    registry_prefix: str,
    status_dir: str,
    metrics: Output[Metrics],
) -> str:
    """Temporal hold-out metrics of the candidate and of the current champion (JSON)."""
    import json

    from recsys_platform.training import steps

    scores = steps.evaluate(
        eval_model.path,
        events.path,
        catalog.path,
        params_json,
        tenant_id,
        mlflow_tracking_uri,
        registry_prefix,
        status_dir,
    )
    for key, value in scores.items():
        metrics.log_metric(key, value)
    return json.dumps(scores)


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)  # type: ignore[untyped-decorator]
def register_model(
    model: Input[Model],
    metrics_json: str,
    params_json: str,
    data_window_json: str,
    tenant_id: str,
    mlflow_tracking_uri: str,
    registry_prefix: str,
    promotion_margin: float,
    training_run_id: str,
    pipeline_run_id: str,
    status_dir: str,
) -> str:
    """Register in MLflow (alias challenger), promote to champion if the gate passes (JSON result)."""
    import json

    from recsys_platform.training import steps

    result = steps.register(
        model.path,
        json.loads(metrics_json),
        params_json,
        data_window_json,
        tenant_id,
        mlflow_tracking_uri,
        registry_prefix,
        promotion_margin,
        training_run_id,
        pipeline_run_id,
        status_dir,
    )
    return json.dumps(result)
