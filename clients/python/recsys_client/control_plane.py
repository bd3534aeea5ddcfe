"""Clients of the control plane: tenants, API keys, the catalog, deployments, experiments,
training and model versions. Authenticate with the platform admin token or a tenant key with
the ``admin`` scope."""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Iterable, Iterator, Sequence
from typing import Any, Callable, Optional, Protocol, TypeVar, Union

from recsys_client._http import AsyncHttp, Call, RetryPolicy, SyncHttp
from recsys_client.models import (
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyPublic,
    DeploymentList,
    DeploymentPublic,
    ExperimentList,
    ExperimentPublic,
    ExperimentResults,
    ItemBatchResult,
    ItemPage,
    ItemPublic,
    ItemResult,
    ModelList,
    ModelVersionPublic,
    Principal,
    TenantList,
    TenantPublic,
    TrainingRunList,
    TrainingRunPublic,
    VariantSpec,
)

DEFAULT_CONTROL_PLANE_URL = "http://127.0.0.1:8000"
HINT = "Is the control plane running there? `recsys up` starts the platform on this machine (:8000)."
ITEM_BATCH = 10_000
FINISHED = ("succeeded", "failed")

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
VariantLike = Union[VariantSpec, dict[str, Any]]


def _none(_: Any) -> None:
    return None


def _given(**fields: Any) -> dict[str, Any]:
    """Only the fields the caller set: PATCH semantics (absent = unchanged)."""
    return {k: v for k, v in fields.items() if v is not None}


def _variant(v: VariantLike) -> dict[str, Any]:
    return v.model_dump() if isinstance(v, VariantSpec) else dict(v)


def _model(alias: Optional[str], version: Optional[str]) -> Optional[dict[str, str]]:
    if alias is not None and version is not None:
        raise ValueError("name the model by alias or by version, not both")
    if version is not None:
        return {"version": str(version)}
    return {"alias": alias} if alias is not None else None


def merge_item_results(parts: list[ItemBatchResult]) -> ItemBatchResult:
    results: list[ItemResult] = []
    for part in parts:
        offset = len(results)
        results.extend(r.model_copy(update={"index": r.index + offset}) for r in part.results)
    return ItemBatchResult(
        created=sum(p.created for p in parts),
        updated=sum(p.updated for p in parts),
        rejected=sum(p.rejected for p in parts),
        results=results,
    )


class _Calls:
    """Each operation as a :class:`Call`; the sync and async clients run the same ones."""

    @staticmethod
    def whoami() -> Call[Principal]:
        return Call("GET", "/v1/me", Principal.model_validate)

    @staticmethod
    def create_tenant(body: dict[str, Any]) -> Call[TenantPublic]:
        return Call("POST", "/v1/tenants", TenantPublic.model_validate, json=body)

    @staticmethod
    def get_tenant(tenant_id: str) -> Call[TenantPublic]:
        return Call("GET", f"/v1/tenants/{tenant_id}", TenantPublic.model_validate)

    @staticmethod
    def list_tenants(include_deleted: bool, limit: int, cursor: Optional[str]) -> Call[TenantList]:
        params = {"include_deleted": "true" if include_deleted else None, "limit": limit, "cursor": cursor}
        return Call("GET", "/v1/tenants", TenantList.model_validate, params=params)

    @staticmethod
    def update_tenant(tenant_id: str, changes: dict[str, Any]) -> Call[TenantPublic]:
        return Call("PATCH", f"/v1/tenants/{tenant_id}", TenantPublic.model_validate, json=changes)

    @staticmethod
    def delete_tenant(tenant_id: str) -> Call[TenantPublic]:
        return Call("DELETE", f"/v1/tenants/{tenant_id}", TenantPublic.model_validate)

    @staticmethod
    def create_api_key(tenant_id: str, body: dict[str, Any]) -> Call[ApiKeyCreated]:
        return Call("POST", f"/v1/tenants/{tenant_id}/api-keys", ApiKeyCreated.model_validate, json=body)

    @staticmethod
    def list_api_keys(tenant_id: str, limit: int, cursor: Optional[str]) -> Call[ApiKeyList]:
        params = {"limit": limit, "cursor": cursor}
        return Call("GET", f"/v1/tenants/{tenant_id}/api-keys", ApiKeyList.model_validate, params=params)

    @staticmethod
    def revoke_api_key(tenant_id: str, key_id: str) -> Call[ApiKeyPublic]:
        return Call("DELETE", f"/v1/tenants/{tenant_id}/api-keys/{key_id}", ApiKeyPublic.model_validate)

    @staticmethod
    def import_items(tenant_id: str, items: list[Any]) -> Call[ItemBatchResult]:
        # upserts: repeating a batch stores the same items again
        path = f"/v1/tenants/{tenant_id}/catalog/items"
        return Call("POST", path, ItemBatchResult.model_validate, json={"items": items}, idempotent=True)

    @staticmethod
    def list_items(tenant_id: str, limit: int, cursor: Optional[str]) -> Call[ItemPage]:
        params = {"limit": limit, "cursor": cursor}
        return Call("GET", f"/v1/tenants/{tenant_id}/catalog/items", ItemPage.model_validate, params=params)

    @staticmethod
    def get_item(tenant_id: str, item_id: str) -> Call[ItemPublic]:
        return Call("GET", f"/v1/tenants/{tenant_id}/catalog/items/{item_id}", ItemPublic.model_validate)

    @staticmethod
    def delete_item(tenant_id: str, item_id: str) -> Call[None]:
        return Call("DELETE", f"/v1/tenants/{tenant_id}/catalog/items/{item_id}", _none)

    @staticmethod
    def create_deployment(tenant_id: str, body: dict[str, Any]) -> Call[DeploymentPublic]:
        return Call(
            "POST", f"/v1/tenants/{tenant_id}/deployments", DeploymentPublic.model_validate, json=body
        )

    @staticmethod
    def list_deployments(tenant_id: str, limit: int, cursor: Optional[str]) -> Call[DeploymentList]:
        params = {"limit": limit, "cursor": cursor}
        return Call(
            "GET", f"/v1/tenants/{tenant_id}/deployments", DeploymentList.model_validate, params=params
        )

    @staticmethod
    def get_deployment(tenant_id: str, name: str) -> Call[DeploymentPublic]:
        return Call("GET", f"/v1/tenants/{tenant_id}/deployments/{name}", DeploymentPublic.model_validate)

    @staticmethod
    def patch_deployment(tenant_id: str, name: str, changes: dict[str, Any]) -> Call[DeploymentPublic]:
        path = f"/v1/tenants/{tenant_id}/deployments/{name}"
        return Call("PATCH", path, DeploymentPublic.model_validate, json=changes)

    @staticmethod
    def delete_deployment(tenant_id: str, name: str) -> Call[None]:
        return Call("DELETE", f"/v1/tenants/{tenant_id}/deployments/{name}", _none)

    @staticmethod
    def create_experiment(tenant_id: str, body: dict[str, Any]) -> Call[ExperimentPublic]:
        return Call(
            "POST", f"/v1/tenants/{tenant_id}/experiments", ExperimentPublic.model_validate, json=body
        )

    @staticmethod
    def list_experiments(tenant_id: str, limit: int, cursor: Optional[str]) -> Call[ExperimentList]:
        params = {"limit": limit, "cursor": cursor}
        return Call(
            "GET", f"/v1/tenants/{tenant_id}/experiments", ExperimentList.model_validate, params=params
        )

    @staticmethod
    def get_experiment(tenant_id: str, name: str) -> Call[ExperimentPublic]:
        return Call("GET", f"/v1/tenants/{tenant_id}/experiments/{name}", ExperimentPublic.model_validate)

    @staticmethod
    def experiment_action(tenant_id: str, name: str, action: str) -> Call[ExperimentPublic]:
        path = f"/v1/tenants/{tenant_id}/experiments/{name}/{action}"
        return Call("POST", path, ExperimentPublic.model_validate, idempotent=True)

    @staticmethod
    def update_experiment(tenant_id: str, name: str, changes: dict[str, Any]) -> Call[ExperimentPublic]:
        path = f"/v1/tenants/{tenant_id}/experiments/{name}"
        return Call("PATCH", path, ExperimentPublic.model_validate, json=changes)

    @staticmethod
    def delete_experiment(tenant_id: str, name: str) -> Call[None]:
        return Call("DELETE", f"/v1/tenants/{tenant_id}/experiments/{name}", _none)

    @staticmethod
    def experiment_results(tenant_id: str, name: str) -> Call[ExperimentResults]:
        path = f"/v1/tenants/{tenant_id}/experiments/{name}/results"
        return Call("GET", path, ExperimentResults.model_validate)

    @staticmethod
    def start_training(tenant_id: str, params: dict[str, Any]) -> Call[TrainingRunPublic]:
        path = f"/v1/tenants/{tenant_id}/training-runs"
        return Call("POST", path, TrainingRunPublic.model_validate, json={"params": params})

    @staticmethod
    def get_training_run(tenant_id: str, run_id: str) -> Call[TrainingRunPublic]:
        return Call(
            "GET", f"/v1/tenants/{tenant_id}/training-runs/{run_id}", TrainingRunPublic.model_validate
        )

    @staticmethod
    def list_training_runs(tenant_id: str, limit: int) -> Call[TrainingRunList]:
        path = f"/v1/tenants/{tenant_id}/training-runs"
        return Call("GET", path, TrainingRunList.model_validate, params={"limit": limit})

    @staticmethod
    def list_models(tenant_id: str) -> Call[ModelList]:
        return Call("GET", f"/v1/tenants/{tenant_id}/models", ModelList.model_validate)

    @staticmethod
    def promote(tenant_id: str, version: str) -> Call[ModelVersionPublic]:
        path = f"/v1/tenants/{tenant_id}/models/champion"
        return Call(
            "POST", path, ModelVersionPublic.model_validate, json={"version": str(version)}, idempotent=True
        )

    @staticmethod
    def rollback(tenant_id: str) -> Call[ModelVersionPublic]:
        return Call(
            "POST", f"/v1/tenants/{tenant_id}/models/champion/rollback", ModelVersionPublic.model_validate
        )


def _tenant_body(
    tenant_id: str, display_name: Optional[str], use_case: str, fields: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": tenant_id,
        "display_name": display_name or tenant_id,
        "use_case": use_case,
        **_given(**fields),
    }


def _deployment_body(
    name: str, alias: Optional[str], version: Optional[str], fields: dict[str, Any]
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, **_given(**fields)}
    model = _model(alias, version)
    if model is not None:
        body["model"] = model
    return body


def _deployment_changes(
    alias: Optional[str], version: Optional[str], fields: dict[str, Any]
) -> dict[str, Any]:
    changes = _given(**fields)
    model = _model(alias, version)
    if model is not None:
        changes["model"] = model
    return changes


def _experiment_body(
    name: str,
    variants: Iterable[VariantLike],
    surface: Optional[str],
    attribution_window_seconds: Optional[int],
) -> dict[str, Any]:
    return {
        "name": name,
        "variants": [_variant(v) for v in variants],
        **_given(surface=surface, attribution_window_seconds=attribution_window_seconds),
    }


def _experiment_changes(
    variants: Optional[Iterable[VariantLike]],
    surface: Optional[str],
    attribution_window_seconds: Optional[int],
) -> dict[str, Any]:
    changes = _given(surface=surface, attribution_window_seconds=attribution_window_seconds)
    if variants is not None:
        changes["variants"] = [_variant(v) for v in variants]
    return changes


class ControlPlaneClient(SyncHttp):
    """The control plane, synchronously: ``with ControlPlaneClient(url, token) as cp: ...``."""

    def __init__(
        self,
        base_url: str = DEFAULT_CONTROL_PLANE_URL,
        token: Optional[str] = None,
        *,
        timeout: float = 60.0,
        retry: Optional[RetryPolicy] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(base_url, token, timeout=timeout, retry=retry, hint=HINT, **kwargs)

    def __enter__(self) -> "ControlPlaneClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def whoami(self) -> Principal:
        return self.run(_Calls.whoami())

    # tenants
    def create_tenant(
        self, tenant_id: str, *, use_case: str, display_name: Optional[str] = None, **fields: Any
    ) -> TenantPublic:
        return self.run(_Calls.create_tenant(_tenant_body(tenant_id, display_name, use_case, fields)))

    def get_tenant(self, tenant_id: str) -> TenantPublic:
        return self.run(_Calls.get_tenant(tenant_id))

    def list_tenants(self, include_deleted: bool = False, page_size: int = 100) -> list[TenantPublic]:
        """Every tenant (following the pages)."""
        return list(
            paginate(lambda cursor: self.run(_Calls.list_tenants(include_deleted, page_size, cursor)))
        )

    def update_tenant(self, tenant_id: str, **changes: Any) -> TenantPublic:
        """Change only the given fields (``display_name``, ``quotas``, ``retention``, ``labels``)."""
        return self.run(_Calls.update_tenant(tenant_id, _given(**changes)))

    def delete_tenant(self, tenant_id: str) -> TenantPublic:
        return self.run(_Calls.delete_tenant(tenant_id))

    # API keys
    def create_api_key(self, tenant_id: str, name: str, scopes: list[str], **fields: Any) -> ApiKeyCreated:
        """A new key; ``.key`` is the secret, shown only now."""
        return self.run(
            _Calls.create_api_key(tenant_id, {"name": name, "scopes": scopes, **_given(**fields)})
        )

    def list_api_keys(self, tenant_id: str, page_size: int = 100) -> list[ApiKeyPublic]:
        return list(paginate(lambda cursor: self.run(_Calls.list_api_keys(tenant_id, page_size, cursor))))

    def revoke_api_key(self, tenant_id: str, key_id: str) -> ApiKeyPublic:
        return self.run(_Calls.revoke_api_key(tenant_id, key_id))

    # catalog
    def import_items(
        self, tenant_id: str, items: Iterable[dict[str, Any]], batch_size: int = ITEM_BATCH
    ) -> ItemBatchResult:
        """Upsert items in batches; merged per-item results (rejected ones name the field)."""
        parts = [self.run(_Calls.import_items(tenant_id, chunk)) for chunk in _batches(items, batch_size)]
        return merge_item_results(parts)

    def list_items(self, tenant_id: str, limit: int = 100, cursor: Optional[str] = None) -> ItemPage:
        """One page; pass ``page.next_cursor`` for the next (None: the last page)."""
        return self.run(_Calls.list_items(tenant_id, limit, cursor))

    def iter_items(self, tenant_id: str, page_size: int = 500) -> Iterator[ItemPublic]:
        """Every item, page after page."""
        return paginate(lambda cursor: self.list_items(tenant_id, page_size, cursor))

    def get_item(self, tenant_id: str, item_id: str) -> ItemPublic:
        return self.run(_Calls.get_item(tenant_id, item_id))

    def delete_item(self, tenant_id: str, item_id: str) -> None:
        self.run(_Calls.delete_item(tenant_id, item_id))

    # deployments
    def create_deployment(
        self,
        tenant_id: str,
        name: str,
        *,
        alias: Optional[str] = None,
        version: Optional[str] = None,
        **fields: Any,
    ) -> DeploymentPublic:
        """Serve a model version (``alias`` or ``version``; default: the champion)."""
        return self.run(_Calls.create_deployment(tenant_id, _deployment_body(name, alias, version, fields)))

    def list_deployments(self, tenant_id: str, page_size: int = 100) -> list[DeploymentPublic]:
        return list(paginate(lambda cursor: self.run(_Calls.list_deployments(tenant_id, page_size, cursor))))

    def get_deployment(self, tenant_id: str, name: str) -> DeploymentPublic:
        return self.run(_Calls.get_deployment(tenant_id, name))

    def update_deployment(
        self,
        tenant_id: str,
        name: str,
        *,
        alias: Optional[str] = None,
        version: Optional[str] = None,
        **changes: Any,
    ) -> DeploymentPublic:
        """Change only what is given (model, ``min_replicas``, ``max_replicas``, ``resources``,
        ``canary_traffic_percent``); the rest stays as it is."""
        return self.run(
            _Calls.patch_deployment(tenant_id, name, _deployment_changes(alias, version, changes))
        )

    def delete_deployment(self, tenant_id: str, name: str) -> None:
        self.run(_Calls.delete_deployment(tenant_id, name))

    # experiments
    def create_experiment(
        self,
        tenant_id: str,
        name: str,
        variants: Iterable[VariantLike],
        *,
        surface: Optional[str] = None,
        attribution_window_seconds: Optional[int] = None,
    ) -> ExperimentPublic:
        body = _experiment_body(name, variants, surface, attribution_window_seconds)
        return self.run(_Calls.create_experiment(tenant_id, body))

    def list_experiments(self, tenant_id: str, page_size: int = 100) -> list[ExperimentPublic]:
        return list(paginate(lambda cursor: self.run(_Calls.list_experiments(tenant_id, page_size, cursor))))

    def get_experiment(self, tenant_id: str, name: str) -> ExperimentPublic:
        return self.run(_Calls.get_experiment(tenant_id, name))

    def start_experiment(self, tenant_id: str, name: str) -> ExperimentPublic:
        return self.run(_Calls.experiment_action(tenant_id, name, "start"))

    def stop_experiment(self, tenant_id: str, name: str) -> ExperimentPublic:
        return self.run(_Calls.experiment_action(tenant_id, name, "stop"))

    def update_experiment(
        self,
        tenant_id: str,
        name: str,
        *,
        variants: Optional[Iterable[VariantLike]] = None,
        surface: Optional[str] = None,
        attribution_window_seconds: Optional[int] = None,
    ) -> ExperimentPublic:
        """Change only what is given (variants and surface: drafts only)."""
        changes = _experiment_changes(variants, surface, attribution_window_seconds)
        return self.run(_Calls.update_experiment(tenant_id, name, changes))

    def delete_experiment(self, tenant_id: str, name: str) -> None:
        """Delete a draft or stopped experiment (:class:`Conflict` while it runs)."""
        self.run(_Calls.delete_experiment(tenant_id, name))

    def experiment_results(self, tenant_id: str, name: str) -> ExperimentResults:
        return self.run(_Calls.experiment_results(tenant_id, name))

    # training and models
    def start_training(self, tenant_id: str, **params: Any) -> TrainingRunPublic:
        return self.run(_Calls.start_training(tenant_id, params))

    def get_training_run(self, tenant_id: str, run_id: str) -> TrainingRunPublic:
        return self.run(_Calls.get_training_run(tenant_id, run_id))

    def list_training_runs(self, tenant_id: str, limit: int = 50) -> list[TrainingRunPublic]:
        return self.run(_Calls.list_training_runs(tenant_id, limit)).items

    def wait_for_training_run(
        self, tenant_id: str, run_id: str, timeout: float = 1800.0, poll: float = 2.0
    ) -> TrainingRunPublic:
        """Poll until the run succeeded or failed (``TimeoutError`` after ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.get_training_run(tenant_id, run_id)
            if run.status in FINISHED:
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"training run {run_id} is still {run.status} after {timeout:.0f}s")
            time.sleep(poll)

    def list_models(self, tenant_id: str) -> ModelList:
        return self.run(_Calls.list_models(tenant_id))

    def promote(self, tenant_id: str, version: str) -> ModelVersionPublic:
        return self.run(_Calls.promote(tenant_id, version))

    def rollback(self, tenant_id: str) -> ModelVersionPublic:
        return self.run(_Calls.rollback(tenant_id))


class AsyncControlPlaneClient(AsyncHttp):
    """The control plane, for asyncio (the same operations as :class:`ControlPlaneClient`)."""

    def __init__(
        self,
        base_url: str = DEFAULT_CONTROL_PLANE_URL,
        token: Optional[str] = None,
        *,
        timeout: float = 60.0,
        retry: Optional[RetryPolicy] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(base_url, token, timeout=timeout, retry=retry, hint=HINT, **kwargs)

    async def __aenter__(self) -> "AsyncControlPlaneClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def whoami(self) -> Principal:
        return await self.run(_Calls.whoami())

    async def create_tenant(
        self, tenant_id: str, *, use_case: str, display_name: Optional[str] = None, **fields: Any
    ) -> TenantPublic:
        return await self.run(_Calls.create_tenant(_tenant_body(tenant_id, display_name, use_case, fields)))

    async def get_tenant(self, tenant_id: str) -> TenantPublic:
        return await self.run(_Calls.get_tenant(tenant_id))

    async def list_tenants(self, include_deleted: bool = False, page_size: int = 100) -> list[TenantPublic]:
        return await _all_pages(
            lambda cursor: self.run(_Calls.list_tenants(include_deleted, page_size, cursor))
        )

    async def update_tenant(self, tenant_id: str, **changes: Any) -> TenantPublic:
        return await self.run(_Calls.update_tenant(tenant_id, _given(**changes)))

    async def delete_tenant(self, tenant_id: str) -> TenantPublic:
        return await self.run(_Calls.delete_tenant(tenant_id))

    async def create_api_key(
        self, tenant_id: str, name: str, scopes: list[str], **fields: Any
    ) -> ApiKeyCreated:
        body = {"name": name, "scopes": scopes, **_given(**fields)}
        return await self.run(_Calls.create_api_key(tenant_id, body))

    async def list_api_keys(self, tenant_id: str, page_size: int = 100) -> list[ApiKeyPublic]:
        return await _all_pages(lambda cursor: self.run(_Calls.list_api_keys(tenant_id, page_size, cursor)))

    async def revoke_api_key(self, tenant_id: str, key_id: str) -> ApiKeyPublic:
        return await self.run(_Calls.revoke_api_key(tenant_id, key_id))

    async def import_items(
        self, tenant_id: str, items: Iterable[dict[str, Any]], batch_size: int = ITEM_BATCH
    ) -> ItemBatchResult:
        parts = [
            await self.run(_Calls.import_items(tenant_id, chunk)) for chunk in _batches(items, batch_size)
        ]
        return merge_item_results(parts)

    async def list_items(self, tenant_id: str, limit: int = 100, cursor: Optional[str] = None) -> ItemPage:
        return await self.run(_Calls.list_items(tenant_id, limit, cursor))

    async def iter_items(self, tenant_id: str, page_size: int = 500) -> AsyncIterator[ItemPublic]:
        """Every item, page after page: ``async for item in cp.iter_items(t): ...``."""
        cursor: Optional[str] = None
        while True:
            page = await self.list_items(tenant_id, page_size, cursor)
            for item in page.items:
                yield item
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def get_item(self, tenant_id: str, item_id: str) -> ItemPublic:
        return await self.run(_Calls.get_item(tenant_id, item_id))

    async def delete_item(self, tenant_id: str, item_id: str) -> None:
        await self.run(_Calls.delete_item(tenant_id, item_id))

    async def create_deployment(
        self,
        tenant_id: str,
        name: str,
        *,
        alias: Optional[str] = None,
        version: Optional[str] = None,
        **fields: Any,
    ) -> DeploymentPublic:
        return await self.run(
            _Calls.create_deployment(tenant_id, _deployment_body(name, alias, version, fields))
        )

    async def list_deployments(self, tenant_id: str, page_size: int = 100) -> list[DeploymentPublic]:
        return await _all_pages(
            lambda cursor: self.run(_Calls.list_deployments(tenant_id, page_size, cursor))
        )

    async def get_deployment(self, tenant_id: str, name: str) -> DeploymentPublic:
        return await self.run(_Calls.get_deployment(tenant_id, name))

    async def update_deployment(
        self,
        tenant_id: str,
        name: str,
        *,
        alias: Optional[str] = None,
        version: Optional[str] = None,
        **changes: Any,
    ) -> DeploymentPublic:
        changes = _deployment_changes(alias, version, changes)
        return await self.run(_Calls.patch_deployment(tenant_id, name, changes))

    async def delete_deployment(self, tenant_id: str, name: str) -> None:
        await self.run(_Calls.delete_deployment(tenant_id, name))

    async def create_experiment(
        self,
        tenant_id: str,
        name: str,
        variants: Iterable[VariantLike],
        *,
        surface: Optional[str] = None,
        attribution_window_seconds: Optional[int] = None,
    ) -> ExperimentPublic:
        body = _experiment_body(name, variants, surface, attribution_window_seconds)
        return await self.run(_Calls.create_experiment(tenant_id, body))

    async def list_experiments(self, tenant_id: str, page_size: int = 100) -> list[ExperimentPublic]:
        return await _all_pages(
            lambda cursor: self.run(_Calls.list_experiments(tenant_id, page_size, cursor))
        )

    async def get_experiment(self, tenant_id: str, name: str) -> ExperimentPublic:
        return await self.run(_Calls.get_experiment(tenant_id, name))

    async def start_experiment(self, tenant_id: str, name: str) -> ExperimentPublic:
        return await self.run(_Calls.experiment_action(tenant_id, name, "start"))

    async def stop_experiment(self, tenant_id: str, name: str) -> ExperimentPublic:
        return await self.run(_Calls.experiment_action(tenant_id, name, "stop"))

    async def update_experiment(
        self,
        tenant_id: str,
        name: str,
        *,
        variants: Optional[Iterable[VariantLike]] = None,
        surface: Optional[str] = None,
        attribution_window_seconds: Optional[int] = None,
    ) -> ExperimentPublic:
        changes = _experiment_changes(variants, surface, attribution_window_seconds)
        return await self.run(_Calls.update_experiment(tenant_id, name, changes))

    async def delete_experiment(self, tenant_id: str, name: str) -> None:
        await self.run(_Calls.delete_experiment(tenant_id, name))

    async def experiment_results(self, tenant_id: str, name: str) -> ExperimentResults:
        return await self.run(_Calls.experiment_results(tenant_id, name))

    async def start_training(self, tenant_id: str, **params: Any) -> TrainingRunPublic:
        return await self.run(_Calls.start_training(tenant_id, params))

    async def get_training_run(self, tenant_id: str, run_id: str) -> TrainingRunPublic:
        return await self.run(_Calls.get_training_run(tenant_id, run_id))

    async def list_training_runs(self, tenant_id: str, limit: int = 50) -> list[TrainingRunPublic]:
        return (await self.run(_Calls.list_training_runs(tenant_id, limit))).items

    async def wait_for_training_run(
        self, tenant_id: str, run_id: str, timeout: float = 1800.0, poll: float = 2.0
    ) -> TrainingRunPublic:
        deadline = time.monotonic() + timeout
        while True:
            run = await self.get_training_run(tenant_id, run_id)
            if run.status in FINISHED:
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"training run {run_id} is still {run.status} after {timeout:.0f}s")
            await asyncio.sleep(poll)

    async def list_models(self, tenant_id: str) -> ModelList:
        return await self.run(_Calls.list_models(tenant_id))

    async def promote(self, tenant_id: str, version: str) -> ModelVersionPublic:
        return await self.run(_Calls.promote(tenant_id, version))

    async def rollback(self, tenant_id: str) -> ModelVersionPublic:
        return await self.run(_Calls.rollback(tenant_id))


class Page(Protocol[T_co]):
    """A page of a list: its ``items`` and the ``next_cursor`` (None on the last page)."""

    @property
    def items(self) -> Sequence[T_co]: ...

    @property
    def next_cursor(self) -> Optional[str]: ...


def paginate(fetch: Callable[[Optional[str]], Page[T]]) -> Iterator[T]:
    """Items of every page: ``fetch(cursor)`` answers one page, starting with ``None``."""
    cursor: Optional[str] = None
    while True:
        page = fetch(cursor)
        yield from page.items
        if not page.next_cursor:
            return
        cursor = page.next_cursor


async def _all_pages(fetch: Callable[[Optional[str]], Awaitable[Page[T]]]) -> list[T]:
    out: list[T] = []
    cursor: Optional[str] = None
    while True:
        page = await fetch(cursor)
        out.extend(page.items)
        if not page.next_cursor:
            return out
        cursor = page.next_cursor


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
