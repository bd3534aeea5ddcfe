"""Tiny synthetic matrices shared by the recommender tests."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import csr_matrix


@pytest.fixture
def two_groups() -> csr_matrix:
    """Users 0-3 like items 0-3, users 4-7 like items 4-7.

    Item 3 is the one group-A item user 0 has not seen; item 7 the one for user 4.
    """
    dense = np.array(
        [
            [1, 1, 1, 0, 0, 0, 0, 0],
            [1, 1, 1, 1, 0, 0, 0, 0],
            [0, 1, 1, 1, 0, 0, 0, 0],
            [1, 0, 1, 1, 0, 0, 0, 0],
            [0, 0, 0, 0, 1, 1, 1, 0],
            [0, 0, 0, 0, 1, 1, 1, 1],
            [0, 0, 0, 0, 0, 1, 1, 1],
            [0, 0, 0, 0, 1, 0, 1, 1],
        ],
        dtype=float,
    )
    return csr_matrix(dense)
