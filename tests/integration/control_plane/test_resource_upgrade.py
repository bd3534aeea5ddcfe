"""A restarted control plane brings existing tenants' resources to the new version's shape."""

from __future__ import annotations

import time

from recsys_platform.provisioning.ports import ResourceRef, TenantContext

from tests.conftest import ADMIN_TOKEN, AppFactory

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class Upgradable:
    name = "upgradable"

    def __init__(self) -> None:
        self.upgraded: list[str] = []

    def provision(self, tenant: TenantContext) -> list[ResourceRef]:
        return [ResourceRef("thing", tenant.tenant_id)]

    def upgrade(self, tenant: TenantContext) -> None:
        self.upgraded.append(tenant.tenant_id)

    def deprovision(self, tenant_id: str, resources: list[ResourceRef]) -> None:
        return None

    def check(self) -> None:
        return None


def test_active_tenants_are_upgraded_on_start_and_deleted_ones_are_not(make_client: AppFactory) -> None:
    first = Upgradable()
    with make_client(provisioners=[first]) as c:
        for tenant in ("kept-shop", "gone-shop"):
            body = {"id": tenant, "display_name": tenant, "use_case": "ecommerce"}
            assert c.post("/v1/tenants", json=body, headers=AUTH).status_code == 201
        assert c.delete("/v1/tenants/gone-shop", headers=AUTH).status_code in (200, 202)
    restarted = Upgradable()
    with make_client(provisioners=[restarted]):
        deadline = time.monotonic() + 10
        while not restarted.upgraded and time.monotonic() < deadline:
            time.sleep(0.05)
    assert restarted.upgraded == ["kept-shop"]
