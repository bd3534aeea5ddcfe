"""Off-policy estimators against policies whose true value is known (a simulated log)."""

from __future__ import annotations

import random

import pytest
from recsys_platform.bandit.config import RewardDefinition
from recsys_platform.bandit.features import rank_tokens
from recsys_platform.bandit.ope import Sample, evaluate, ranker_policy, samples_of, uniform_policy

K = 5
#: click probability of the item at ranker position k (the ranker is wrong: position 3 is best)
CTR = [0.10, 0.20, 0.15, 0.60, 0.05]


def _log(n: int, epsilon: float, seed: int = 7) -> list[Sample]:
    """A logging policy that plays position 3 greedily with epsilon-uniform exploration."""
    rng = random.Random(seed)
    actions = [
        {"item": f"i{k}", "variant": None, "I": f"item=i{k}", "V": "", "R": rank_tokens(k)} for k in range(K)
    ]
    out = []
    for _ in range(n):
        probs = [epsilon / K + (1 - epsilon if k == 3 else 0.0) for k in range(K)]
        a = rng.choices(range(K), probs)[0]
        reward = 1.0 if rng.random() < CTR[a] else 0.0
        out.append(Sample("user=u", 0, actions, a, probs[a], reward))
    return out


@pytest.mark.parametrize(
    ("name", "policy", "truth"),
    [("ranker", ranker_policy, CTR[0]), ("uniform", uniform_policy, sum(CTR) / K)],
)
def test_estimates_cover_the_true_value(name: str, policy: object, truth: float) -> None:
    result = evaluate(name, _log(20_000, epsilon=0.3), policy)  # type: ignore[arg-type]
    for est in (result.ips, result.snips, result.dr):
        assert est.ci_low <= truth <= est.ci_high, (name, est, truth)
    assert abs(result.dr.value - truth) <= 0.05 * truth + 0.01
    # a deterministic target matching 1 in K explored actions keeps about that share of the samples
    if name == "ranker":
        assert 20_000 * 0.3 / K * 0.8 < result.effective_sample_size < 20_000 * 0.3 / K * 1.2
    else:
        assert result.effective_sample_size > 5_000


def test_samples_come_from_each_logged_slot_with_its_reward() -> None:
    actions = [
        {"item": f"i{k}", "variant": v, "I": "", "V": "", "R": rank_tokens(k)}
        for k in range(3)
        for v in ("a", "b")
    ]
    decision = {"context": "user=u", "actions": actions, "slots": [[3, 0.5], [0, 0.25]]}
    samples = samples_of([(decision, {"i1": {"click": 1.0}})], RewardDefinition(default=0.0), {})
    assert [(s.slot, len(s.actions), s.reward, s.probability) for s in samples] == [
        (0, 6, 1.0, 0.5),
        (1, 4, 0.0, 0.25),
    ]
    assert samples[1].actions[samples[1].logged]["item"] == "i0"


def test_no_samples_is_an_error() -> None:
    with pytest.raises(ValueError, match="no logged decisions"):
        evaluate("x", [], uniform_policy)
