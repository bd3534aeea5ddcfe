"""Content-model quality on the MIND sample's news.tsv: leave-one-out category retrieval.

The MIND sample's ``news.tsv`` (2,000 articles) and ``behaviors.tsv`` are independent
random subsets: only ~2% of the clicked ids have an article in ``news.tsv``. So this is
not a click benchmark. It measures what the content model can honestly be asked on this
data: for every article, are its 10 most similar other articles (TF-IDF cosine) from the
same category / subcategory? Precision@10 is the share of the 10 neighbours that do.

Rows: the expected value of a random neighbour list; a category-only model (category and
subcategory tokens, no words: it sees the labels it is scored on, so it is an upper
reference, not a result); text-only models (title; title + abstract), which show the
signal in the words alone; and the full model (title + abstract + category tokens),
whose category precision is partly circular for the same reason.

    OPENBLAS_NUM_THREADS=1 python benchmarks/quality_mind_content.py
    python benchmarks/quality_mind_content.py --data /path/to/datasets --no-write

Writes the section "Quality: content model on MIND sample (news.tsv)" to
docs/benchmarks.md (``--no-write`` to skip).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "platform"))
from _machine import machine, now, write_section  # noqa: E402
from recsys_platform.recommenders.generators.content import ContentRecommender  # noqa: E402

K = 10
DEFAULT_DATA = ROOT.parent / "shared" / "datasets"
COLUMNS = [
    "news_id",
    "category",
    "subcategory",
    "title",
    "abstract",
    "url",
    "title_entities",
    "abstract_entities",
]
TITLE = "Quality: content model on MIND sample (news.tsv)"


@dataclass(frozen=True)
class Variant:
    """One content-model configuration: which fields feed it."""

    text_fields: tuple[str, ...]
    category_fields: tuple[str, ...]
    make: Callable[[], ContentRecommender]


@dataclass(frozen=True)
class Result:
    """Precision@10 of one variant plus its timings."""

    name: str
    p_category: float
    p_subcategory: float
    fit_ms: float | None = None
    query_ms: float | None = None


def variants() -> dict[str, Variant]:
    """The compared models, all with min_df=1, sublinear tf and English stop words."""
    cats = ("category", "subcategory")
    return {
        "category-only (category + subcategory tokens)": Variant(
            ("title",), cats, lambda: ContentRecommender(use_text=False)
        ),
        "text-only: title": Variant(("title",), cats, lambda: ContentRecommender(use_categories=False)),
        "text-only: title + abstract": Variant(
            ("title", "abstract"), cats, lambda: ContentRecommender(use_categories=False)
        ),
        "full: title + abstract + category tokens": Variant(
            ("title", "abstract"), cats, lambda: ContentRecommender()
        ),
    }


def load_news(data_dir: Path) -> pd.DataFrame:
    """Reads ``mind-small-sample/news.tsv`` under ``data_dir``; exits with a message if missing."""
    path = data_dir / "mind-small-sample" / "news.tsv"
    if not path.exists():
        raise SystemExit(f"MIND sample not found at {path}; pass --data <datasets folder>")
    df = pd.read_csv(path, sep="\t", header=None, names=COLUMNS, quoting=3, dtype=str)
    return df.fillna({"title": "", "abstract": ""})


def random_baseline(labels: np.ndarray) -> float:
    """Expected precision@k of k neighbours drawn uniformly from the other articles."""
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    return float(np.mean((counts[inverse] - 1) / (labels.shape[0] - 1)))


def evaluate(name: str, variant: Variant, df: pd.DataFrame, fit_repeats: int = 3) -> Result:
    """Fits the variant on all articles, queries every article's top-10 and scores it."""
    texts = {field: df[field].tolist() for field in variant.text_fields}
    categories = {field: df[field].tolist() for field in variant.category_fields}
    fit_seconds = []
    model = variant.make()
    for _ in range(fit_repeats):
        model = variant.make()
        start = time.perf_counter()
        model.fit_items(df["news_id"].to_numpy(), texts, categories)
        fit_seconds.append(time.perf_counter() - start)
    category = df["category"].to_numpy()
    subcategory = df["subcategory"].to_numpy()
    hits_cat = np.zeros(len(df))
    hits_sub = np.zeros(len(df))
    query_seconds = np.zeros(len(df))
    for i in range(len(df)):
        start = time.perf_counter()
        neighbours, _ = model.similar_items(i, K)
        query_seconds[i] = time.perf_counter() - start
        hits_cat[i] = np.mean(category[neighbours] == category[i])
        hits_sub[i] = np.mean(subcategory[neighbours] == subcategory[i])
    return Result(
        name,
        float(hits_cat.mean()),
        float(hits_sub.mean()),
        fit_ms=1000 * float(np.median(fit_seconds)),
        query_ms=1000 * float(np.median(query_seconds)),
    )


def run(df: pd.DataFrame) -> list[Result]:
    """The random baseline and every variant."""
    results = [
        Result(
            "random (expected)",
            random_baseline(df["category"].to_numpy()),
            random_baseline(df["subcategory"].to_numpy()),
        )
    ]
    results.extend(evaluate(name, variant, df) for name, variant in variants().items())
    return results


def table(results: list[Result]) -> str:
    """Renders the results as one markdown table."""
    lines = [
        "| model | P@10 same category | P@10 same subcategory | fit_items ms (median of 3) "
        "| similar-items query ms (median) |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        fit = f"{r.fit_ms:.0f}" if r.fit_ms is not None else ""
        query = f"{r.query_ms:.3f}" if r.query_ms is not None else ""
        lines.append(f"| {r.name} | {r.p_category:.4f} | {r.p_subcategory:.4f} | {fit} | {query} |")
    return "\n".join(lines)


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding mind-small-sample/")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    started, host = now(), machine()
    df = load_news(args.data)
    results = run(df)
    rendered = table(results)
    summary = (
        f"{len(df):,} articles, {df['category'].nunique()} categories, "
        f"{df['subcategory'].nunique()} subcategories."
    )
    print(summary)
    print(rendered)
    if not args.no_write:
        body = (
            f"`python benchmarks/quality_mind_content.py`, {started}; {host}.\n\n"
            f"`../shared/datasets/mind-small-sample/news.tsv` only: {summary} The sample's "
            "`behaviors.tsv` is an independent subset (about 2% of clicked ids are in `news.tsv`), "
            "so this is not a click benchmark. Task: leave-one-out category retrieval. For each "
            "article, take its 10 most similar other articles by TF-IDF cosine "
            "(`ContentRecommender.similar_items`). P@10 is the share of them in the same category "
            "(or subcategory), averaged over all articles. `ContentRecommender` defaults apply: "
            "sublinear tf, English stop words, min_df=1, max_features=50,000, rows L2-normalised. "
            "The category-only and full models use the category labels as tokens. Their precision "
            "is therefore partly circular: category-only is an upper reference, not a result. "
            "The text-only rows show the signal in the words. Random is the exact expectation. "
            "Timings are single-threaded (`OPENBLAS_NUM_THREADS=1`). Query time is the median "
            "of one `similar_items` call per article.\n\n" + rendered
        )
        write_section(TITLE, body)


if __name__ == "__main__":
    main()
