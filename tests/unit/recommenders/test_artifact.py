"""Saving and loading the hybrid model: identical behaviour, refusal of bad artifacts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from recsys_platform.recommenders.artifact import (
    ARTIFACT_SCHEMA_VERSION,
    ArtifactError,
    load_model,
    save_model,
)

HISTORIES = [
    ["tech-1", "tech-2", "tech-3", "tech-4"],
    ["food-1"],
    [],
    ["sports-1", "travel-2", "sports-3", "sports-5", "travel-9"],
]


@pytest.fixture(scope="module")
def saved(topic_model: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_model(topic_model, tmp_path_factory.mktemp("artifact") / "model")


def copy_of(saved: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(saved, target)
    return target


def test_round_trip_gives_identical_recommendations(topic_model: Any, saved: Path) -> None:
    loaded = load_model(saved)
    for history in HISTORIES:
        assert loaded.recommend(history, 10) == topic_model.recommend(history, 10)
    assert loaded.similar_items("tech-1", 5) == topic_model.similar_items("tech-1", 5)
    assert loaded.popular(5) == topic_model.popular(5)
    assert loaded.config == topic_model.config
    assert list(loaded.item_ids) == list(topic_model.item_ids)


def test_manifest_lists_checksums_version_and_config(saved: Path) -> None:
    manifest = json.loads((saved / "manifest.json").read_text())
    assert manifest["schema_version"] == ARTIFACT_SCHEMA_VERSION
    assert {"items.npz", "ease.npy", "knn.npz", "als.faiss", "tfidf.npz"} <= set(manifest["files"])
    assert all(len(digest) == 64 for digest in manifest["files"].values())
    assert manifest["config"]["cold_start_threshold"] == 3
    assert not list(saved.glob("*.pkl"))


def test_a_corrupt_file_is_refused_naming_it(saved: Path, tmp_path: Path) -> None:
    broken = copy_of(saved, tmp_path)
    data = bytearray((broken / "ease.npy").read_bytes())
    data[-1] ^= 0xFF
    (broken / "ease.npy").write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=r"ease\.npy.*sha256"):
        load_model(broken)


def test_a_missing_file_is_refused_naming_it(saved: Path, tmp_path: Path) -> None:
    broken = copy_of(saved, tmp_path)
    (broken / "als.faiss").unlink()
    with pytest.raises(ArtifactError, match=r"als\.faiss.*missing"):
        load_model(broken)


def test_a_missing_manifest_is_refused(saved: Path, tmp_path: Path) -> None:
    broken = copy_of(saved, tmp_path)
    (broken / "manifest.json").unlink()
    with pytest.raises(ArtifactError, match="manifest.json is missing"):
        load_model(broken)


def test_another_schema_version_is_refused(saved: Path, tmp_path: Path) -> None:
    broken = copy_of(saved, tmp_path)
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["schema_version"] = ARTIFACT_SCHEMA_VERSION + 1
    (broken / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="schema_version"):
        load_model(broken)


def test_an_invalid_config_is_refused_naming_the_field(saved: Path, tmp_path: Path) -> None:
    broken = copy_of(saved, tmp_path)
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["config"]["no_such_option"] = 1
    (broken / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="config"):
        load_model(broken)


def test_time_histograms_round_trip(topic_data: tuple[Any, Any], tmp_path: Path) -> None:
    from recsys_platform.recommenders.config import HybridConfig, RankerConfig
    from recsys_platform.recommenders.hybrid import HybridRecommender

    log, catalog = topic_data
    config = HybridConfig(time_bins=8, ranker=RankerConfig(enabled=False)).with_generator(
        "als", factors=8, iterations=3
    )
    model = HybridRecommender.fit(log, catalog, config)
    loaded = load_model(save_model(model, tmp_path / "m"))
    assert "time.npz" in json.loads((tmp_path / "m" / "manifest.json").read_text())["files"]
    assert loaded.state.time_hist is not None and model.state.time_hist is not None
    assert (loaded.state.time_hist == model.state.time_hist).all()
    assert loaded.recommend(HISTORIES[0], 10) == model.recommend(HISTORIES[0], 10)
