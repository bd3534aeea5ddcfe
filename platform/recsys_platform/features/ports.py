"""The online feature store port: one row of real-time state per (tenant, user)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from recsys_platform.features.state import UserState


class UserFeatureStore(Protocol):
    """Reads and writes users' real-time state in a tenant's online store.

    ``write`` stores each state as one row atomically (a row is never half
    written); a newer write of the same user replaces the older one. ``read``
    is the single online-store read the model server makes per request.
    """

    def read(self, tenant_id: str, user_id: str) -> UserState | None: ...

    def read_many(self, tenant_id: str, user_ids: Sequence[str]) -> dict[str, UserState]:
        """States of the users that have one (missing users are left out)."""
        ...

    def write(self, tenant_id: str, states: Sequence[UserState]) -> None:
        """Raise on failure (the caller retries and does not commit its input)."""
        ...

    def delete(self, tenant_id: str, user_ids: Sequence[str]) -> int:
        """Delete the users' rows (an end user's data erased); returns how many existed."""
        ...

    def check(self) -> None: ...

    def close(self) -> None: ...
