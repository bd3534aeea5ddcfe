"""One tenant-surface policy: a Vowpal Wabbit ``cb_explore_adf`` learner with epsilon-greedy
exploration (docs/adr/0006-contextual-bandit.md says why), choosing a slate slot by slot.

An *action* is one (item, presentation variant) pair of the ranker's top candidates. Slot ``k``
is chosen among the actions whose item no earlier slot took; each choice is logged with its
probability, so the stream processor can learn from it (``learn``) and off-policy estimates can
weight it.
"""

from __future__ import annotations

import os
import random
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from recsys_platform.bandit.features import action_line, shared_line

#: Interactions: context x item, context x variant, item x variant. Kept fixed: a checkpoint
#: only loads into a learner with the same feature layout.
VW_ARGS = "--cb_explore_adf -q CI -q CV -q IV -b 20 --quiet"
DECISION_VERSION = 1


class PolicyInvalid(ValueError):
    """A checkpoint that does not load as a policy of this layout (corrupt or incompatible)."""


@dataclass(frozen=True)
class Slot:
    """One decision: the chosen action's index and its probability under the logging policy."""

    action: int
    probability: float


def decision_payload(
    mode: str, version: str | None, context: str, actions: Sequence[dict[str, Any]], slots: Sequence[Slot]
) -> dict[str, Any]:
    """What the impression carries about a decision (JSON)."""
    return {
        "v": DECISION_VERSION,
        "mode": mode,
        "policy_version": version,
        "context": context,
        "actions": list(actions),
        "slots": [[s.action, round(s.probability, 6)] for s in slots],
    }


def _remaining(actions: Sequence[dict[str, Any]], taken: set[str]) -> list[int]:
    return [i for i, a in enumerate(actions) if a["item"] not in taken]


class Policy:
    """A VW learner. Not thread-safe: the gateway predicts on its event loop; a new checkpoint
    is loaded into a new ``Policy`` and swapped in whole."""

    def __init__(self, exploration: float, model: bytes | None = None, version: str | None = None) -> None:
        import vowpalwabbit

        self.version = version
        self.exploration = exploration
        self._lock = threading.Lock()
        args = f"{VW_ARGS} --epsilon {exploration}"
        if model is None:
            self._vw = vowpalwabbit.Workspace(args)
            return
        with tempfile.NamedTemporaryFile(suffix=".vw", delete=False) as f:
            f.write(model)
            path = f.name
        try:
            self._vw = vowpalwabbit.Workspace(f"{args} -i {path}")
        except Exception as exc:  # VW raises RuntimeError("Bad model format.") and friends
            raise PolicyInvalid(f"checkpoint does not load: {exc}") from None
        finally:
            os.unlink(path)
        self._check()

    def _check(self) -> None:
        """A loaded checkpoint must answer a probe decision with a probability distribution."""
        probe = [
            shared_line("user=probe", 0),
            action_line({"I": "item=a", "R": "rank:1"}),
            action_line({"I": "item=b", "R": "rank:0.5"}),
        ]
        try:
            pmf = self._vw.predict(probe)
        except Exception as exc:
            raise PolicyInvalid(f"checkpoint does not predict: {exc}") from None
        if not isinstance(pmf, list) or len(pmf) != 2 or abs(sum(pmf) - 1.0) > 1e-3:
            raise PolicyInvalid("checkpoint is not a cb_explore_adf policy (no distribution over actions)")

    def choose(
        self, context: str, actions: Sequence[dict[str, Any]], slots: int, rng: random.Random
    ) -> list[Slot]:
        """Fill up to ``slots`` positions, sampling each from the policy's distribution."""
        out: list[Slot] = []
        taken: set[str] = set()
        with self._lock:
            for k in range(slots):
                remaining = _remaining(actions, taken)
                if not remaining:
                    break
                lines = [shared_line(context, k), *(action_line(actions[i]) for i in remaining)]
                pmf = self._vw.predict(lines)
                j = _sample(pmf, rng)
                chosen = remaining[j]
                out.append(Slot(chosen, float(pmf[j])))
                taken.add(actions[chosen]["item"])
        return out

    def learn(self, decision: dict[str, Any], rewards: Sequence[float]) -> int:
        """Learn each slot of a logged decision with its reward (cost = -reward); returns slots."""
        actions = decision["actions"]
        taken: set[str] = set()
        n = 0
        with self._lock:
            for k, ((chosen, prob), reward) in enumerate(zip(decision["slots"], rewards, strict=False)):
                remaining = _remaining(actions, taken)
                if chosen not in remaining or not 0 < prob <= 1:
                    break  # a malformed record: learn nothing more from it
                lines = [shared_line(decision["context"], k)]
                for i in remaining:
                    label = f"0:{-float(reward):.6g}:{float(prob):.6g}" if i == chosen else ""
                    lines.append(action_line(actions[i], label))
                self._vw.learn(lines)
                taken.add(actions[chosen]["item"])
                n += 1
        return n

    def pmf(self, context: str, actions: Sequence[dict[str, Any]], slot: int) -> list[float]:
        """The distribution over ``actions`` at one slot (off-policy evaluation)."""
        with self._lock:
            return list(self._vw.predict([shared_line(context, slot), *(action_line(a) for a in actions)]))

    def save(self) -> bytes:
        """The learner's state (VW binary model), e.g. for an MLflow checkpoint."""
        with tempfile.NamedTemporaryFile(suffix=".vw", delete=False) as f:
            path = f.name
        try:
            with self._lock:
                self._vw.save(path)
            with open(path, "rb") as fh:
                return fh.read()
        finally:
            os.unlink(path)

    def close(self) -> None:
        with self._lock:
            self._vw.finish()


def _sample(pmf: Sequence[float], rng: random.Random) -> int:
    draw = rng.random() * sum(pmf)
    acc = 0.0
    for i, p in enumerate(pmf):
        acc += p
        if draw < acc:
            return i
    return len(pmf) - 1
