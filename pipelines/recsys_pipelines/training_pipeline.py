"""The per-tenant training pipeline: load -> train -> evaluate (vs champion) -> register + gate."""

from kfp import dsl

from recsys_pipelines.components import evaluate_model, load_data, register_model, train_model

PIPELINE_NAME = "recsys-training"


@dsl.pipeline(  # type: ignore[untyped-decorator]
    name=PIPELINE_NAME,
    description="Train a tenant's hybrid recommender, evaluate it on a temporal hold-out against "
    "the champion, register it in MLflow and promote it when it wins.",
)
def training_pipeline(
    tenant_id: str,
    offline_root: str,
    mlflow_tracking_uri: str,
    training_run_id: str,
    database_url: str = "",
    params_json: str = "{}",
    registry_prefix: str = "recsys-",
    promotion_margin: float = 0.005,
    status_dir: str = "",
) -> str:
    """Returns the register step's JSON result (model_version, promoted, reason)."""
    data = load_data(
        tenant_id=tenant_id,
        offline_root=offline_root,
        database_url=database_url,
        params_json=params_json,
        status_dir=status_dir,
    )
    trained = train_model(
        events=data.outputs["events"],
        catalog=data.outputs["catalog"],
        params_json=params_json,
        status_dir=status_dir,
    )
    evaluated = evaluate_model(
        eval_model=trained.outputs["eval_model"],
        events=data.outputs["events"],
        catalog=data.outputs["catalog"],
        params_json=params_json,
        tenant_id=tenant_id,
        mlflow_tracking_uri=mlflow_tracking_uri,
        registry_prefix=registry_prefix,
        status_dir=status_dir,
    )
    registered = register_model(
        model=trained.outputs["model"],
        metrics_json=evaluated.outputs["Output"],
        params_json=params_json,
        data_window_json=data.outputs["Output"],
        tenant_id=tenant_id,
        mlflow_tracking_uri=mlflow_tracking_uri,
        registry_prefix=registry_prefix,
        promotion_margin=promotion_margin,
        training_run_id=training_run_id,
        pipeline_run_id=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
        status_dir=status_dir,
    )
    for task, name in (
        (data, "load data"),
        (trained, "train"),
        (evaluated, "evaluate"),
        (registered, "register"),
    ):
        task.set_caching_options(False)  # every run must read the current data and registry
        task.set_display_name(name)
    return registered.output  # type: ignore[no-any-return]
