"""Deployments of a tenant: rows in ``deployments`` kept in step with the deployer.

A row is written only once the deployer has accepted the deployment, so a refused
deployment leaves nothing behind. Endpoints and statuses in the rows are what the
gateway routes by.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from recsys_platform.db.engine import transaction
from recsys_platform.db.models import Deployment, Tenant
from recsys_platform.deploy.ports import (
    Deployer,
    DeploymentSpec,
    DeploymentStatus,
    ResourceBounds,
    predict_url,
)
from recsys_platform.deploy.resolver import ModelRef, ModelResolver, check_raw_uri
from recsys_platform.deploy.schemas import (
    DeploymentCreate,
    DeploymentList,
    DeploymentPatch,
    DeploymentPublic,
    DeploymentUpdate,
    ModelPublic,
    ResourcesSpec,
)
from recsys_platform.deploy.tokens import MODEL_TOKEN_ENV, deployment_token
from recsys_platform.errors import (
    Conflict,
    DependencyUnavailable,
    DeploymentFailed,
    FieldError,
    InvalidInput,
    NotFound,
)
from recsys_platform.tenancy.lookup import active_tenant

log = logging.getLogger(__name__)


class DeploymentService:
    """Create, roll out, list, read and delete a tenant's deployments."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        deployer: Deployer,
        resolver: ModelResolver,
        env: Mapping[str, str] | None = None,
        restore_on_start: bool = True,
        token_secret: str | None = None,
    ) -> None:
        """``token_secret``: each model server gets ``deployment_token(token_secret, tenant, name)``
        and answers 401 to a request without it (None: model servers without a token, tests)."""
        self._sessions = sessions
        self._token_secret = token_secret
        self._deployer = deployer
        self._resolver = resolver
        self._env = dict(env or {})
        self._restore_on_start = restore_on_start
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._closing = threading.Event()
        self._restoring: threading.Thread | None = None

    @property
    def mode(self) -> str:
        return self._deployer.mode

    def _lock(self, tenant_id: str, name: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault((tenant_id, name), threading.Lock())

    # -- commands --------------------------------------------------------------------------
    def create(
        self, tenant_id: str, body: DeploymentCreate, *, platform_admin: bool = False
    ) -> DeploymentPublic:
        """Deploy a new named model server; 409 when the name is taken.

        ``platform_admin``: the caller is the platform operator: it may give a raw
        ``model.uri`` and reads the model server's own failure detail.
        """
        self._check_model(tenant_id, body, platform_admin)
        with self._lock(tenant_id, body.name):
            with self._sessions() as s:
                active_tenant(s, tenant_id)
                if self._row(s, tenant_id, body.name) is not None:
                    raise Conflict(
                        f"deployment '{body.name}' already exists; PUT it to roll out a change",
                        [FieldError("name", "already exists")],
                    )
            return self._apply(tenant_id, body.name, body, existing=False, platform_admin=platform_admin)

    def update(
        self, tenant_id: str, name: str, body: DeploymentUpdate, *, platform_admin: bool = False
    ) -> DeploymentPublic:
        """Roll out a new model or new scaling to an existing deployment."""
        self._check_model(tenant_id, body, platform_admin)
        with self._lock(tenant_id, name):
            with self._sessions() as s:
                active_tenant(s, tenant_id)
                if self._row(s, tenant_id, name) is None:
                    raise NotFound(f"deployment '{name}' not found", [FieldError("name", "unknown")])
            return self._apply(tenant_id, name, body, existing=True, platform_admin=platform_admin)

    def _check_model(
        self, tenant_id: str, body: DeploymentCreate | DeploymentUpdate, platform_admin: bool
    ) -> None:
        if body.model.uri is not None:
            check_raw_uri(
                tenant_id,
                body.model.uri,
                platform_admin=platform_admin,
                name_prefix=self._resolver.name_prefix,
            )

    def patch(
        self, tenant_id: str, name: str, body: DeploymentPatch, *, platform_admin: bool = False
    ) -> DeploymentPublic:
        """Change only what ``body`` sets; the model, scaling and resources it leaves out stay
        as they are (the current model alias or version is served again, re-resolved). A model
        the caller gives is checked as on ``update``; the one kept was checked when it was set."""
        if body.model is not None:
            self._check_model(tenant_id, DeploymentUpdate(model=body.model), platform_admin)
        with self._lock(tenant_id, name):
            with self._sessions() as s:
                active_tenant(s, tenant_id)
                row = self._row(s, tenant_id, name)
                if row is None:
                    raise NotFound(f"deployment '{name}' not found", [FieldError("name", "unknown")])
                current = _as_update(row)
            changes = body.model_dump(exclude_unset=True)
            if "model" in changes and changes["model"] is None:
                raise InvalidInput("model: cannot be null", [FieldError("model", "cannot be null")])
            if "resources" in changes:
                changes["resources"] = merge_patch(current["resources"], changes["resources"] or {})
            try:
                merged = DeploymentUpdate.model_validate({**current, **changes})
            except ValidationError as exc:
                errors = [FieldError(".".join(map(str, e["loc"])) or "body", e["msg"]) for e in exc.errors()]
                raise InvalidInput("; ".join(f"{e.field}: {e.reason}" for e in errors), errors) from None
            return self._apply(tenant_id, name, merged, existing=True, platform_admin=platform_admin)

    def delete(self, tenant_id: str, name: str) -> None:
        """Stop serving and remove the row."""
        with self._lock(tenant_id, name), transaction(self._sessions) as s:
            active_tenant(s, tenant_id)
            row = self._row(s, tenant_id, name)
            if row is None:
                raise NotFound(f"deployment '{name}' not found", [FieldError("name", "unknown")])
            self._deployer.undeploy(tenant_id, name)
            s.delete(row)

    def purge(self, tenant_id: str) -> int:
        """Undeploy and remove every deployment of a tenant (any tenant status); returns how many."""
        with self._sessions() as s:
            names = list(s.scalars(select(Deployment.name).where(Deployment.tenant_id == tenant_id)))
        for name in names:
            with self._lock(tenant_id, name), transaction(self._sessions) as s:
                self._deployer.undeploy(tenant_id, name)
                row = self._row(s, tenant_id, name)
                if row is not None:
                    s.delete(row)
        return len(names)

    # -- queries ---------------------------------------------------------------------------
    def list(self, tenant_id: str) -> DeploymentList:
        with self._sessions() as s:
            active_tenant(s, tenant_id)
            rows = list(
                s.scalars(
                    select(Deployment).where(Deployment.tenant_id == tenant_id).order_by(Deployment.name)
                )
            )
        return DeploymentList(items=[self._refreshed(row) for row in rows])

    def get(self, tenant_id: str, name: str) -> DeploymentPublic:
        with self._sessions() as s:
            active_tenant(s, tenant_id)
            row = self._row(s, tenant_id, name)
            if row is None:
                raise NotFound(f"deployment '{name}' not found", [FieldError("name", "unknown")])
        return self._refreshed(row)

    def endpoint(self, tenant_id: str, name: str) -> str:
        """The predict URL of a ready deployment."""
        public = self.get(tenant_id, name)
        if public.status != "ready" or public.predict_url is None:
            raise DependencyUnavailable(f"deployment '{name}' is {public.status}, not ready")
        return public.predict_url

    # -- start-up and shutdown -------------------------------------------------------------
    def restore_in_background(self) -> threading.Thread | None:
        """Run :meth:`restore` in a thread (start-up does not wait for model servers)."""
        if self._deployer.mode != "local" or not self._restore_on_start:
            return None
        thread = threading.Thread(target=self.restore, name="deployments-restore", daemon=True)
        thread.start()
        self._restoring = thread
        return thread

    def close(self) -> None:
        """Stop restoring and release the deployer (local model servers are stopped)."""
        self._closing.set()
        self._deployer.close()
        if self._restoring is not None:
            self._restoring.join(timeout=15)

    def restore(self) -> int:
        """Start again the local deployments recorded as running (after a control-plane restart).

        Returns how many were started; failures are recorded on their rows.
        """
        if self._deployer.mode != "local":
            return 0
        with self._sessions() as s:
            rows = list(
                s.scalars(
                    select(Deployment)
                    .join(Tenant, Tenant.id == Deployment.tenant_id)
                    .where(
                        Deployment.mode == "local",
                        # pending/restarting: a GET recorded the state of a start cut short by a restart
                        Deployment.status.in_(("ready", "pending", "restarting")),
                        Tenant.status == "active",
                    )
                )
            )
        started = 0
        for row in rows:
            if self._closing.is_set():
                break
            if not row.model_uri:
                continue
            # the per-name lock: a DELETE or PUT meanwhile waits, then sees the restored state
            with self._lock(row.tenant_id, row.name):
                with self._sessions() as s:
                    if s.get(Deployment, row.id) is None:
                        continue  # deleted since the query
                try:
                    status = self._deployer.deploy(self._spec_of_row(row))
                except Exception as exc:  # one broken deployment must not stop the others
                    log.exception("restoring deployment failed", extra={"deployment": row.name})
                    status = DeploymentStatus(row.tenant_id, row.name, "failed", message=str(exc))
                if self._closing.is_set():
                    break  # shutting down: keep the row "ready" so the next start restores it
                self._record(row.id, status)
            started += status.state == "ready"
        return started

    # -- internals -------------------------------------------------------------------------
    @staticmethod
    def _row(s: Session, tenant_id: str, name: str) -> Deployment | None:
        return s.scalar(select(Deployment).where(Deployment.tenant_id == tenant_id, Deployment.name == name))

    def _spec(
        self,
        tenant_id: str,
        name: str,
        body: DeploymentCreate | DeploymentUpdate,
        model_uri: str,
        version: str | None,
        storage_uri: str | None,
    ) -> DeploymentSpec:
        r = body.resources
        return DeploymentSpec(
            tenant_id=tenant_id,
            name=name,
            model_uri=model_uri,
            model_version=version,
            storage_uri=storage_uri,
            requests=ResourceBounds(r.requests.cpu, r.requests.memory),
            limits=ResourceBounds(r.limits.cpu, r.limits.memory),
            min_replicas=body.min_replicas,
            max_replicas=body.max_replicas,
            canary_traffic_percent=body.canary_traffic_percent,
            env=self._env_of(tenant_id, name),
        )

    def _spec_of_row(self, row: Deployment) -> DeploymentSpec:
        resources = ResourcesSpec.model_validate(row.resources or {})
        assert row.model_uri is not None
        return DeploymentSpec(
            tenant_id=row.tenant_id,
            name=row.name,
            model_uri=row.model_uri,
            model_version=row.resolved_version,
            requests=ResourceBounds(resources.requests.cpu, resources.requests.memory),
            limits=ResourceBounds(resources.limits.cpu, resources.limits.memory),
            min_replicas=row.min_replicas,
            max_replicas=row.max_replicas,
            canary_traffic_percent=row.canary_traffic_percent,
            env=self._env_of(row.tenant_id, row.name),
        )

    def _env_of(self, tenant_id: str, name: str) -> dict[str, str]:
        """The model server's environment: the shared one plus its own token."""
        if self._token_secret is None:
            return self._env
        return {**self._env, MODEL_TOKEN_ENV: deployment_token(self._token_secret, tenant_id, name)}

    def _apply(
        self,
        tenant_id: str,
        name: str,
        body: DeploymentCreate | DeploymentUpdate,
        *,
        existing: bool,
        platform_admin: bool,
    ) -> DeploymentPublic:
        sel = body.model
        resolved = self._resolver.resolve(tenant_id, ModelRef(sel.alias, sel.version, sel.uri))
        if self._deployer.mode == "kserve" and resolved.storage_uri is None:
            if not resolved.model_uri.startswith("models:/"):
                raise InvalidInput(
                    "model.uri: KServe cannot fetch a local path; use models:/, s3://, gs:// or pvc://",
                    [FieldError("model.uri", "not fetchable from the cluster")],
                )
        if self._deployer.mode == "local" and body.canary_traffic_percent is not None:
            raise InvalidInput(
                "canary_traffic_percent: canary rollouts need KServe; local deployments switch at once",
                [FieldError("canary_traffic_percent", "not supported in local mode")],
            )
        spec = self._spec(tenant_id, name, body, resolved.model_uri, resolved.version, resolved.storage_uri)
        status = self._deployer.deploy(spec)  # raises on refusal: no row is written
        if status.state == "failed":
            if existing:  # the running version keeps serving; the row keeps it and says why
                with transaction(self._sessions) as s:
                    row = self._row(s, tenant_id, name)
                    if row is not None:
                        row.error = status.message
            else:
                self._deployer.undeploy(tenant_id, name)
            why = status.message
            if platform_admin and status.detail:  # the operator reads the model server's own words
                why = f"{why}: {status.detail}"
            raise DeploymentFailed(
                f"deployment '{name}' failed: {why}", [FieldError("model", "did not start")]
            )
        with transaction(self._sessions) as s:
            active_tenant(s, tenant_id)
            row = self._row(s, tenant_id, name)
            if row is None:
                row = Deployment(id=uuid.uuid4().hex, tenant_id=tenant_id, name=name, mode=self.mode)
                s.add(row)
            elif row.resolved_version != resolved.version:
                row.previous_version = row.resolved_version
            row.model_alias, row.model_version = sel.alias, sel.version
            row.resolved_version, row.model_uri = resolved.version, resolved.model_uri
            row.resources = body.resources.model_dump(mode="json", exclude_none=True)
            row.min_replicas, row.max_replicas = body.min_replicas, body.max_replicas
            row.canary_traffic_percent = body.canary_traffic_percent
            row.endpoint, row.status, row.error = status.endpoint, status.state, None
            try:
                s.flush()
            except IntegrityError as exc:
                raise Conflict(
                    f"deployment '{name}' was created concurrently", [FieldError("name", "exists")]
                ) from exc
            return _public(row, status)

    def _refreshed(self, row: Deployment) -> DeploymentPublic:
        """The row with the deployer's live status (recorded when it changed)."""
        try:
            status = self._deployer.status(row.tenant_id, row.name)
        except DependencyUnavailable:
            return _public(row, None)
        if status.state == "stopped" and row.mode != self.mode:
            return _public(row, None)
        if (status.state, status.endpoint) != (row.status, row.endpoint) and not (
            status.state == "stopped" and row.status == "failed"
        ):
            self._record(row.id, status)
            row.status, row.endpoint = status.state, status.endpoint
        return _public(row, status)

    def _record(self, row_id: str, status: DeploymentStatus) -> None:
        with transaction(self._sessions) as s:
            row = s.get(Deployment, row_id)
            if row is None:
                return
            row.status = status.state
            row.endpoint = status.endpoint
            if status.state == "failed":
                row.error = status.message
            elif status.state == "ready":
                row.error = None


def _public(row: Deployment, status: DeploymentStatus | None) -> DeploymentPublic:
    endpoint = row.endpoint
    uri_only = row.model_alias is None and row.model_version is None
    return DeploymentPublic(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        mode=row.mode,
        status=row.status,
        endpoint=endpoint,
        predict_url=predict_url(endpoint, row.name) if endpoint else None,
        model=ModelPublic(
            alias=row.model_alias, version=row.model_version, uri=row.model_uri if uri_only else None
        ),
        resolved_version=row.resolved_version,
        previous_version=row.previous_version,
        model_uri=row.model_uri,
        resources=ResourcesSpec.model_validate(row.resources or {}),
        min_replicas=row.min_replicas,
        max_replicas=row.max_replicas,
        canary_traffic_percent=row.canary_traffic_percent,
        error=row.error
        if row.status == "failed"
        else (status.message if status and status.message else row.error),
        restarts=status.restarts if status is not None else 0,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _as_update(row: Deployment) -> dict[str, Any]:
    """What a ``PUT`` would send to leave the deployment as it is."""
    if row.model_alias is not None:
        model: dict[str, Any] = {"alias": row.model_alias}
    elif row.model_version is not None:
        model = {"version": row.model_version}
    else:
        model = {"uri": row.model_uri}
    return {
        "model": model,
        "resources": dict(row.resources or {}),
        "min_replicas": row.min_replicas,
        "max_replicas": row.max_replicas,
        "canary_traffic_percent": row.canary_traffic_percent,
    }


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge key by key, ``null`` removes a key."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out
