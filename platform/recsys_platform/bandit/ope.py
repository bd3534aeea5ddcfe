"""Off-policy evaluation of candidate policies from the logged decisions and their rewards.

Every logged slot is one sample: the candidates left at that slot, the logged action with its
logging probability ``p`` and its reward ``r``. A candidate policy ``pi`` gives the probability
of the logged action, ``w = pi(a|x) / p``:

* IPS ``mean(w r)``; SNIPS ``sum(w r) / sum(w)``; doubly robust
  ``mean(sum_a pi(a|x) q(x, a) + w (r - q(x, a)))`` with ``q`` a reward model fitted on the
  other half of the log (two-fold cross-fitting: mean reward per item, variant and slot, shrunk
  towards the mean per item and the global mean);
* 95% normal intervals (SNIPS by the delta method) and the effective sample size
  ``(sum w)^2 / sum w^2`` (how many on-policy samples the estimate is worth).

Slots after the first are evaluated given the logged choices above them (the candidates left
at that slot), which is what the sequential slate policy decides on.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from recsys_platform.bandit.config import RewardDefinition
from recsys_platform.bandit.loop import slot_rewards
from recsys_platform.bandit.policy import Policy

Z95 = 1.959963984540054


class CandidatePolicy(BaseModel):
    """A policy to evaluate: a registered checkpoint (optionally with another exploration rate),
    the ranker alone (the ranker's order, each item's first variant), or uniform random."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=63)
    kind: Literal["checkpoint", "ranker", "uniform"]
    version: str | None = Field(default=None, pattern=r"^[0-9]{1,10}$")
    """Checkpoint version (default: the one serving now)."""
    exploration: float | None = Field(default=None, ge=0, le=1)
    """Exploration rate of a checkpoint candidate (default: the policy's setting)."""


class EvaluationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    candidates: list[CandidatePolicy] = Field(min_length=1, max_length=10)
    limit: int = Field(default=20_000, ge=10, le=200_000)
    """Most recent closed decisions read."""
    first_slot_only: bool = False
    """Evaluate only the first slot of each slate."""


class Estimate(BaseModel):
    value: float
    ci_low: float
    ci_high: float


class CandidateResult(BaseModel):
    name: str
    ips: Estimate
    snips: Estimate
    dr: Estimate
    effective_sample_size: float
    samples: int


class EvaluationResult(BaseModel):
    tenant_id: str
    surface: str
    decisions: int
    samples: int
    logged_reward: float
    """Mean reward of the logged slots (the logging policy's on-policy value)."""
    candidates: list[CandidateResult]


@dataclass(frozen=True)
class Sample:
    context: str
    slot: int
    actions: list[dict[str, Any]]
    logged: int
    """Index of the logged action in ``actions``."""
    probability: float
    reward: float


def samples_of(
    decisions: Sequence[tuple[Mapping[str, Any], Mapping[str, Mapping[str, float]]]],
    definition: RewardDefinition,
    durations: Mapping[str, float],
    first_slot_only: bool = False,
) -> list[Sample]:
    """One sample per logged slot (candidates left at the slot, logged action, p, reward)."""
    out: list[Sample] = []
    for decision, signals in decisions:
        actions = decision["actions"]
        rewards = slot_rewards(decision, signals, definition, durations)
        taken: set[str] = set()
        for k, ((chosen, prob), reward) in enumerate(zip(decision["slots"], rewards, strict=False)):
            remaining = [i for i, a in enumerate(actions) if a["item"] not in taken]
            if chosen not in remaining or not 0 < prob <= 1:
                break
            out.append(
                Sample(
                    decision["context"],
                    k,
                    [actions[i] for i in remaining],
                    remaining.index(chosen),
                    prob,
                    reward,
                )
            )
            taken.add(actions[chosen]["item"])
            if first_slot_only:
                break
    return out


PolicyFn = Callable[[Sample], list[float]]


def ranker_policy(sample: Sample) -> list[float]:
    """Deterministic: the candidate the ranker placed highest, with its first variant."""
    best = max(range(len(sample.actions)), key=lambda i: (_rank(sample.actions[i]), -i))
    return [1.0 if i == best else 0.0 for i in range(len(sample.actions))]


def uniform_policy(sample: Sample) -> list[float]:
    return [1.0 / len(sample.actions)] * len(sample.actions)


def vw_policy(policy: Policy) -> PolicyFn:
    def pmf(sample: Sample) -> list[float]:
        return policy.pmf(sample.context, sample.actions, sample.slot)

    return pmf


def _rank(action: Mapping[str, Any]) -> float:
    text = str(action.get("R", "rank:0"))
    try:
        return float(text.split(":", 1)[1])
    except (IndexError, ValueError):
        return 0.0


def _key(a: Mapping[str, Any], slot: int) -> tuple[str, str, int]:
    return (str(a["item"]), str(a.get("variant") or ""), slot)


class RewardModel:
    """Mean reward per (item, variant, slot) shrunk to the item's and the global mean."""

    def __init__(self, samples: Sequence[Sample], prior: float = 5.0) -> None:
        self._prior = prior
        total = [s.reward for s in samples]
        self._global = sum(total) / len(total) if total else 0.0
        by_key: dict[tuple[str, str, int], list[float]] = defaultdict(list)
        by_item: dict[str, list[float]] = defaultdict(list)
        for s in samples:
            a = s.actions[s.logged]
            by_key[_key(a, s.slot)].append(s.reward)
            by_item[str(a["item"])].append(s.reward)
        self._item = {k: self._shrink(v, self._global) for k, v in by_item.items()}
        self._key = {k: self._shrink(v, self._item[k[0]]) for k, v in by_key.items()}

    def _shrink(self, values: list[float], towards: float) -> float:
        return (sum(values) + self._prior * towards) / (len(values) + self._prior)

    def __call__(self, action: Mapping[str, Any], slot: int) -> float:
        key = _key(action, slot)
        if key in self._key:
            return self._key[key]
        return self._item.get(key[0], self._global)


def _normal(values: Sequence[float]) -> Estimate:
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / max(1, n - 1)
    half = Z95 * math.sqrt(var / n)
    return Estimate(value=mean, ci_low=mean - half, ci_high=mean + half)


def evaluate(name: str, samples: Sequence[Sample], policy: PolicyFn) -> CandidateResult:
    """IPS, SNIPS and DR estimates of ``policy`` with 95% intervals and the effective sample size."""
    if not samples:
        raise ValueError("no logged decisions to evaluate")
    halves = [samples[0::2], samples[1::2]]
    models = [RewardModel(halves[1]), RewardModel(halves[0])]  # each half is scored by the other's model
    ips_terms: list[float] = []
    weights: list[float] = []
    dr_terms: list[float] = []
    for part, model in zip(halves, models, strict=True):
        for s in part:
            pmf = policy(s)
            w = pmf[s.logged] / s.probability
            weights.append(w)
            ips_terms.append(w * s.reward)
            direct = sum(p * model(a, s.slot) for p, a in zip(pmf, s.actions, strict=True) if p > 0)
            dr_terms.append(direct + w * (s.reward - model(s.actions[s.logged], s.slot)))
    n = len(weights)
    sum_w = sum(weights)
    if sum_w > 0:
        snips = sum(ips_terms) / sum_w
        mean_w = sum_w / n
        # delta method: Var(SNIPS) ~ E[w^2 (r - V)^2] / (n E[w]^2)
        rewards = [t / w if w else 0.0 for t, w in zip(ips_terms, weights, strict=True)]
        var = sum((w * (r - snips)) ** 2 for w, r in zip(weights, rewards, strict=True)) / n / mean_w**2
        half = Z95 * math.sqrt(var / n)
        snips_est = Estimate(value=snips, ci_low=snips - half, ci_high=snips + half)
    else:
        snips_est = Estimate(value=0.0, ci_low=0.0, ci_high=0.0)
    sum_w2 = sum(w * w for w in weights)
    return CandidateResult(
        name=name,
        ips=_normal(ips_terms),
        snips=snips_est,
        dr=_normal(dr_terms),
        effective_sample_size=(sum_w**2 / sum_w2) if sum_w2 > 0 else 0.0,
        samples=n,
    )
