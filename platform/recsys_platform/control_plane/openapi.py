"""What the control plane's OpenAPI document adds to the routes: the error statuses each
operation answers beyond the automatic ones (401/403 secured, 404 with path parameters,
413/422 with a body; see :mod:`recsys_platform.web.openapi`), and the tags.

Kept here, by operation id, so the route modules stay about behaviour.
"""

from __future__ import annotations

from typing import Any

from recsys_platform.web.openapi import problem_response

_TRAINING_OFF = "Training is not enabled in this control plane, or MLflow did not answer."

#: operation id -> {status: description (None: the standard text)}.
EXTRA_PROBLEMS: dict[str, dict[int, str | None]] = {
    "create_tenant": {
        409: "A tenant with this id already exists.",
        503: "Provisioning a tenant resource (topics, feature store, registry) failed; retry.",
    },
    "update_tenant": {409: "The tenant is still being provisioned; retry shortly."},
    "delete_tenant": {
        409: "The tenant is still being provisioned; retry shortly.",
        503: "Removing a tenant resource failed; retry.",
    },
    "put_schema": {409: "The schema change is incompatible with the stored items."},
    "create_experiment": {409: "An experiment with this name exists, or a variant names no deployment."},
    "start_experiment": {409: "The experiment cannot start now, or another one runs on its surface."},
    "update_experiment": {409: "The experiment is running or stopped and the field cannot change now."},
    "delete_experiment": {409: "The experiment is running; stop it first."},
    "create_deployment": {
        409: "A deployment with this name already exists.",
        502: None,
        503: "The model registry or the Kubernetes API did not answer; retry.",
    },
    "update_deployment": {
        409: "The change conflicts with the deployment's current state.",
        502: None,
        503: "The model registry or the Kubernetes API did not answer; retry.",
    },
    "patch_deployment": {
        409: "The change conflicts with the deployment's current state.",
        502: None,
        503: "The model registry or the Kubernetes API did not answer; retry.",
    },
    "delete_deployment": {503: "The Kubernetes API did not answer; retry."},
    "create_run": {
        409: "The tenant already has a run queued or running.",
        503: _TRAINING_OFF,
    },
    "list_runs": {503: _TRAINING_OFF},
    "get_run": {503: _TRAINING_OFF},
    "put_schedule": {503: _TRAINING_OFF},
    "get_schedule": {503: _TRAINING_OFF},
    "delete_schedule": {503: _TRAINING_OFF},
    "list_models": {503: _TRAINING_OFF},
    "promote": {409: "The version cannot become champion.", 503: _TRAINING_OFF},
    "rollback": {409: "There is no previous champion to roll back to.", 503: _TRAINING_OFF},
}

OPENAPI_TAGS = [
    {"name": "tenants", "description": "Tenants: create, update, delete (platform admin token)."},
    {"name": "api keys", "description": "A tenant's API keys, shown once at creation."},
    {"name": "catalog", "description": "The item catalog: schema, import, read, delete."},
    {"name": "experiments", "description": "A/B experiments between deployments."},
    {"name": "deployments", "description": "Model servers serving a registered model version."},
    {"name": "training", "description": "Training runs, schedules, model versions and the champion."},
    {"name": "auth", "description": "Who the presented credential is."},
]


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A unique value per logical request (e.g. a UUID): a retry with the same key and "
    "credential gets the first answer again (`Idempotent-Replayed: true`) instead of doing it twice. "
    "Kept 24 h; the same key with a different request is a 422, a retry while the first runs a 409.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
}


def add_problems(doc: dict[str, Any]) -> None:
    """Document :data:`EXTRA_PROBLEMS` on their operations (an unknown id is a bug here), and
    ``Idempotency-Key`` on every ``POST``."""
    seen = set()
    for path_item in doc["paths"].values():
        if "post" in path_item:
            post = path_item["post"]
            post.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
            for status in (409, 422):
                post["responses"].setdefault(str(status), problem_response(status))
            post["responses"] = dict(sorted(post["responses"].items()))
        for operation in path_item.values():
            extra = EXTRA_PROBLEMS.get(operation.get("operationId", ""))
            if extra is None:
                continue
            seen.add(operation["operationId"])
            for status, description in extra.items():
                operation["responses"][str(status)] = problem_response(status, description)
            operation["responses"] = dict(sorted(operation["responses"].items()))
    missing = set(EXTRA_PROBLEMS) - seen
    if missing:
        raise RuntimeError(f"EXTRA_PROBLEMS names operations that do not exist: {sorted(missing)}")
