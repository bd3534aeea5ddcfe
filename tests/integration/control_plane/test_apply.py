"""Declarative onboarding: `recsys tenants apply -f` is idempotent and --dry-run changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from recsys_platform.client import ControlPlaneClient
from recsys_platform.tenancy.spec import execute, load_specs, plan

from tests.factories import ADMIN_TOKEN

pytestmark = pytest.mark.integration
TENANTS = Path(__file__).resolve().parents[3] / "tenants"


def _api(client: TestClient) -> ControlPlaneClient:
    return ControlPlaneClient(token=ADMIN_TOKEN, http=client)


def _apply(api: ControlPlaneClient, path: Path) -> list[str]:
    actions = []
    for spec in load_specs(path):
        p = plan(api, spec)
        actions.append(f"{spec.id}:{p.action if p.changes else 'unchanged'}")
        execute(api, spec, p)
    return actions


def test_applying_the_examples_twice_changes_nothing_the_second_time(client: TestClient) -> None:
    api = _api(client)
    assert _apply(api, TENANTS) == ["acme-shop:create", "daily-planet:create"]
    first = api.get("/v1/tenants")
    keys = api.get("/v1/tenants/daily-planet/api-keys")["items"]
    assert sorted(k["name"] for k in keys) == ["newsroom-admin", "website"]

    assert _apply(api, TENANTS) == ["acme-shop:unchanged", "daily-planet:unchanged"]
    assert api.get("/v1/tenants") == first
    assert api.get("/v1/tenants/daily-planet/api-keys")["items"] == keys


def test_dry_run_prints_the_diff_and_changes_nothing(client: TestClient, tmp_path: Path) -> None:
    api = _api(client)
    _apply(api, TENANTS / "acme-shop.yaml")
    doc = yaml.safe_load((TENANTS / "acme-shop.yaml").read_text())
    doc["quotas"]["requests_per_second"] = 250
    doc["api_keys"].append({"name": "analytics", "scopes": ["events:write"]})
    changed = tmp_path / "shop.yaml"
    changed.write_text(yaml.safe_dump(doc))
    before = api.get("/v1/tenants/acme-shop")

    (spec,) = load_specs(changed)
    p = plan(api, spec)
    assert p.action == "update"
    assert "-  requests_per_second: 100" in p.diff and "+  requests_per_second: 250" in p.diff
    assert [k.name for k in p.keys_to_create] == ["analytics"]
    assert api.get("/v1/tenants/acme-shop") == before  # planning wrote nothing

    execute(api, spec, p)
    assert api.get("/v1/tenants/acme-shop")["quotas"]["requests_per_second"] == 250
    assert plan(api, spec).changes is False


def test_changed_key_scopes_replace_the_key(client: TestClient, tmp_path: Path) -> None:
    api = _api(client)
    _apply(api, TENANTS / "acme-shop.yaml")
    doc = yaml.safe_load((TENANTS / "acme-shop.yaml").read_text())
    doc["api_keys"][0]["scopes"] = ["recommendations:read"]
    changed = tmp_path / "shop.yaml"
    changed.write_text(yaml.safe_dump(doc))
    (spec,) = load_specs(changed)
    result = execute(api, spec, plan(api, spec))
    assert [k["name"] for k in result.created_keys] == ["storefront"]
    keys = api.get("/v1/tenants/acme-shop/api-keys")["items"]
    storefront = [(k["status"], k["scopes"]) for k in keys if k["name"] == "storefront"]
    assert sorted(storefront) == [
        ("active", ["recommendations:read"]),
        ("revoked", ["recommendations:read", "events:write"]),
    ]


def test_use_case_cannot_change(client: TestClient, tmp_path: Path) -> None:
    api = _api(client)
    _apply(api, TENANTS / "acme-shop.yaml")
    doc = yaml.safe_load((TENANTS / "acme-shop.yaml").read_text())
    doc["use_case"] = "video"
    changed = tmp_path / "shop.yaml"
    changed.write_text(yaml.safe_dump(doc))
    (spec,) = load_specs(changed)
    from recsys_platform.errors import InvalidInput

    with pytest.raises(InvalidInput, match="use_case is immutable"):
        plan(api, spec)
