"""The vectorised blend (column-at-a-time fills, per-row work done once) returns exactly what the
element-wise version it replaced returned: same items, order, bit-identical scores, reasons and
sources. The reference below is that earlier version, verbatim."""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import pytest
from recsys_platform.recommenders.stream_blend import (
    MODEL,
    REASONS,
    SIGNAL_CANDIDATES,
    BlendedItem,
    _signal_scores,
    blend,
    columns,
    context_features,
    weight_vector,
)
from recsys_platform.streaming.events import StreamSignals


def reference_columns(
    model_items: Sequence[Any],
    signals: StreamSignals | None,
    names: Sequence[str],
    exclude: Collection[str] = (),
    per_signal: int = SIGNAL_CANDIDATES,
    include: Sequence[str] | None = None,
) -> tuple[list[str], Any]:
    order: dict[str, int] = {i: k for k, i in enumerate(include)} if include is not None else {}
    grow = include is None
    for s in model_items:
        if grow and s.item_id not in exclude and s.item_id not in order:
            order[s.item_id] = len(order)
    tops: list[list[tuple[str, float]]] = []
    for name in names:
        top = signals.top(name, per_signal + len(exclude)) if signals is not None else []
        top = [(i, v) for i, v in top if i not in exclude and v > 0][:per_signal]
        tops.append(top)
        for item, _ in top:
            if grow and item not in order:
                order[item] = len(order)
    matrix = np.zeros((len(order), 1 + len(names)))
    finite = [float(s.score) for s in model_items if s.item_id in order and math.isfinite(float(s.score))]
    if finite:
        lo, hi = min(finite), max(finite)
        for s in model_items:
            row = order.get(s.item_id)
            if row is not None and math.isfinite(float(s.score)):
                matrix[row, 0] = 1.0 if hi <= lo else (float(s.score) - lo) / (hi - lo)
    if signals is not None:
        for col, name in enumerate(names, start=1):
            scores = _signal_scores(signals, name)
            best = max((v for _, v in tops[col - 1]), default=0.0)
            if best <= 0:
                continue
            for item, row in order.items():
                value = scores.get(item)
                if value:
                    matrix[row, col] = value / best
    return list(order), matrix


def reference_blend(
    model_items: Sequence[Any],
    signals: StreamSignals | None,
    weights: dict[str, float],
    names: Sequence[str],
    n: int,
    exclude: Collection[str] = (),
    include: Sequence[str] | None = None,
    ranker: Any = None,
    lengths: tuple[int, int] = (0, 0),
) -> list[BlendedItem]:
    items, matrix = reference_columns(model_items, signals, names, exclude, include=include)
    if not items:
        return []
    w = weight_vector(weights, names)
    score = matrix @ w
    if ranker is not None:
        score = ranker.score(matrix, context_features(items, model_items, *lengths), score)
    best = np.lexsort((np.arange(len(items)), -score))[:n]
    by_model = {s.item_id: s for s in model_items}
    out = []
    for row in best:
        item = items[row]
        contrib = matrix[row] * w
        stream = tuple(names[c - 1] for c in range(1, len(w)) if contrib[c] > 0)
        own = by_model.get(item)
        if own is not None and matrix[row, 0] > 0:
            out.append(BlendedItem(item, float(score[row]), own.reason, (*own.sources, *stream)))
            continue
        top = names[int(np.argmax(contrib[1:]))] if stream else ""
        reason = REASONS.get(top, "trending now") if stream else (own.reason if own else "popular now")
        out.append(BlendedItem(item, float(score[row]), reason, stream or tuple(own.sources if own else ())))
    return out


NAMES = ["session_knn", "covisit", "next_item", "trending_900", "trending_3600"]


def _case(rng: random.Random) -> tuple[list[BlendedItem], StreamSignals, dict[str, float]]:
    catalog = [f"i{k}" for k in range(rng.randint(1, 400))]
    model = [
        BlendedItem(
            item,
            rng.choice([rng.random(), rng.random(), 0.5, float("nan"), -rng.random(), 3]),
            rng.choice(["because you read x", "popular now"]),
            ("als",) if rng.random() < 0.5 else ("als", "content"),
        )
        for item in rng.sample(catalog, rng.randint(0, min(150, len(catalog))))
    ]

    def signal() -> dict[str, float]:
        chosen = rng.sample(catalog, rng.randint(0, min(200, len(catalog))))
        return {i: rng.choice([rng.random() * 9, 1.0, 2, 0.0]) for i in chosen}

    signals = StreamSignals(
        watermark_ms=1,
        trending={900: signal(), 3600: signal()},
        next_item=signal(),
        covisit=signal(),
        session_knn=signal(),
    )
    weights = {MODEL: rng.choice([0.0, 1.0, 0.3])} | {n: rng.choice([0.0, 0.1, 0.3, 1.0]) for n in NAMES}
    return model, signals, weights


class _Correction:
    """Stands in for ``StreamRanker``: any deterministic correction of the linear blend."""

    def score(self, matrix: Any, context: Any, linear: Any) -> Any:
        return linear + 0.1 * matrix[:, ::-1].cumsum(axis=1)[:, -1] - 0.01 * context.sum(axis=1)


@pytest.mark.parametrize("seed", range(40))
def test_vectorised_blend_equals_the_element_wise_one(seed: int) -> None:
    rng = random.Random(seed)
    model, signals, weights = _case(rng)
    all_items = sorted({m.item_id for m in model} | set(signals.covisit) | set(signals.trending[900]))
    exclude = set(rng.sample(all_items, min(len(all_items), rng.randint(0, 20))))
    names = rng.choice([NAMES, NAMES[:3], [], ["trending_900"]])
    n = rng.choice([1, 10, 100, 1000])
    include = rng.sample(all_items, min(len(all_items), 30)) if rng.random() < 0.3 else None
    ranker = _Correction() if seed % 3 == 0 else None
    lengths = (rng.randint(0, 50), rng.randint(0, 10))
    got = blend(model, signals, weights, names, n, exclude, include=include, ranker=ranker, lengths=lengths)
    expected = reference_blend(model, signals, weights, names, n, exclude, include, ranker, lengths)
    assert got == expected
    items, matrix = columns(model, signals, names, exclude, include=include)
    ref_items, ref_matrix = reference_columns(model, signals, names, exclude, include=include)
    assert items == ref_items
    assert np.array_equal(matrix, ref_matrix)  # bit for bit (no NaN reaches the matrix)
    assert got or not items
