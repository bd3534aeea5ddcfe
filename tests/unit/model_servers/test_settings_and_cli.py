"""Model-server settings (env prefix, validation) and the command line on top of them."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from recsys_model_servers.__main__ import _overrides, build_parser, main
from recsys_model_servers.settings import ModelServerSettings, load_model_server_settings


def test_env_prefix_and_nested_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_MODEL_SERVER_MODEL_URI", "models:/recsys-acme@champion")
    monkeypatch.setenv("RECSYS_MODEL_SERVER_TENANT_ID", "acme")
    monkeypatch.setenv("RECSYS_MODEL_SERVER_FEATURE_STORE__ONLINE_STORE", "redis")
    monkeypatch.setenv("RECSYS_MODEL_SERVER_FEATURE_STORE__REDIS_URL", "redis://localhost:6379/0")
    monkeypatch.setenv("RECSYS_MODEL_SERVER_RERANK__MAX_PER_CATEGORY", "3")
    monkeypatch.setenv("RECSYS_MODEL_SERVER_TELEMETRY__OTLP_ENDPOINT", "http://collector:4318")
    s = load_model_server_settings(name="T_acme", telemetry={"log_level": "DEBUG"})
    assert s.model_uri == "models:/recsys-acme@champion" and s.name == "T_acme"
    assert s.feature_store.online_store == "redis" and s.rerank.max_per_category == 3
    assert s.telemetry.log_level == "DEBUG" and s.telemetry.otlp_endpoint == "http://collector:4318"
    assert s.enable_grpc is False and s.http_port == 8080 and s.alias_poll_seconds == 30.0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"model_uri": "models:/recsys-acme"}, "model_uri"),
        ({"model_uri": "s3://bucket/model"}, "model_uri"),
        ({"model_uri": "/m", "tenant_id": None}, "tenant_id is required"),
        ({"model_uri": "/m", "tenant_id": "Not_A_Tenant"}, "tenant_id"),
        ({"model_uri": "/m", "tenant_id": "acme", "max_n": 0}, "max_n"),
        ({"model_uri": "/m", "tenant_id": "acme", "rerank": {"mmr_lambda": 2}}, "rerank.mmr_lambda"),
        ({"model_uri": "/m", "tenant_id": "acme", "surprise": 1}, "surprise"),
    ],
)
def test_bad_settings_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError, match=field.replace(".", r"\.")):
        ModelServerSettings(**kwargs)  # type: ignore[arg-type]


def test_features_off_needs_no_tenant() -> None:
    assert ModelServerSettings(model_uri="/m", online_features=False).tenant_id is None


def test_flags_become_settings_overrides() -> None:
    args = build_parser().parse_args(
        [
            "--name",
            "T_acme",
            "--model-uri",
            "/m",
            "--port",
            "9000",
            "--no-online-features",
            "--log-level",
            "DEBUG",
        ]
    )
    assert _overrides(args) == {
        "name": "T_acme",
        "model_uri": "/m",
        "http_port": 9000,
        "online_features": False,
        "telemetry": {"log_level": "DEBUG"},
    }
    s = ModelServerSettings(**_overrides(args))
    assert s.http_port == 9000 and s.online_features is False


def test_invalid_settings_exit_2_with_the_field(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["--name", "x", "--model-uri", "models:/nope", "--no-online-features"]) == 2
    assert "model_uri" in capsys.readouterr().err
