"""Control-plane settings: defaults, environment, secret files, production guard-rails."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from recsys_platform.settings import ControlPlaneSettings, load_control_plane_settings

REAL_TOKEN = "s3cr3t-token-from-vault"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No RECSYS_* variables from the caller; an empty secrets dir instead of the host's."""
    for name in list(os.environ):
        if name.startswith("RECSYS_"):
            monkeypatch.delenv(name)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    monkeypatch.setenv("RECSYS_SECRETS_DIR", str(secrets))
    return secrets


def test_defaults() -> None:
    s = load_control_plane_settings()
    assert s.environment == "development"
    assert (s.host, s.port) == ("127.0.0.1", 8000)
    assert s.admin_token.get_secret_value() == "dev-admin-token"
    assert s.database.url.startswith("sqlite:///")
    assert s.database.auto_migrate is True
    assert s.event_log.kafka.bootstrap_servers is None
    assert (
        s.event_log.kafka.topic_prefix,
        s.event_log.kafka.partitions,
        s.event_log.kafka.replication_factor,
    ) == ("recsys", 3, 1)
    assert (s.telemetry.log_level, s.telemetry.log_json) == ("INFO", True)


def test_env_vars_with_prefix_and_nested_delimiter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_CONTROL_PLANE_PORT", "9001")
    monkeypatch.setenv("RECSYS_CONTROL_PLANE_DATABASE__URL", "postgresql+psycopg://u:p@db/recsys")
    monkeypatch.setenv("RECSYS_CONTROL_PLANE_DATABASE__AUTO_MIGRATE", "false")
    monkeypatch.setenv("RECSYS_CONTROL_PLANE_EVENT_LOG__KAFKA__BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("RECSYS_CONTROL_PLANE_EVENT_LOG__KAFKA__PARTITIONS", "12")
    monkeypatch.setenv("RECSYS_CONTROL_PLANE_TELEMETRY__LOG_LEVEL", "DEBUG")
    s = load_control_plane_settings()
    assert s.port == 9001
    assert s.database.url == "postgresql+psycopg://u:p@db/recsys"
    assert s.database.auto_migrate is False
    assert s.event_log.kafka.bootstrap_servers == "k1:9092,k2:9092"
    assert s.event_log.kafka.partitions == 12
    assert s.telemetry.log_level == "DEBUG"


def test_overrides_win_over_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_CONTROL_PLANE_PORT", "9001")
    assert load_control_plane_settings(port=9100).port == 9100


@pytest.mark.parametrize("token", ["dev-admin-token", "change-me", ""])
def test_production_refuses_placeholder_admin_token(monkeypatch: pytest.MonkeyPatch, token: str) -> None:
    monkeypatch.setenv("RECSYS_CONTROL_PLANE_ENVIRONMENT", "production")
    monkeypatch.setenv("RECSYS_CONTROL_PLANE_ADMIN_TOKEN", token)
    with pytest.raises(ValidationError, match="admin_token"):
        load_control_plane_settings()


def test_production_without_any_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_CONTROL_PLANE_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="admin_token"):
        load_control_plane_settings()


def test_production_with_a_real_token_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_CONTROL_PLANE_ENVIRONMENT", "production")
    monkeypatch.setenv("RECSYS_CONTROL_PLANE_ADMIN_TOKEN", REAL_TOKEN)
    monkeypatch.setenv("RECSYS_CONTROL_PLANE_MODEL_TOKEN_SECRET", REAL_TOKEN + "-model")
    s = load_control_plane_settings()
    assert s.environment == "production"
    assert s.admin_token.get_secret_value() == REAL_TOKEN


def test_production_refuses_the_placeholder_model_token_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """Model-server tokens derived from a known secret would open every tenant's model server."""
    monkeypatch.setenv("RECSYS_CONTROL_PLANE_ENVIRONMENT", "production")
    monkeypatch.setenv("RECSYS_CONTROL_PLANE_ADMIN_TOKEN", REAL_TOKEN)
    with pytest.raises(ValidationError, match="model_token_secret"):
        load_control_plane_settings()


@pytest.mark.parametrize("filename", ["admin_token", "recsys_control_plane_admin_token"])
def test_admin_token_from_a_mounted_secret_file(clean_env: Path, filename: str) -> None:
    (clean_env / filename).write_text(REAL_TOKEN)
    assert load_control_plane_settings().admin_token.get_secret_value() == REAL_TOKEN


def test_secret_file_satisfies_production(monkeypatch: pytest.MonkeyPatch, clean_env: Path) -> None:
    (clean_env / "admin_token").write_text(REAL_TOKEN)
    (clean_env / "model_token_secret").write_text(REAL_TOKEN + "-model")
    monkeypatch.setenv("RECSYS_CONTROL_PLANE_ENVIRONMENT", "production")
    assert load_control_plane_settings().admin_token.get_secret_value() == REAL_TOKEN


def test_env_var_wins_over_secret_file(monkeypatch: pytest.MonkeyPatch, clean_env: Path) -> None:
    (clean_env / "admin_token").write_text("from-file")
    monkeypatch.setenv("RECSYS_CONTROL_PLANE_ADMIN_TOKEN", "from-env")
    assert load_control_plane_settings().admin_token.get_secret_value() == "from-env"


def test_missing_secrets_dir_is_not_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RECSYS_SECRETS_DIR", str(tmp_path / "does-not-exist"))
    assert load_control_plane_settings().admin_token.get_secret_value() == "dev-admin-token"


def test_unknown_nested_key_from_env_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_CONTROL_PLANE_DATABASE__URLL", "sqlite:///x.db")
    with pytest.raises(ValidationError, match=r"database\.urll"):
        load_control_plane_settings()


@pytest.mark.parametrize("group", ["database", "kafka", "telemetry"])
def test_unknown_nested_key_is_an_error(group: str) -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        ControlPlaneSettings(**{group: {"no_such_setting": 1}})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RECSYS_CONTROL_PLANE_PORT", "0"),
        ("RECSYS_CONTROL_PLANE_PORT", "not-a-port"),
        ("RECSYS_CONTROL_PLANE_ENVIRONMENT", "staging"),
        ("RECSYS_CONTROL_PLANE_EVENT_LOG__KAFKA__PARTITIONS", "0"),
        ("RECSYS_CONTROL_PLANE_TELEMETRY__LOG_LEVEL", "LOUD"),
    ],
)
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        load_control_plane_settings()


def test_admin_token_is_a_secret_and_not_shown() -> None:
    s = ControlPlaneSettings(admin_token=REAL_TOKEN)
    assert isinstance(s.admin_token, SecretStr)
    assert REAL_TOKEN not in repr(s)
    assert REAL_TOKEN not in str(s)
    assert REAL_TOKEN not in s.model_dump_json()
