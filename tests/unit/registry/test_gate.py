"""The promotion gate: it decides only on a meaningful hold-out, never promotes a model that
loses to popularity, promotes a first model that beats it, and compares with the champion on
equal terms (a tie never promotes; a same-recipe refresh on newer data does)."""

from __future__ import annotations

import pytest
from recsys_platform.registry.gate import GateEvidence, GatePolicy, decide
from recsys_platform.registry.ports import Lineage

POLICY = GatePolicy(margin=0.005, min_reachability=0.5, min_users=10)


def evidence(challenger: float = 0.30, baseline: float = 0.10, **kw: object) -> GateEvidence:
    fields: dict[str, object] = {"reachability": 0.9, "reachable_users": 40}
    fields.update(kw)
    return GateEvidence(challenger, baseline, **fields)  # type: ignore[arg-type]


def test_first_model_is_promoted_when_it_beats_popularity_on_a_meaningful_hold_out() -> None:
    decision = decide(evidence(0.30, 0.10), POLICY)
    assert decision.promoted and decision.rule == "first_model"
    assert decision.reason.startswith("first model of the tenant: ndcg_at_10 0.3000, popularity 0.1000")


def test_a_first_model_below_its_popularity_baseline_is_kept_as_challenger() -> None:
    """Measured: 0.1104 against its own popularity baseline 0.1116 was promoted as 'first model'."""
    decision = decide(evidence(0.1104, 0.1116), POLICY)
    assert not decision.promoted and decision.rule == "below_baseline"
    assert "does not beat the popularity baseline" in decision.reason
    assert "no champion yet: kept as challenger" in decision.reason
    overridden = decide(evidence(0.1104, 0.1116), GatePolicy(allow_below_baseline=True))
    assert overridden.promoted and overridden.rule == "first_model"


def test_a_challenger_below_popularity_never_replaces_the_champion_without_the_override() -> None:
    below = evidence(0.20, 0.25, champion=0.10, champion_version="4", comparison="refit")
    decision = decide(below, POLICY)
    assert not decision.promoted and decision.rule == "below_baseline"
    assert "champion 4 kept" in decision.reason
    assert decide(below, GatePolicy(allow_below_baseline=True)).promoted


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"reachability": 0.03}, "only 3% of its interactions are on items the model was trained on"),
        ({"reachable_users": 4}, "4 users with such an item (min_holdout_users 10)"),
        ({"challenger": 0.0004, "baseline": 0.0}, "both score about 0"),
    ],
)
def test_an_unreachable_or_degenerate_hold_out_neither_promotes_nor_replaces(
    changes: dict[str, float], says: str
) -> None:
    first = evidence(**changes)
    with_champion = evidence(champion=0.01, champion_version="2", comparison="served", **changes)
    for e in (first, with_champion):
        decision = decide(e, POLICY)
        assert not decision.promoted and decision.rule == "holdout_not_meaningful"
        assert decision.reason.startswith("hold-out not meaningful: ") and says in decision.reason
    assert "champion 2 kept" in decide(with_champion, POLICY).reason


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
def test_another_recipe_must_beat_the_champion_by_the_margin(
    challenger: float, champion: float, margin: float, promoted: bool
) -> None:
    e = evidence(challenger, champion=champion, champion_version="1", comparison="refit")
    decision = decide(e, GatePolicy(margin=margin))
    assert decision.promoted is promoted
    assert (decision.champion_score, decision.champion_version) == (champion, "1")
    if promoted:
        assert decision.rule == "beats_champion"
    else:
        assert decision.rule == "no_improvement" and "needs an improvement of at least" in decision.reason


@pytest.mark.parametrize(("delta", "promoted"), [(0.0, True), (-0.004, True), (-0.02, False)])
def test_a_same_recipe_refresh_on_newer_data_is_promoted_unless_it_measurably_loses(
    delta: float, promoted: bool
) -> None:
    for comparison in ("refit", "served"):
        e = evidence(
            0.30 + delta,
            champion=0.30,
            champion_version="5",
            comparison=comparison,
            same_recipe=True,
            newer_data=True,
        )
        decision = decide(e, POLICY)
        assert decision.promoted is promoted
        assert decision.rule == ("refresh" if promoted else "no_improvement")


def test_retraining_the_same_recipe_on_unchanged_data_keeps_the_champion() -> None:
    e = evidence(0.30, champion=0.30, champion_version="5", comparison="refit", same_recipe=True)
    decision = decide(e, POLICY)
    assert not decision.promoted and "needs an improvement" in decision.reason


def test_metrics_round_trip_and_a_champion_changed_since_evaluation_is_compared_by_its_logged_metric() -> (
    None
):
    metrics = {
        "ndcg_at_10": 0.3,
        "baseline_popularity_ndcg_at_10": 0.1,
        "holdout_reachability": 0.8,
        "holdout_reachable_users": 33.0,
        "champion_version": 7.0,
        "champion_ndcg_at_10": 0.29,
        "gate_same_recipe": 1.0,
        "gate_newer_data": 1.0,
        "gate_champion_refit": 1.0,
    }
    e = GateEvidence.from_metrics(metrics)
    assert e == GateEvidence(0.3, 0.1, 0.8, 33, 0.29, "7", "refit", True, True)
    assert e.against("7", 0.5) == e
    assert e.against(None, None).champion is None
    logged = e.against("8", 0.25)  # someone promoted 8 by hand while this run evaluated
    assert (logged.champion, logged.champion_version, logged.comparison) == (0.25, "8", "logged")
    decision = decide(logged, POLICY)
    assert decision.promoted and decision.rule == "beats_champion" and "logged" in decision.reason
    assert not decide(e.against("8", None), POLICY).promoted  # a champion with no metric


def test_missing_hold_out_figures_count_as_an_unreachable_hold_out() -> None:
    decision = decide(GateEvidence.from_metrics({"ndcg_at_10": 0.3}), POLICY)
    assert not decision.promoted and decision.rule == "holdout_not_meaningful"


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
