"""Fixtures of the model-server unit tests (fakes in ``fakes.py``)."""

from __future__ import annotations

import pytest

from tests.unit.model_servers.fakes import FakeModel, MemoryUserStore


@pytest.fixture
def fake_model() -> FakeModel:
    return FakeModel()


@pytest.fixture
def user_store() -> MemoryUserStore:
    return MemoryUserStore()
