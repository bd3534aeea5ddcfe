"""Interaction matrices and the stratified split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from recsys_platform.recommenders.data import IdIndex, Interactions, python_stratified_split


def frame(n_users: int = 30, n_items: int = 12, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pairs = {
        (int(u), int(i))
        for u, i in zip(rng.integers(0, n_users, 300), rng.integers(0, n_items, 300), strict=True)
    }
    rows = sorted(pairs)
    return pd.DataFrame(
        {
            "userID": [f"u{u}" for u, _ in rows],
            "itemID": [100 + i for _, i in rows],
            "rating": rng.integers(1, 6, len(rows)).astype(float),
            "timestamp": np.arange(len(rows)),
        }
    )


def test_matrix_has_stable_index_maps_and_sums_duplicates() -> None:
    log = Interactions(np.array(["b", "a", "b"]), np.array([20, 10, 20]), np.array([1.0, 2.0, 3.0]), None)
    matrix, users, items = log.to_matrix()
    assert list(users.ids) == ["a", "b"] and list(items.ids) == [10, 20]
    assert matrix.toarray().tolist() == [[2.0, 0.0], [0.0, 4.0]]
    assert log.to_matrix(binary=True)[0].toarray().tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_unknown_ids_are_dropped_when_mapping_onto_existing_indices() -> None:
    users, items = IdIndex.from_ids(["a"]), IdIndex.from_ids([1])
    log = Interactions(np.array(["a", "zz"]), np.array([1, 1]), np.ones(2))
    matrix, _, _ = log.to_matrix(users, items)
    assert matrix.shape == (1, 1) and matrix.sum() == 1.0
    assert users.lookup(["zz", "a"]).tolist() == [-1, 0]


def test_mismatched_lengths_are_rejected() -> None:
    with pytest.raises(ValueError, match="same length"):
        Interactions(np.array([1, 2]), np.array([1]), np.ones(2))


@pytest.mark.parametrize("filter_by", ["user", "item"])
def test_split_is_deterministic_disjoint_and_complete(filter_by: str) -> None:
    df = frame()
    train, test = python_stratified_split(df, filter_by=filter_by, seed=7)  # type: ignore[arg-type]
    again_train, _ = python_stratified_split(df, filter_by=filter_by, seed=7)  # type: ignore[arg-type]
    assert train.index.equals(again_train.index)
    assert set(train.index).isdisjoint(test.index)
    assert len(train) + len(test) == len(df)
    other, _ = python_stratified_split(df, filter_by=filter_by, seed=8)  # type: ignore[arg-type]
    assert not other.index.sort_values().equals(train.index.sort_values())


def test_split_is_stratified_per_item() -> None:
    df = frame(n_users=200, n_items=5, seed=1)
    train, test = python_stratified_split(df, ratio=0.75, filter_by="item")
    for item, group in df.groupby("itemID"):
        n = len(group)
        # rank <= round(0.75 n) goes to train (round half to even, as the library does)
        assert (train["itemID"] == item).sum() == int(np.round(0.75 * n))


def test_split_rounds_each_group_like_the_library() -> None:
    # group sizes 1, 2, 5: round(0.75)=1, round(1.5)=2, round(3.75)=4 rows in train
    df = pd.DataFrame({"userID": [1, 2, 2, 3, 3, 3, 3, 3], "itemID": [1, 1, 2, 1, 2, 3, 4, 5]})
    train, test = python_stratified_split(df, ratio=0.75, filter_by="user")
    assert train["userID"].value_counts().sort_index().tolist() == [1, 2, 4]
    assert test["userID"].tolist() == [3]


def test_split_matches_the_reference_algorithm() -> None:
    df = frame()
    np.random.seed(42)
    ref = df.assign(random=np.random.rand(len(df))).sort_values(["userID", "random"])
    groups = ref.groupby("userID")
    rank = groups.cumcount() + 1
    cut = round(0.75 * groups["userID"].transform("count"))  # the library's own expression
    train, test = python_stratified_split(df, filter_by="user", seed=42)
    assert train.index.equals(ref.index[rank <= cut])
    assert test.index.equals(ref.index[rank > cut])


def test_min_rating_drops_small_groups() -> None:
    df = pd.DataFrame({"userID": [1, 1, 1, 1, 2], "itemID": [1, 2, 3, 4, 1]})
    train, test = python_stratified_split(df, min_rating=2, filter_by="user")
    assert 2 not in set(train["userID"]) | set(test["userID"])
