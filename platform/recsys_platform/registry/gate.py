"""The promotion gate: when a newly trained version may become (or replace) the champion.

Pure functions over what the evaluate step measured (:class:`GateEvidence`, read from its
metrics) and the run's rules (:class:`GatePolicy`); the registry adapter only applies the
decision. The rules, in order (the first that applies decides):

1. A hold-out that cannot tell models apart changes nothing: too few of its interactions are
   on items the model was trained on, too few users with such an item, or the model and the
   popularity baseline both score about zero.
2. A model that does not beat the popularity baseline is not promoted (unless the run sets
   ``allow_below_baseline``).
3. No champion yet: the first model that passed 1 and 2 is promoted.
4. Same recipe (model config) as the champion on newer data: a refresh, promoted unless it
   scores worse than the champion by more than the margin on the same hold-out.
5. Otherwise the challenger must beat the champion by at least the margin (a tie never
   promotes, so retraining on unchanged data keeps the serving model).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from recsys_platform.registry.ports import GATE_METRIC, GateDecision

#: ndcg@10 below this is "about zero": a hold-out where the model and popularity both score
#: below it cannot rank anything.
NOISE_FLOOR = 0.001

Comparison = Literal["served", "refit", "logged", "none"]

#: Rule names (the ``rule`` of a decision, tag ``recsys.gate_rule``).
HOLDOUT_NOT_MEANINGFUL = "holdout_not_meaningful"
BELOW_BASELINE = "below_baseline"
FIRST_MODEL = "first_model"
REFRESH = "refresh"
BEATS_CHAMPION = "beats_champion"
NO_IMPROVEMENT = "no_improvement"
CHAMPION_NOT_SCORED = "champion_not_scored"


@dataclass(frozen=True)
class GatePolicy:
    """The thresholds of one run (``TrainingParams`` and the registry settings)."""

    margin: float = 0.005
    min_reachability: float = 0.5
    min_users: int = 10
    allow_below_baseline: bool = False


@dataclass(frozen=True)
class GateEvidence:
    """What the evaluate step measured on the temporal hold-out.

    Attributes:
        challenger: The candidate's ndcg@10 on the hold-out.
        baseline: The popularity baseline's ndcg@10 on the same hold-out.
        reachability: Share of hold-out interactions on items in the model and in the train part.
        reachable_users: Hold-out users with at least one such interaction.
        champion: The champion's ndcg@10 on the same hold-out (``None``: not measured).
        champion_version: The champion version that was measured.
        comparison: How the champion was scored: ``served`` (its artifact as it serves; its
            data ended before the cut), ``refit`` (its recipe fitted on the candidate's train
            part; with the same recipe that refit is the candidate itself), ``logged`` (its
            logged metric, from another hold-out) or ``none``.
        same_recipe: The champion has the candidate's model config.
        newer_data: The candidate's data ends after the champion's.
    """

    challenger: float
    baseline: float
    reachability: float
    reachable_users: int
    champion: float | None = None
    champion_version: str | None = None
    comparison: Comparison = "none"
    same_recipe: bool = False
    newer_data: bool = False

    @classmethod
    def from_metrics(cls, metrics: Mapping[str, float]) -> GateEvidence:
        """Read the evaluate step's metrics (missing hold-out figures count as unreachable)."""
        version = metrics.get("champion_version")
        measured = "champion_ndcg_at_10" in metrics
        comparison: Comparison = "none"
        if measured:
            comparison = "refit" if metrics.get("gate_champion_refit", 0.0) >= 0.5 else "served"
        return cls(
            challenger=float(metrics.get(GATE_METRIC, 0.0)),
            baseline=float(metrics.get(f"baseline_popularity_{GATE_METRIC}", 0.0)),
            reachability=float(metrics.get("holdout_reachability", 0.0)),
            reachable_users=int(metrics.get("holdout_reachable_users", 0.0)),
            champion=float(metrics["champion_ndcg_at_10"]) if measured else None,
            champion_version=str(int(version)) if version is not None else None,
            comparison=comparison,
            same_recipe=metrics.get("gate_same_recipe", 0.0) >= 0.5,
            newer_data=metrics.get("gate_newer_data", 0.0) >= 0.5,
        )

    def against(self, champion_version: str | None, logged_score: float | None) -> GateEvidence:
        """The evidence against the champion current at registration time.

        When that is not the version the evaluate step scored (none, or another one promoted
        meanwhile), its logged metric is used, marked ``logged`` (measured on another hold-out).
        """
        if champion_version is None:
            return replace(self, champion=None, champion_version=None, comparison="none")
        if self.champion is not None and self.champion_version == champion_version:
            return self
        return replace(
            self,
            champion=logged_score,
            champion_version=champion_version,
            comparison="logged",
            same_recipe=False,
            newer_data=False,
        )


_COMPARISONS: dict[str, str] = {
    "served": "champion as it serves, same hold-out",
    "refit": "champion's recipe fitted on the same train part, same hold-out",
    "logged": "champion's logged metric, from another hold-out",
    "none": "not measured",
}


def _holdout_problems(e: GateEvidence, p: GatePolicy) -> list[str]:
    problems = []
    if e.reachability < p.min_reachability:
        problems.append(
            f"only {e.reachability:.0%} of its interactions are on items the model was trained on "
            f"(min_holdout_reachability {p.min_reachability:.0%})"
        )
    if e.reachable_users < p.min_users:
        problems.append(f"{e.reachable_users} users with such an item (min_holdout_users {p.min_users})")
    if max(e.challenger, e.baseline) < NOISE_FLOOR:
        problems.append(
            f"model ({e.challenger:.4f}) and popularity baseline ({e.baseline:.4f}) both score about 0"
        )
    return problems


def decide(e: GateEvidence, p: GatePolicy) -> GateDecision:
    """Apply the rules of the module docstring; the reason says which one decided and why."""
    ch = e.champion_version
    keep = (
        f"champion {ch} kept"
        if ch
        else "no champion yet: kept as challenger (promote it by hand to serve it)"
    )
    figures = f"{GATE_METRIC} {e.challenger:.4f}, popularity {e.baseline:.4f}"

    def no(rule: str, why: str) -> GateDecision:
        return GateDecision(False, f"{why}; {keep}", e.challenger, e.champion, ch, rule=rule)

    def yes(rule: str, why: str) -> GateDecision:
        return GateDecision(True, why, e.challenger, e.champion, ch, rule=rule)

    problems = _holdout_problems(e, p)
    if problems:
        return no(HOLDOUT_NOT_MEANINGFUL, "hold-out not meaningful: " + "; ".join(problems))
    if e.challenger <= e.baseline and not p.allow_below_baseline:
        return no(
            BELOW_BASELINE,
            f"{figures}: does not beat the popularity baseline (allow_below_baseline overrides)",
        )
    if ch is None:
        return yes(
            FIRST_MODEL,
            f"first model of the tenant: {figures} on a hold-out with {e.reachable_users} "
            f"users, reachability {e.reachability:.0%}",
        )
    if e.champion is None:
        return no(CHAMPION_NOT_SCORED, f"champion {ch} has no {GATE_METRIC} to compare with")
    delta = e.challenger - e.champion
    versus = (
        f"{GATE_METRIC} {e.challenger:.4f} vs champion {e.champion:.4f} ({delta:+.4f}; "
        f"{_COMPARISONS[e.comparison]})"
    )
    if _is_refresh(e) and delta >= -p.margin:
        return yes(REFRESH, f"refresh: same recipe as champion {ch} on newer data; {versus}")
    if delta > 0 and delta >= p.margin:
        return yes(BEATS_CHAMPION, f"{versus}: beats the champion")
    return no(NO_IMPROVEMENT, f"{versus}; needs an improvement of at least {p.margin:.4f}")


def _is_refresh(e: GateEvidence) -> bool:
    """Same recipe as the champion, newer data, both scored on the same hold-out: only the
    data differ, and retraining on fresher data is what a refresh is for."""
    return e.same_recipe and e.newer_data and e.comparison in ("served", "refit")
