"""Content generator: TF-IDF over item text plus categorical tokens, user profile = mean item vector.

Each item is one TF-IDF row built from its text fields (title, abstract, description...)
and its categorical fields (category, subcategory, genres, tags...). Categorical values
become single tokens prefixed by their field name (``category=sports``), so they never
collide with words of the text. Rows are L2-normalised, so ``items @ items.T`` is the
cosine similarity.

A user's profile is the (optionally recency-weighted) mean of the rows of the items the
user interacted with, L2-normalised; an item's score is the profile's cosine with the
item. Items need no interactions to be scored: after ``fit_items`` with a new catalog
every new article is recommendable at once, which is what a news feed needs. A user with
no interactions gets all-zero scores (a hybrid falls back to popularity).

Memory is the sparse item matrix (``items * distinct tokens per item`` entries) plus the
sparse user profiles; scoring is one sparse product per batch of users.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Literal, Self

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy.sparse import csr_matrix, diags, load_npz, save_npz
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from recsys_platform.recommenders.base import FloatArray, IndexArray, NotFittedError
from recsys_platform.recommenders.generators.base import (
    F64,
    I64,
    FitData,
    Generator,
    Retrieval,
    SkipGenerator,
    check_shape,
    register,
    sum_rows,
)

TextValue = str | None
CategoryValue = str | Sequence[str] | None


class _Analyzer:
    """Turns one ``(text, category tokens)`` document into tokens (picklable, unlike a lambda)."""

    def __init__(self, use_text: bool, use_categories: bool) -> None:
        self.use_text = use_text
        self.use_categories = use_categories
        self._words = TfidfVectorizer(stop_words="english", lowercase=True).build_analyzer()

    def __call__(self, document: tuple[str, tuple[str, ...]]) -> list[str]:
        text, categories = document
        tokens: list[str] = list(self._words(text)) if self.use_text else []
        if self.use_categories:
            tokens.extend(categories)
        return tokens


def _text(value: TextValue) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


def _category_tokens(field: str, value: CategoryValue) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    values = [value] if isinstance(value, str) else list(value)
    return [f"{field}={v.strip().lower()}" for v in values if isinstance(v, str) and v.strip()]


class ContentRecommender:
    """Scores ``normalize(mean of the user's item rows) @ items.T`` over TF-IDF item rows.

    Args:
        min_df: Minimum document frequency of a token (count, or fraction if a float < 1).
        max_features: Keep at most this many tokens (by corpus frequency); ``None`` keeps all.
        use_text: Use the words of the text fields.
        use_categories: Use the categorical fields as ``field=value`` tokens.
        category_weight: Multiplies the category columns before the rows are normalised
            (1.0 keeps plain TF-IDF weights).
        recency_half_life: If set (same unit as the ``event_times`` given to ``fit``), an
            interaction's weight in the profile halves every ``recency_half_life``.
        binary: Treat every interaction as 1 (else weight by the stored value).
    """

    def __init__(
        self,
        min_df: int | float = 1,
        max_features: int | None = 50_000,
        use_text: bool = True,
        use_categories: bool = True,
        category_weight: float = 1.0,
        recency_half_life: float | None = None,
        binary: bool = True,
    ) -> None:
        if not use_text and not use_categories:
            raise ValueError("use_text and use_categories cannot both be False")
        if category_weight < 0:
            raise ValueError("category_weight must be non-negative")
        if recency_half_life is not None and recency_half_life <= 0:
            raise ValueError("recency_half_life must be positive")
        self.min_df = min_df
        self.max_features = max_features
        self.use_text = use_text
        self.use_categories = use_categories
        self.category_weight = category_weight
        self.recency_half_life = recency_half_life
        self.binary = binary
        self.item_ids_: npt.NDArray[np.generic] | None = None
        self.item_matrix_: csr_matrix | None = None
        self.vocabulary_: dict[str, int] | None = None
        self._weights: csr_matrix | None = None
        self._history_ids: npt.NDArray[np.generic] | None = None
        self._profiles: csr_matrix | None = None

    def fit_items(
        self,
        item_ids: npt.ArrayLike,
        texts: Mapping[str, Sequence[TextValue]],
        categories: Mapping[str, Sequence[CategoryValue]] | None = None,
    ) -> Self:
        """Builds the L2-normalised TF-IDF item matrix; replaces any previous catalog.

        Interactions stored by an earlier ``fit`` are kept and matched to the new catalog
        by item id, so items added here are scored at once, without any interaction.

        Args:
            item_ids: Unique external id of each item; row ``i`` of the matrix is item ``i``.
            texts: Text field name -> one string (or ``None``) per item, e.g.
                ``{"title": [...], "abstract": [...]}``; the fields are concatenated.
            categories: Categorical field name -> one value, a list of values (genres,
                tags) or ``None`` per item, e.g. ``{"category": [...]}``.

        Returns:
            ``self``.

        Raises:
            ValueError: On duplicate ids, fields of the wrong length, or a catalog without
                text for the content model (every text field empty for every item).
        """
        ids = np.asarray(item_ids)
        n = int(ids.shape[0])
        if n == 0:
            raise ValueError("fit_items needs at least one item")
        if pd.Index(ids).has_duplicates:
            raise ValueError("item_ids must be unique")
        categories = categories or {}
        for kind, fields in (("text", texts), ("category", categories)):
            for name, values in fields.items():
                if len(values) != n:
                    raise ValueError(f"{kind} field {name!r} has {len(values)} values for {n} items")
        joined = [" ".join(_text(texts[name][i]) for name in texts).strip() for i in range(n)]
        if self.use_text and not any(joined):
            names = ", ".join(repr(name) for name in texts) or "(no text field given)"
            raise ValueError(
                f"text fields {names} are empty for every item: a catalog without text for the "
                "content model; give it titles/descriptions or use use_text=False"
            )
        cat_tokens = [
            tuple(token for name in categories for token in _category_tokens(name, categories[name][i]))
            for i in range(n)
        ]
        if not self.use_text and not any(cat_tokens):
            names = ", ".join(repr(name) for name in categories) or "(no category field given)"
            raise ValueError(f"category fields {names} are empty for every item and use_text=False")
        vectorizer = TfidfVectorizer(
            analyzer=_Analyzer(self.use_text, self.use_categories),
            sublinear_tf=True,
            min_df=self.min_df,
            max_features=self.max_features,
            dtype=np.float64,
        )
        matrix = csr_matrix(vectorizer.fit_transform(list(zip(joined, cat_tokens, strict=True))))
        vocabulary: dict[str, int] = {str(k): int(v) for k, v in vectorizer.vocabulary_.items()}
        if self.use_categories and self.category_weight != 1.0:
            column_weights = np.ones(matrix.shape[1])
            for token, column in vocabulary.items():
                if "=" in token and token.split("=", 1)[0] in categories:
                    column_weights[column] = self.category_weight
            matrix = csr_matrix(matrix @ diags(column_weights))
        self.item_matrix_ = csr_matrix(normalize(matrix, norm="l2", axis=1), dtype=np.float64)
        self.item_ids_ = ids
        self.vocabulary_ = vocabulary
        self._profiles = None
        return self

    def fit(self, train: csr_matrix, event_times: csr_matrix | None = None) -> Self:
        """Stores the users x items interactions (columns = the current ``fit_items`` order).

        Args:
            train: Users x items interactions; ``train.shape[1]`` may be smaller than the
                catalog (items appended after the log was built have no interactions).
            event_times: Same shape and non-zeros as ``train``, holding each interaction's
                time; required when ``recency_half_life`` is set, ignored otherwise.

        Returns:
            ``self``.
        """
        if self.item_ids_ is None:
            raise NotFittedError("call fit_items before fit")
        matrix = csr_matrix(train, dtype=np.float64, copy=True)
        matrix.eliminate_zeros()
        if matrix.shape[1] > self.item_ids_.shape[0]:
            raise ValueError(f"train has {matrix.shape[1]} items, the catalog {self.item_ids_.shape[0]}")
        if self.binary:
            matrix.data[:] = 1.0
        if self.recency_half_life is not None:
            if event_times is None:
                raise ValueError("event_times is required when recency_half_life is set")
            times = csr_matrix(event_times, dtype=np.float64)
            if times.shape != matrix.shape:
                raise ValueError("event_times must have the shape of train")
            latest = times.data.max() if times.nnz else 0.0
            decay = times.copy()
            decay.data = np.power(0.5, (latest - decay.data) / self.recency_half_life)
            weighted = csr_matrix(matrix.multiply(decay))
            if weighted.nnz != matrix.nnz:
                raise ValueError("event_times must hold a time for every interaction in train")
            matrix = weighted
        self._weights = matrix
        self._history_ids = self.item_ids_[: matrix.shape[1]].copy()
        self._profiles = None
        return self

    def _user_profiles(self) -> csr_matrix:
        if self.item_matrix_ is None or self.item_ids_ is None:
            raise NotFittedError("ContentRecommender has no items; call fit_items")
        if self._weights is None or self._history_ids is None:
            raise NotFittedError("ContentRecommender is not fitted; call fit")
        if self._profiles is None:
            # Match the interaction columns to the current catalog by id: items that left
            # the catalog drop out, new items simply have no interactions.
            current = pd.Index(self.item_ids_).get_indexer(self._history_ids)
            keep = np.flatnonzero(current >= 0)
            selector = csr_matrix(
                (np.ones(keep.shape[0]), (keep, current[keep])),
                shape=(self._history_ids.shape[0], self.item_ids_.shape[0]),
            )
            history_rows = csr_matrix(selector @ self.item_matrix_)
            # The mean and the sum normalise to the same profile.
            self._profiles = csr_matrix(normalize(self._weights @ history_rows, norm="l2", axis=1))
        return self._profiles

    def scores(self, user_indices: npt.ArrayLike) -> FloatArray:
        """Returns the cosine of each user's profile with every item (zeros for cold users)."""
        profiles = self._user_profiles()
        users = np.asarray(user_indices, dtype=np.int64)
        assert self.item_matrix_ is not None
        return np.asarray((profiles[users] @ self.item_matrix_.T).toarray(), dtype=np.float64)

    def similar_items(self, item_index: int, k: int = 10) -> tuple[IndexArray, FloatArray]:
        """Returns the ``k`` items most similar to ``item_index`` (itself excluded), best first.

        Args:
            item_index: Row of the item in the ``fit_items`` order.
            k: Number of neighbours; at most ``n_items - 1``.

        Returns:
            ``items`` (indices) and their cosine ``scores``; ties go to the lower index.
        """
        if self.item_matrix_ is None:
            raise NotFittedError("ContentRecommender has no items; call fit_items")
        n_items = self.item_matrix_.shape[0]
        if not 0 <= item_index < n_items:
            raise IndexError(f"item_index {item_index} out of range for {n_items} items")
        row = np.asarray((self.item_matrix_[item_index] @ self.item_matrix_.T).toarray()).ravel()
        row[item_index] = -np.inf
        k = min(k, n_items - 1)
        if k <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        # argpartition finds the k-th best score; every item tied with it stays a candidate
        # so the lower index wins ties deterministically.
        kth = row[np.argpartition(-row, k - 1)[k - 1]]
        candidates = np.flatnonzero(row >= kth)
        order = np.lexsort((candidates, -row[candidates]))[:k]
        items = candidates[order].astype(np.int64)
        return items, row[items].astype(np.float64)


class ContentConfig(BaseModel):
    """Hyper-parameters of the content (TF-IDF) generator."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["content"] = "content"
    max_features: int = Field(50_000, ge=1)
    category_weight: float = Field(1.0, ge=0.0)


@register
class ContentGenerator(Generator[ContentConfig]):
    """Serving content: cosine of the history's summed (normalised) TF-IDF profile with each item.

    Needs no interactions, so it scores items imported after the last event too, and it is the
    cold-start generator."""

    kind = "content"
    similar_weight = 0.5
    FILES = ("tfidf.npz", "vocabulary.json")

    def __init__(self, config: ContentConfig, tfidf: csr_matrix, vocabulary: dict[str, int]) -> None:
        super().__init__(config)
        self.tfidf = tfidf
        self.vocabulary = vocabulary

    @classmethod
    def fit(cls, data: FitData, config: ContentConfig) -> ContentGenerator:
        catalog = data.catalog
        has_text = bool((catalog["text"].str.strip() != "").any())
        has_categories = bool(any(len(c) for c in catalog["categories"]))
        if not has_text and not has_categories:
            raise SkipGenerator("the catalog has neither text nor categories")
        content = ContentRecommender(
            max_features=config.max_features,
            use_text=has_text,
            use_categories=has_categories,
            category_weight=config.category_weight,
        ).fit_items(
            data.items.ids.astype(str),
            texts={"text": catalog["text"].tolist()},
            categories={"category": catalog["categories"].tolist()},
        )
        assert content.item_matrix_ is not None and content.vocabulary_ is not None
        return cls(config, csr_matrix(content.item_matrix_, dtype=np.float32), content.vocabulary_)

    def retrieve(self, history: I64, k: int) -> Retrieval | None:
        if not history.shape[0]:
            return None
        profile = sum_rows(self.tfidf, history)
        norm = np.linalg.norm(profile)
        if norm <= 0:
            return None
        return Retrieval(np.asarray(self.tfidf @ (profile / norm), dtype=np.float64).ravel())

    def explain(self, history: I64, items: I64) -> F64 | None:
        return np.asarray((self.tfidf[history] @ self.tfidf[items].T).toarray(), dtype=np.float64)

    def similar(self, item: int) -> F64 | None:
        return np.asarray((self.tfidf @ self.tfidf[item].T).toarray(), dtype=np.float64).ravel()

    def save(self, directory: Path) -> list[str]:
        save_npz(directory / self.FILES[0], self.tfidf)
        (directory / self.FILES[1]).write_text(json.dumps(self.vocabulary))
        return list(self.FILES)

    @classmethod
    def load(
        cls, directory: Path, files: Collection[str], config: ContentConfig, n_items: int
    ) -> ContentGenerator:
        tfidf = csr_matrix(load_npz(directory / cls.FILES[0]))
        vocabulary = json.loads((directory / cls.FILES[1]).read_text())
        check_shape(directory / cls.FILES[0], tfidf.shape[:1], (n_items,))
        return cls(config, tfidf, vocabulary)
