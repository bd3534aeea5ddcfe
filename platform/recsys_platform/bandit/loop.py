"""The live reward loop of the stream processor: decisions in, rewards joined, policies learned and
checkpointed.

Exactly once in effect, like the event path:

* a decision (from an impression carrying one) is stored once per ``recommendation_id``; an
  event's signal is merged into the decision's ``rewards`` as a maximum per item and type, so a
  redelivered event changes nothing; both are written in one transaction before offsets commit;
* after the reward wait window a decision is *closed* with the next sequence number of its
  policy (in the same transaction); later events for it are counted as expired and dropped;
* the learner applies closed decisions in sequence order and remembers the last one applied; a
  checkpoint (MLflow version) records that sequence number. After a restart the learner loads
  the checkpoint and replays the closed decisions after its sequence number: each one is learned
  exactly once.

Closed decisions with their rewards are the log that off-policy evaluation reads
(``bandit/ope.py``); they are deleted after ``retention_seconds`` and only once a checkpoint
holds them.

One learner per policy: run one stream processor replica with ``bandit`` on (others off).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from recsys_platform.bandit.checkpoints import CheckpointLineage
from recsys_platform.bandit.config import PolicyConfig, RewardDefinition
from recsys_platform.bandit.policy import Policy, PolicyInvalid
from recsys_platform.db.engine import transaction
from recsys_platform.db.models import BanditDecision, BanditPolicy, CatalogItem
from recsys_platform.events.schemas import Event
from recsys_platform.experiments.impression_record import Impression

log = logging.getLogger(__name__)
REWARD_TYPES = frozenset({"click", "watch", "skip"})
#: How long rewards for a recommendation id never seen as a decision are kept (out-of-order arrival).
UNKNOWN_GRACE = timedelta(minutes=10)


class CheckpointStore(Protocol):
    def register(self, model: bytes, lineage: CheckpointLineage) -> str: ...

    def fetch(self, tenant_id: str, surface: str, version: str) -> bytes: ...


class BanditLoopMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.rewards = Counter(
            "recsys_bandit_rewards_total",
            "Reward events by outcome: joined (to an open decision), early (before the decision), "
            "expired (after the wait window), unknown (no decision ever arrived).",
            ["tenant", "outcome"],
            registry=registry,
        )
        self.learned = Counter(
            "recsys_bandit_learned_slots_total",
            "Decision slots the policies learned from.",
            ["tenant", "surface"],
            registry=registry,
        )
        self.reward_sum = Gauge(  # a gauge: skips make rewards negative
            "recsys_bandit_reward_sum",
            "Sum of the learned slots' rewards since start (with learned_slots_total: the mean "
            "reward per policy; negative rewards, e.g. skips, lower it).",
            ["tenant", "surface"],
            registry=registry,
        )
        self.checkpoints = Counter(
            "recsys_bandit_checkpoints_total",
            "Policy checkpoints registered in MLflow (ok) or not (failed).",
            ["tenant", "outcome"],
            registry=registry,
        )
        self.last_reward = Gauge(
            "recsys_bandit_last_reward_timestamp_seconds",
            "When a policy last learned a decision that had a reward (stale when long ago).",
            ["tenant", "surface"],
            registry=registry,
        )


def slot_rewards(
    decision: Mapping[str, Any],
    signals: Mapping[str, Mapping[str, float]],
    definition: RewardDefinition,
    durations: Mapping[str, float],
) -> list[float]:
    """The reward of each slot of ``decision`` from its items' signals (``{item: {type: value}}``)."""
    out = []
    actions = decision["actions"]
    for chosen, _prob in decision["slots"]:
        item = actions[chosen]["item"]
        got = signals.get(item)
        if not got:
            out.append(definition.default)
            continue
        candidates = []
        if "click" in got:
            candidates.append(definition.click)
        if "watch" in got:
            seconds = float(got["watch"])
            duration = durations.get(item)
            share = min(1.0, seconds / duration) if duration and duration > 0 else 1.0
            candidates.append(definition.watch * share)
        if "skip" in got:
            candidates.append(definition.skip)
        out.append(max(candidates) if candidates else definition.default)
    return out


def catalog_durations(s: Session, tenant_id: str, items: set[str], field_name: str) -> dict[str, float]:
    """Length in seconds of each watched item (the catalog field of the reward definition)."""
    if not items:
        return {}
    rows = s.execute(
        select(CatalogItem.item_id, CatalogItem.attributes).where(
            CatalogItem.tenant_id == tenant_id, CatalogItem.item_id.in_(items)
        )
    ).all()
    out: dict[str, float] = {}
    for item_id, attrs in rows:
        value = (attrs or {}).get(field_name)
        if isinstance(value, int | float) and value > 0:
            out[item_id] = float(value)
    return out


@dataclass
class _Learner:
    policy: Policy
    applied_seq: int
    checkpoint_seq: int
    version: str | None
    last_checkpoint: float = field(default_factory=time.monotonic)


class BanditLoop:
    """Stores decisions and rewards (``apply``), closes and learns them (``tick``)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        checkpoints: CheckpointStore,
        metrics: BanditLoopMetrics,
        *,
        checkpoint_every: int = 200,
        checkpoint_seconds: float = 30.0,
        tick_seconds: float = 0.5,
        retention_seconds: float = 7 * 86400,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessions
        self._checkpoints = checkpoints
        self._metrics = metrics
        self._checkpoint_every = checkpoint_every
        self._checkpoint_s = checkpoint_seconds
        self._tick_s = tick_seconds
        self._retention = timedelta(seconds=retention_seconds)
        self._clock = clock
        self._learners: dict[tuple[str, str], _Learner] = {}
        self._last_tick = 0.0

    # -- decisions and rewards (one transaction per batch) ---------------------------------

    def apply(self, impressions: Sequence[Impression], events: Sequence[tuple[str, Event]]) -> None:
        decided = [i for i in impressions if i.bandit]
        rewards = [(t, e) for t, e in events if e.type in REWARD_TYPES and e.recommendation_id and e.item_id]
        if not decided and not rewards:
            return
        counts: dict[tuple[str, str], int] = {}
        with transaction(self._sessions) as s:
            for imp in decided:
                self._decision(s, imp)
            for tenant_id, event in rewards:
                outcome = self._reward(s, tenant_id, event)
                counts[(tenant_id, outcome)] = counts.get((tenant_id, outcome), 0) + 1
        for (tenant_id, outcome), n in counts.items():
            self._metrics.rewards.labels(tenant_id, outcome).inc(n)

    def _decision(self, s: Session, imp: Impression) -> None:
        assert imp.bandit is not None
        row = s.get(BanditDecision, (imp.recommendation_id, imp.tenant_id))
        if row is not None and row.decision is not None:
            return  # a redelivery
        wait = timedelta(seconds=int(imp.bandit.get("wait_seconds", 600)))
        if row is None:
            row = BanditDecision(recommendation_id=imp.recommendation_id, tenant_id=imp.tenant_id, rewards={})
            s.add(row)
        row.surface = imp.surface
        row.decision = imp.bandit
        row.shown_at = imp.timestamp
        row.expires_at = imp.timestamp + wait
        row.closed = False
        s.flush()

    def _reward(self, s: Session, tenant_id: str, event: Event) -> str:
        assert event.recommendation_id is not None and event.item_id is not None
        row = s.get(BanditDecision, (event.recommendation_id, tenant_id))
        if row is None:  # the decision has not arrived (yet): keep the signal for a while
            row = BanditDecision(
                recommendation_id=event.recommendation_id,
                tenant_id=tenant_id,
                rewards={},
                expires_at=self._clock() + UNKNOWN_GRACE,
                closed=False,
            )
            s.add(row)
            outcome = "early"
        elif row.decision is None:
            outcome = "early"
        elif row.closed or event.timestamp > row.expires_at:
            return "expired"
        else:
            outcome = "joined"
        value = 1.0 if event.type != "watch" else float(event.value or 0.0)
        signals = {k: dict(v) for k, v in (row.rewards or {}).items()}
        per_item = signals.setdefault(event.item_id, {})
        per_item[event.type] = max(per_item.get(event.type, value), value)
        row.rewards = signals  # a new object: JSON columns do not track in-place changes
        s.flush()
        return outcome

    # -- close, learn, checkpoint (periodic) -----------------------------------------------

    def tick(self, force: bool = False) -> int:
        """Close decisions whose wait window ended, learn closed ones, checkpoint when due.
        Returns the number of slots learned. Rate-limited to once per ``tick_seconds``."""
        now_m = time.monotonic()
        if not force and now_m - self._last_tick < self._tick_s:
            return 0
        self._last_tick = now_m
        self._close()
        learned = 0
        for key in self._policies_with_closed():
            try:
                learned += self._learn(key)
            except Exception:  # one policy's failure never holds the other tenants' events
                log.exception("learning policy %s/%s failed; retried next tick", *key)
        for key in list(self._learners):
            self._maybe_checkpoint(key)
        return learned

    def _close(self) -> None:
        now = self._clock()
        with transaction(self._sessions) as s:
            unknown = s.execute(
                select(BanditDecision.tenant_id).where(
                    BanditDecision.decision.is_(None), BanditDecision.expires_at <= now
                )
            ).all()
            if unknown:
                s.execute(
                    delete(BanditDecision).where(
                        BanditDecision.decision.is_(None), BanditDecision.expires_at <= now
                    )
                )
            due = list(
                s.scalars(
                    select(BanditDecision)
                    .where(
                        BanditDecision.closed.is_(False),
                        BanditDecision.expires_at <= now,
                        BanditDecision.decision.is_not(None),
                    )
                    .order_by(BanditDecision.expires_at)
                    .limit(2000)
                )
            )
            policies: dict[tuple[str, str], BanditPolicy | None] = {}
            for row in due:
                key = (row.tenant_id, row.surface or "")
                if key not in policies:
                    policies[key] = s.get(BanditPolicy, key)
                policy = policies[key]
                if policy is None:  # the policy was deleted: nothing learns this decision
                    s.delete(row)
                    continue
                policy.next_seq += 1
                row.seq = policy.next_seq
                row.closed = True
                if row.rewards:
                    policy.last_reward_at = now
        for (tenant_id,) in unknown:
            self._metrics.rewards.labels(tenant_id, "unknown").inc()

    def _policies_with_closed(self) -> list[tuple[str, str]]:
        with self._sessions() as s:
            rows = s.execute(
                select(BanditDecision.tenant_id, BanditDecision.surface)
                .where(BanditDecision.closed.is_(True))
                .distinct()
            ).all()
        return [(t, surface or "") for t, surface in rows]

    def _learner(self, key: tuple[str, str]) -> _Learner | None:
        learner = self._learners.get(key)
        if learner is not None:
            return learner
        with self._sessions() as s:
            row = s.get(BanditPolicy, key)
            if row is None:
                return None
            config = PolicyConfig.model_validate(row.config)
            version, seq = row.checkpoint_version, row.checkpoint_seq
        policy: Policy
        if version is None:
            policy = Policy(config.exploration)
        else:
            try:
                policy = Policy(config.exploration, self._checkpoints.fetch(key[0], key[1], version), version)
            except PolicyInvalid as exc:
                # The registered checkpoint is unusable: keep learning on a fresh policy from here;
                # its next checkpoint supersedes the bad one.
                log.error("checkpoint %s of %s/%s refused, learning anew: %s", version, *key, exc)
                policy = Policy(config.exploration)
        learner = _Learner(policy, seq, seq, version)
        self._learners[key] = learner
        return learner

    def _learn(self, key: tuple[str, str]) -> int:
        try:
            learner = self._learner(key)
        except Exception as exc:  # MLflow away: try again next tick, nothing is lost
            log.warning("policy %s/%s not loaded for learning: %s", *key, exc)
            return 0
        if learner is None:
            return 0
        with self._sessions() as s:
            policy_row = s.get(BanditPolicy, key)
            if policy_row is None:
                return 0
            definition = PolicyConfig.model_validate(policy_row.config).reward
            rows = list(
                s.scalars(
                    select(BanditDecision)
                    .where(
                        BanditDecision.tenant_id == key[0],
                        BanditDecision.surface == key[1],
                        BanditDecision.closed.is_(True),
                        BanditDecision.seq > learner.applied_seq,
                    )
                    .order_by(BanditDecision.seq)
                    .limit(2000)
                )
            )
            watched = {i for r in rows for i, sig in (r.rewards or {}).items() if "watch" in sig}
            durations = catalog_durations(s, key[0], watched, definition.duration_field)
        n = 0
        total = 0.0
        rewarded = False
        for row in rows:
            assert row.decision is not None and row.seq is not None
            try:
                rewards = slot_rewards(row.decision, row.rewards or {}, definition, durations)
                n += learner.policy.learn(row.decision, rewards)
            except (KeyError, IndexError, TypeError, ValueError) as exc:  # a malformed decision
                log.warning("decision %s of %s/%s not learned: %r", row.recommendation_id, *key, exc)
            total += sum(rewards)
            rewarded = rewarded or bool(row.rewards)
            learner.applied_seq = row.seq
        if n:
            self._metrics.learned.labels(*key).inc(n)
            self._metrics.reward_sum.labels(*key).inc(total)
        if rewarded:
            self._metrics.last_reward.labels(*key).set(time.time())
        return n

    def _maybe_checkpoint(self, key: tuple[str, str], force: bool = False) -> str | None:
        learner = self._learners[key]
        pending = learner.applied_seq - learner.checkpoint_seq
        if pending <= 0:
            return None
        due = (
            pending >= self._checkpoint_every
            or time.monotonic() - learner.last_checkpoint >= self._checkpoint_s
        )
        if not (due or force):
            return None
        lineage = CheckpointLineage(
            key[0], key[1], learner.version, learner.checkpoint_seq + 1, learner.applied_seq, pending
        )
        try:
            version = self._checkpoints.register(learner.policy.save(), lineage)
        except Exception as exc:  # MLflow away: the decisions stay in the database; retry later
            self._metrics.checkpoints.labels(key[0], "failed").inc()
            log.warning("checkpoint of %s/%s not registered: %s", *key, exc)
            learner.last_checkpoint = time.monotonic()
            return None
        with transaction(self._sessions) as s:
            row = s.get(BanditPolicy, key)
            if row is not None:
                row.checkpoint_version = version
                row.checkpoint_seq = learner.applied_seq
                row.learned = row.learned + pending
            s.execute(
                delete(BanditDecision).where(
                    BanditDecision.tenant_id == key[0],
                    BanditDecision.surface == key[1],
                    BanditDecision.closed.is_(True),
                    BanditDecision.seq <= learner.applied_seq,
                    BanditDecision.expires_at < self._clock() - self._retention,
                )
            )
        learner.version = version
        learner.checkpoint_seq = learner.applied_seq
        learner.last_checkpoint = time.monotonic()
        self._metrics.checkpoints.labels(key[0], "ok").inc()
        log.info("policy %s/%s checkpoint %s (decisions to %d)", key[0], key[1], version, learner.applied_seq)
        return version

    def checkpoint_now(self) -> list[str]:
        """Register a checkpoint of every policy with unsaved learning (shutdown, tests)."""
        out = []
        for key in list(self._learners):
            version = self._maybe_checkpoint(key, force=True)
            if version is not None:
                out.append(version)
        return out
