"""API key format, hashing, prefix parsing and status."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from recsys_platform.db.models import ApiKey
from recsys_platform.tenancy.keys import generate_key, hash_key, key_status, parse_prefix

KEY_RE = re.compile(r"rsk_([0-9a-f]{8})_([A-Za-z0-9_-]{43})")
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_generated_key_format_prefix_and_hash() -> None:
    g = generate_key()
    match = KEY_RE.fullmatch(g.key)
    assert match, g.key
    assert g.prefix == f"rsk_{match.group(1)}"
    assert g.key.startswith(g.prefix + "_")
    assert g.key_hash == hashlib.sha256(g.key.encode()).hexdigest()
    assert parse_prefix(g.key) == g.prefix


def test_generated_keys_differ() -> None:
    keys = [generate_key() for _ in range(50)]
    assert len({k.key for k in keys}) == 50
    assert len({k.key_hash for k in keys}) == 50


def test_hash_key_is_sha256_hex_and_deterministic() -> None:
    digest = hash_key("rsk_0123abcd_secret")
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert digest == hash_key("rsk_0123abcd_secret")
    assert digest != hash_key("rsk_0123abcd_secreT")


def test_secret_may_contain_underscores() -> None:
    assert parse_prefix("rsk_0123abcd_a_b_c") == "rsk_0123abcd"


@pytest.mark.parametrize(
    "key",
    [
        "",
        "rsk",
        "rsk_0123abcd",
        "rsk0123abcdsecret",
        "xyz_0123abcd_secret",
        "RSK_0123abcd_secret",
        "rsk_0123abc_secret",
        "rsk_0123abcde_secret",
        "Bearer rsk_0123abcd_secret",
        "dev-admin-token",
    ],
)
def test_parse_prefix_rejects_malformed_keys(key: str) -> None:
    assert parse_prefix(key) is None


def key_row(**fields: object) -> ApiKey:
    return ApiKey(id="k1", tenant_id="t", name="n", prefix="rsk_0123abcd", key_hash="h", scopes=[], **fields)


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({}, "active"),
        ({"expires_at": NOW + timedelta(seconds=1)}, "active"),
        ({"expires_at": NOW}, "expired"),
        ({"expires_at": NOW - timedelta(days=1)}, "expired"),
        ({"revoked_at": NOW - timedelta(hours=1)}, "revoked"),
        ({"revoked_at": NOW, "expires_at": NOW - timedelta(days=1)}, "revoked"),
    ],
)
def test_key_status(fields: dict[str, datetime], status: str) -> None:
    assert key_status(key_row(**fields), NOW) == status


def test_key_status_defaults_to_now() -> None:
    assert key_status(key_row(expires_at=datetime.now(UTC) - timedelta(seconds=1))) == "expired"
    assert key_status(key_row(expires_at=datetime.now(UTC) + timedelta(hours=1))) == "active"
