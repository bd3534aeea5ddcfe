"""The promotion gate: first model promotes, a tie never does, the margin is respected."""

from __future__ import annotations

import pytest
from recsys_platform.registry.ports import Lineage, gate


def test_first_model_always_promotes() -> None:
    decision = gate(0.01, None, margin=0.5)
    assert decision.promoted and decision.reason == "first model of the tenant"


@pytest.mark.parametrize(
    ("challenger", "champion", "margin", "promoted"),
    [
        (0.30, 0.30, 0.0, False),  # a tie keeps the champion even without a margin
        (0.30, 0.30, 0.005, False),
        (0.304, 0.30, 0.005, False),  # better, but not by the margin
        (0.306, 0.30, 0.005, True),
        (0.31, 0.30, 0.0, True),
        (0.20, 0.30, 0.0, False),
    ],
)
def test_margin(challenger: float, champion: float, margin: float, promoted: bool) -> None:
    decision = gate(challenger, champion, margin)
    assert decision.promoted is promoted
    assert decision.champion_score == champion
    if not promoted:
        assert "needs an improvement of at least" in decision.reason


def test_lineage_tags_name_tenant_window_run_and_code() -> None:
    tags = Lineage(
        "acme", "tr-1", "kfp-run-9", "2026-11-01T00:00:00", "2026-11-10T00:00:00", "0.1.0+gabc"
    ).tags()
    assert tags == {
        "recsys.tenant": "acme",
        "recsys.training_run_id": "tr-1",
        "recsys.pipeline_run_id": "kfp-run-9",
        "recsys.data_window_start": "2026-11-01T00:00:00",
        "recsys.data_window_end": "2026-11-10T00:00:00",
        "recsys.code_version": "0.1.0+gabc",
    }
