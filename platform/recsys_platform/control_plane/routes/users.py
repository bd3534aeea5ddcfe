"""``/v1/users/{user_id}``: an end user's data, erased or exported (GDPR Art. 17 and 15).

Called with a tenant's API key: the tenant is the key's, never a parameter, so a key can
only reach its own tenant's users.
"""

from __future__ import annotations

import json
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, status
from pydantic import BaseModel

from recsys_platform.control_plane.deps import PrincipalDep, ServicesDep
from recsys_platform.errors import FieldError, Forbidden
from recsys_platform.privacy.erasure import ErasurePublic, ErasureRequests
from recsys_platform.tenancy.schemas import Principal

router = APIRouter(prefix="/v1", tags=["end users"])
UserPath = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[^\s]+$", description="End user id.")]
_lock = threading.Lock()


class UserExport(BaseModel):
    """Everything the platform holds about one end user of the tenant."""

    tenant_id: str
    user_id: str
    events: list[dict[str, Any]]
    """The user's events in the offline store (the training data), oldest first."""
    features: dict[str, Any] | None
    """The user's real-time feature row (history, session, affinities), if any."""
    erasures: list[ErasurePublic]
    """Erasure requests of this user and what each removed."""


def _tenant_key(principal: Principal, scope: str) -> str:
    if principal.kind != "api_key" or principal.tenant_id is None:
        raise Forbidden(
            "end-user data is reached with the tenant's API key (the tenant is the key's)",
            [FieldError("authorization", "a tenant API key is required")],
        )
    if scope not in principal.scopes:
        raise Forbidden(
            f"this API key lacks the '{scope}' scope",
            [FieldError("authorization", f"scope '{scope}' required")],
        )
    return principal.tenant_id


def _requests(request: Request) -> ErasureRequests:
    erasures: ErasureRequests = request.app.state.erasures
    return erasures


@router.delete(
    "/users/{user_id:path}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ErasurePublic,
    responses={202: {"description": "Recorded; the stream processor erases the data within minutes."}},
)
def erase_user(
    user_id: UserPath, principal: PrincipalDep, services: ServicesDep, request: Request
) -> ErasurePublic:
    """Erase the user's events (offline store, so the next training run cannot see them), real-time
    features, session state and attribution rows. Recorded for audit; repeat or export to see
    when it completed and what it removed. Events received later are kept (new data)."""
    tenant_id = _tenant_key(principal, "users:delete")
    services.tenants.get(tenant_id)
    return _requests(request).request(tenant_id, user_id, principal.key_id)


@router.get("/users/{user_id:path}/export", response_model=UserExport)
def export_user(
    user_id: UserPath, principal: PrincipalDep, services: ServicesDep, request: Request
) -> UserExport:
    """What the platform holds about the user: offline events, feature row, erasure records."""
    from recsys_platform.features.state import state_to_row
    from recsys_platform.offline.parquet_store import OfflineEventStore

    tenant_id = _tenant_key(principal, "users:export")
    services.tenants.get(tenant_id)
    settings = services.settings.feature_store
    table = OfflineEventStore(settings.offline_root).read_user(tenant_id, user_id).sort_by("timestamp")
    events = []
    for row in table.to_pylist():
        row = {k: v for k, v in row.items() if v is not None}
        if "context" in row:
            row["context"] = json.loads(row["context"])
        events.append(row)
    features = None
    if services.settings.provision_feature_store:
        with _lock:
            store = getattr(request.app.state, "user_features", None)
            if store is None:
                from recsys_platform.features.feast_store import FeastUserFeatureStore

                store = request.app.state.user_features = FeastUserFeatureStore(settings)
        state = store.read(tenant_id, user_id)
        features = state_to_row(state) if state is not None else None
    return UserExport(
        tenant_id=tenant_id,
        user_id=user_id,
        events=events,
        features=features,
        erasures=_requests(request).of_user(tenant_id, user_id),
    )
