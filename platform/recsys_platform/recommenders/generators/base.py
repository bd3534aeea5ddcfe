"""The contract every batch candidate generator implements, what it is fitted on, and the registry.

A generator is one file under ``recommenders/generators/``: a pydantic config with a literal
``kind`` (a member of the discriminated union ``GeneratorConfig``), and a class derived from
:class:`Generator` registered with :func:`register`. The hybrid model fits, scores, explains,
saves and loads every generator through this contract only, so adding an algorithm touches its
own file and the union in ``generators/__init__.py``; nothing else.

Scores are over the model's item index (``FitData.items``); a history is an array of item
indices, most recent first, already cut to ``max_history``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel
from scipy.sparse import csr_matrix

from recsys_platform.recommenders.data import IdIndex, Interactions

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class FitData:
    """What every generator is fitted on (built once per fit by ``model_state.fit_state``)."""

    matrix: csr_matrix
    """Binary users x items matrix of the interactions."""
    users: IdIndex
    items: IdIndex
    interactions: Interactions
    """The raw log: ids as strings, values (ratings, weights) and unix timestamps (zeros if none)."""
    item_cols: I64
    """Item index of each interaction (aligned with ``interactions``)."""
    times: F64
    """Unix time of each interaction (zeros when the log has none)."""
    catalog: pd.DataFrame
    """Item metadata aligned with ``items`` (``title``, ``text``, ``categories``, ...)."""
    seed: int
    num_threads: int

    @property
    def n_items(self) -> int:
        """Items in the model's index."""
        return len(self.items)


@dataclass(frozen=True)
class Retrieval:
    """A generator's answer for one history: a dense score per item and, when the generator
    retrieves with its own index (FAISS), that index's candidate order."""

    scores: F64
    retrieved: I64 | None = None


class SkipGenerator(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by ``fit`` when the generator cannot run on this data; the message says why and
    is recorded in the model (``ModelState.skipped``)."""


C = TypeVar("C", bound=BaseModel)


class Generator(ABC, Generic[C]):
    """One candidate generator: fit, retrieve/score, explain, save and load."""

    kind: ClassVar[str]
    """The generator's name: its config ``kind``, its blend-weight key and its feature prefix."""
    collaborative: ClassVar[bool] = False
    """Learns from co-interactions; its candidates are explained "because you liked X"."""
    needs_history: ClassVar[bool] = True
    """Scores nothing for an empty history (popularity is the exception)."""
    similar_weight: ClassVar[float] = 0.0
    """Weight of :meth:`similar` in ``similar_items`` (0 = not used there)."""

    def __init__(self, config: C) -> None:
        self.config = config

    @classmethod
    @abstractmethod
    def fit(cls, data: FitData, config: C) -> Generator[C]:
        """Fits on ``data``; raises :class:`SkipGenerator` (with the reason) when it cannot run."""

    @abstractmethod
    def retrieve(self, history: I64, k: int) -> Retrieval | None:
        """Scores every item for ``history``; ``k`` = how many candidates an own index should
        return. None when the generator has nothing to say (e.g. an empty history)."""

    def explain(self, history: I64, items: I64) -> F64 | None:
        """``len(history) x len(items)`` contribution of each history item to each item's score
        (the anchor of "because you liked X"), or None when the generator cannot say."""
        return None

    def similar(self, item: int) -> F64 | None:
        """Similarity of every item to ``item`` (for ``similar_items``), or None."""
        return None

    @abstractmethod
    def save(self, directory: Path) -> list[str]:
        """Writes the fitted arrays (no pickle) into ``directory``; returns the file names."""

    @classmethod
    @abstractmethod
    def load(cls, directory: Path, files: Collection[str], config: C, n_items: int) -> Generator[C]:
        """Reads what :meth:`save` wrote; raises ``ArtifactError`` naming a file whose shape
        does not match ``n_items``."""


REGISTRY: dict[str, type[Generator[Any]]] = {}
"""Every generator kind, in registration order (= the ranker's feature column order)."""

G = TypeVar("G", bound=type[Generator[Any]])


def register(cls: G) -> G:
    """Class decorator adding a generator to :data:`REGISTRY` under its ``kind``."""
    if cls.kind in REGISTRY:
        raise ValueError(f"generator kind {cls.kind!r} is registered twice")
    REGISTRY[cls.kind] = cls
    return cls


def check_shape(path: Path, actual: tuple[int, ...], expected: tuple[int, ...]) -> None:
    """Raises ``ArtifactError`` when a loaded array does not fit the model's item count."""
    from recsys_platform.recommenders.exceptions import ArtifactError

    if tuple(actual) != expected:
        raise ArtifactError(f"{path}: shape {tuple(actual)} does not match the {expected} items in items.npz")


def sum_rows(matrix: csr_matrix | npt.NDArray[np.float32], rows: I64) -> F64:
    """Sum of the given rows of a dense or sparse item x item matrix, as float64."""
    if isinstance(matrix, np.ndarray):
        return np.asarray(matrix[rows].sum(axis=0, dtype=np.float64), dtype=np.float64)
    return np.asarray(matrix[rows].sum(axis=0), dtype=np.float64).ravel()
