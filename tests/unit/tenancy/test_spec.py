"""Loading ``kind: Tenant`` YAML specs and the desired state they describe."""

from __future__ import annotations

from pathlib import Path

import pytest
from recsys_platform.catalog.schemas import TEMPLATES
from recsys_platform.errors import InvalidInput
from recsys_platform.tenancy.spec import TenantSpec, load_specs

ROOT = Path(__file__).resolve().parents[3]
TENANTS = ROOT / "tenants"

MINIMAL = """\
apiVersion: recsys.dev/v1
kind: Tenant
id: {id}
display_name: Tenant {id}
use_case: video
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("file", sorted(TENANTS.glob("*.yaml")), ids=lambda p: p.name)
def test_example_specs_load(file: Path) -> None:
    [spec] = load_specs(file)
    assert spec.id == file.stem
    assert spec.api_keys, "the examples show how to declare API keys"


def test_examples_folder_loads_every_file() -> None:
    specs = load_specs(TENANTS)
    assert sorted(s.id for s in specs) == sorted(p.stem for p in TENANTS.glob("*.yaml"))
    assert len(specs) >= 2


def test_folder_loads_yaml_and_yml_in_name_order(tmp_path: Path) -> None:
    write(tmp_path, "b.yml", MINIMAL.format(id="tenant-b"))
    write(tmp_path, "a.yaml", MINIMAL.format(id="tenant-a"))
    write(tmp_path, "notes.txt", "not a spec")
    assert [s.id for s in load_specs(tmp_path)] == ["tenant-a", "tenant-b"]


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no YAML files"):
        load_specs(tmp_path)


def test_multi_document_yaml(tmp_path: Path) -> None:
    text = "---\n" + MINIMAL.format(id="tenant-one") + "---\n" + MINIMAL.format(id="tenant-two") + "---\n"
    specs = load_specs(write(tmp_path, "many.yaml", text))
    assert [s.id for s in specs] == ["tenant-one", "tenant-two"]


def test_typo_key_names_the_file_and_the_field(tmp_path: Path) -> None:
    text = MINIMAL.format(id="tenant-typo").replace("use_case:", "use_cse:")
    file = write(tmp_path, "typo.yaml", text)
    with pytest.raises(InvalidInput) as exc_info:
        load_specs(file)
    err = exc_info.value
    assert str(file) in err.detail
    assert "use_cse" in err.detail
    fields = {e.field for e in err.errors}
    assert {"use_cse", "use_case"} <= fields  # the unknown key, and the now-missing one


def test_error_names_the_document_of_a_multi_document_file(tmp_path: Path) -> None:
    bad = MINIMAL.format(id="tenant-two").replace("video", "music")
    file = write(tmp_path, "many.yaml", MINIMAL.format(id="tenant-one") + "---\n" + bad)
    with pytest.raises(InvalidInput, match=r"many\.yaml \(document 2\): use_case"):
        load_specs(file)


@pytest.mark.parametrize(
    ("replace", "by", "field"),
    [
        ("id: tenant-x", "id: Tenant_X", "id"),
        ("kind: Tenant", "kind: Namespace", "kind"),
        ("apiVersion: recsys.dev/v1", "apiVersion: recsys.dev/v2", "apiVersion"),
        ("use_case: video", "use_case: video\nquotas: {max_models: 0}", "quotas.max_models"),
        ("use_case: video", "use_case: video\napi_keys: [{name: k, scopes: [root]}]", "api_keys.0.scopes.0"),
    ],
)
def test_invalid_values_name_the_field(tmp_path: Path, replace: str, by: str, field: str) -> None:
    file = write(tmp_path, "t.yaml", MINIMAL.format(id="tenant-x").replace(replace, by))
    with pytest.raises(InvalidInput) as exc_info:
        load_specs(file)
    assert field in {e.field for e in exc_info.value.errors}


def test_bad_yaml_gives_a_clear_error(tmp_path: Path) -> None:
    file = write(tmp_path, "broken.yaml", "apiVersion: recsys.dev/v1\nkind: [Tenant\n")
    with pytest.raises(InvalidInput) as exc_info:
        load_specs(file)
    assert str(file) in exc_info.value.detail
    assert "line" in exc_info.value.detail  # YAML errors point at the line
    assert [e.field for e in exc_info.value.errors] == ["file"]


def test_missing_file_is_an_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="missing.yaml"):
        load_specs(tmp_path / "missing.yaml")


def test_non_mapping_document_is_an_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="list.yaml"):
        load_specs(write(tmp_path, "list.yaml", "- a\n- b\n"))


def spec(**overrides: object) -> TenantSpec:
    body: dict[str, object] = {
        "apiVersion": "recsys.dev/v1",
        "kind": "Tenant",
        "id": "tenant-x",
        "display_name": "X",
        "use_case": "news",
    }
    return TenantSpec.model_validate({**body, **overrides})


@pytest.mark.parametrize("use_case", ["news", "ecommerce", "video"])
def test_desired_state_uses_the_template_when_no_schema_is_given(use_case: str) -> None:
    state = spec(use_case=use_case).desired_state()
    assert state["catalog_schema"] == TEMPLATES[use_case].model_dump(mode="json")
    assert state["use_case"] == use_case


def test_desired_state_uses_the_declared_schema() -> None:
    declared = {"fields": [{"name": "headline", "type": "text", "required": True}]}
    state = spec(catalog_schema=declared).desired_state()
    assert [f["name"] for f in state["catalog_schema"]["fields"]] == ["headline"]


def test_desired_state_has_api_shape_and_defaults() -> None:
    state = spec(labels={"team": "a"}).desired_state()
    assert set(state) == {"display_name", "use_case", "quotas", "retention", "labels", "catalog_schema"}
    assert state["quotas"]["max_items"] == 100_000
    assert state["retention"]["events_days"] == 90
    assert state["labels"] == {"team": "a"}


def test_acme_shop_example_omits_the_schema_and_gets_the_ecommerce_template() -> None:
    [acme] = load_specs(TENANTS / "acme-shop.yaml")
    assert acme.catalog_schema is None
    assert acme.desired_state()["catalog_schema"] == TEMPLATES["ecommerce"].model_dump(mode="json")
