"""Interaction logs, stable id <-> index maps and the stratified train/test split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.sparse import csr_matrix

IdArray = npt.NDArray[np.generic]


@dataclass(frozen=True)
class IdIndex:
    """A stable, sorted mapping between external ids and dense matrix indices.

    Attributes:
        ids: The external ids, sorted; position ``i`` holds the id of index ``i``.
    """

    ids: IdArray

    @classmethod
    def from_ids(cls, ids: npt.ArrayLike) -> IdIndex:
        """Builds an index over the distinct values of ``ids`` (sorted, so it is stable)."""
        return cls(np.unique(np.asarray(ids)))

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def lookup(self, ids: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Returns the index of each id, or -1 for ids that are not in the index."""
        values = np.asarray(ids)
        if len(self) == 0:
            return np.full(values.shape, -1, dtype=np.int64)
        pos = np.searchsorted(self.ids, values)
        pos = np.clip(pos, 0, len(self) - 1)
        found = self.ids[pos] == values
        return np.where(found, pos, -1).astype(np.int64)

    def to_ids(self, indices: npt.ArrayLike) -> IdArray:
        """Returns the external ids of the given indices."""
        return self.ids[np.asarray(indices, dtype=np.int64)]


@dataclass(frozen=True)
class Interactions:
    """A log of user-item interactions, one row per event.

    Attributes:
        user_ids: External user id of each event.
        item_ids: External item id of each event.
        values: Strength of each event (a rating, a count, or 1.0).
        timestamps: Event time of each event in unix seconds, or ``None``.
    """

    user_ids: IdArray
    item_ids: IdArray
    values: npt.NDArray[np.float64]
    timestamps: npt.NDArray[np.int64] | None = None

    def __post_init__(self) -> None:
        n = len(self.user_ids)
        lengths = {len(self.item_ids), len(self.values)}
        if self.timestamps is not None:
            lengths.add(len(self.timestamps))
        if lengths != {n}:
            raise ValueError("user_ids, item_ids, values and timestamps must have the same length")

    def subset(self, mask: npt.NDArray[np.bool_]) -> Interactions:
        """The events where ``mask`` is true."""
        times = self.timestamps[mask] if self.timestamps is not None else None
        return Interactions(self.user_ids[mask], self.item_ids[mask], self.values[mask], times)

    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        user_col: str = "userID",
        item_col: str = "itemID",
        value_col: str | None = "rating",
        timestamp_col: str | None = "timestamp",
    ) -> Interactions:
        """Builds interactions from a DataFrame; a missing value column means 1.0 per event."""
        values = (
            df[value_col].to_numpy(dtype=np.float64)
            if value_col is not None and value_col in df
            else np.ones(len(df), dtype=np.float64)
        )
        timestamps = (
            df[timestamp_col].to_numpy(dtype=np.int64)
            if timestamp_col is not None and timestamp_col in df
            else None
        )
        return cls(df[user_col].to_numpy(), df[item_col].to_numpy(), values, timestamps)

    def __len__(self) -> int:
        return len(self.user_ids)

    def to_matrix(
        self,
        users: IdIndex | None = None,
        items: IdIndex | None = None,
        binary: bool = False,
    ) -> tuple[csr_matrix, IdIndex, IdIndex]:
        """Builds the users x items CSR matrix.

        Duplicate (user, item) events are summed (or set to 1.0 when ``binary``). Events
        whose user or item is not in a given index are dropped, so a test log can be
        mapped onto the training indices.

        Args:
            users: Index of users; built from this log when omitted.
            items: Index of items; built from this log when omitted.
            binary: Store 1.0 for every observed pair instead of the summed values.

        Returns:
            The matrix, the user index and the item index.
        """
        users = users if users is not None else IdIndex.from_ids(self.user_ids)
        items = items if items is not None else IdIndex.from_ids(self.item_ids)
        rows = users.lookup(self.user_ids)
        cols = items.lookup(self.item_ids)
        keep = (rows >= 0) & (cols >= 0)
        matrix = csr_matrix(
            (self.values[keep], (rows[keep], cols[keep])),
            shape=(len(users), len(items)),
            dtype=np.float64,
        )
        matrix.sum_duplicates()
        if binary:
            matrix.data[:] = 1.0
        return matrix, users, items


def python_stratified_split(
    df: pd.DataFrame,
    ratio: float = 0.75,
    min_rating: int = 1,
    filter_by: Literal["user", "item"] = "user",
    seed: int = 42,
    user_col: str = "userID",
    item_col: str = "itemID",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Splits each user's (or item's) events ``ratio`` / ``1 - ratio`` at random.

    Reproduces ``recommenders.datasets.python_splitters.python_stratified_split`` row
    for row: every row gets a draw from ``np.random.RandomState(seed).rand`` in input
    order, rows are ordered by (group, draw), and a row goes to train when its 1-based
    rank within the group is at most ``round(ratio * group size)``, rounded half to even
    as pandas does (the library calls ``round`` on a Series). A group of one row
    therefore lands in train (``round(0.75) == 1``), a group of two rows entirely in train
    (``round(1.5) == 2``), a group of five keeps four rows in train.

    Args:
        df: Events, one row each; not modified.
        ratio: Share of each group's events that goes to train, in (0, 1).
        min_rating: Groups with fewer events are dropped first.
        filter_by: Group by ``"user"`` or by ``"item"``.
        seed: Seed of the random draws.
        user_col: Name of the user id column.
        item_col: Name of the item id column.

    Returns:
        The train and test frames, ordered by (group, draw), with the input columns.

    Raises:
        ValueError: On a ratio outside (0, 1), ``min_rating < 1`` or a bad ``filter_by``.
    """
    if not 0.0 < ratio < 1.0:
        raise ValueError("ratio must be between 0 and 1")
    if min_rating < 1:
        raise ValueError("min_rating must be at least 1")
    if filter_by not in ("user", "item"):
        raise ValueError("filter_by must be 'user' or 'item'")
    group_col = user_col if filter_by == "user" else item_col
    data = df
    if min_rating > 1:
        counts = data.groupby(group_col)[group_col].transform("count")
        data = data[counts >= min_rating]
    draws = np.random.RandomState(seed).rand(len(data))
    data = data.assign(_draw=draws).sort_values([group_col, "_draw"])
    groups = data.groupby(group_col)
    rank = groups.cumcount() + 1
    # Series.round is numpy's round half to even, exactly what the library gets from round(Series)
    in_train = (rank <= (ratio * groups[group_col].transform("count")).round()).to_numpy()
    data = data.drop(columns="_draw")
    return data[in_train], data[~in_train]


def train_histories(train: Interactions) -> dict[str, list[str]]:
    """Each user's distinct training items, most recent first (what the online store keeps)."""
    frame = pd.DataFrame(
        {
            "u": np.asarray(train.user_ids).astype(str),
            "i": np.asarray(train.item_ids).astype(str),
            "t": train.timestamps if train.timestamps is not None else np.arange(len(train)),
            "o": np.arange(len(train)),
        }
    )
    frame = frame.sort_values(["u", "t", "o"], ascending=[True, False, False], kind="stable")
    frame = frame.drop_duplicates(["u", "i"])
    return {str(u): g["i"].tolist() for u, g in frame.groupby("u", sort=False)}
