"""Generators as plug-ins: the registry, the discriminated config, per-generator save/load and
reading models written before the plug-ins (schema 2)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError
from recsys_platform.recommenders.artifact import load_model, save_model
from recsys_platform.recommenders.config import HybridConfig, RankerConfig
from recsys_platform.recommenders.exceptions import ArtifactError
from recsys_platform.recommenders.generators import (
    KINDS,
    REGISTRY,
    AlsConfig,
    EaseConfig,
    GeneratorConfig,
    ItemKnnConfig,
    PopularityConfig,
)

HISTORIES = [["tech-1", "tech-2", "tech-3", "tech-4"], ["food-1"], [], ["sports-1", "travel-2", "sports-3"]]


def test_every_registered_generator_has_a_config_kind_and_a_feature_position() -> None:
    assert set(REGISTRY) == set(KINDS)
    adapter: TypeAdapter[Any] = TypeAdapter(GeneratorConfig)
    for kind in KINDS:
        assert adapter.validate_python({"kind": kind}).kind == kind


def test_an_unknown_kind_or_setting_is_refused_naming_it() -> None:
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        HybridConfig.model_validate({"generators": [{"kind": "deep_magic"}]})
    with pytest.raises(ValidationError, match="generators.0.ease.lambda"):
        HybridConfig.model_validate({"generators": [{"kind": "ease", "lambda": 3}]})
    with pytest.raises(ValidationError, match="als listed more than once"):
        HybridConfig.model_validate({"generators": [{"kind": "als"}, {"kind": "als", "factors": 4}]})


def test_popularity_is_always_there() -> None:
    config = HybridConfig(generators=[ItemKnnConfig(neighbours=7)])
    assert config.kinds == ["item_knn", "popularity"]
    assert config.generator("popularity") == PopularityConfig()


def test_the_schema_2_flat_form_reads_as_the_same_config() -> None:
    legacy = HybridConfig.model_validate(
        {
            "generators": ["ease", "als", "popularity"],
            "ease_lambda": 80.0,
            "als_iterations": 3,
            "knn_neighbours": 9,
        }
    )
    assert legacy.generators == [EaseConfig(l2=80.0), AlsConfig(iterations=3), PopularityConfig()]
    assert HybridConfig.model_validate({"als_factors": 8}) == HybridConfig().with_generator("als", factors=8)


def test_each_generator_saves_and_loads_its_own_files(topic_model: Any, tmp_path: Path) -> None:
    state = topic_model.state
    history = np.asarray([0, 3, 5], dtype=np.int64)
    for kind, generator in state.generators.items():
        folder = tmp_path / kind
        folder.mkdir()
        files = generator.save(folder)
        assert sorted(p.name for p in folder.iterdir()) == sorted(files)
        loaded = REGISTRY[kind].load(folder, files, generator.config, state.n_items)
        before, after = generator.retrieve(history, 20), loaded.retrieve(history, 20)
        assert before is not None and after is not None
        np.testing.assert_array_equal(before.scores, after.scores)
        if before.retrieved is not None:
            assert after.retrieved is not None
            np.testing.assert_array_equal(before.retrieved, after.retrieved)


def test_a_file_of_the_wrong_shape_is_refused_naming_it(topic_model: Any, tmp_path: Path) -> None:
    generator = topic_model.state.generators["item_knn"]
    files = generator.save(tmp_path)
    with pytest.raises(ArtifactError, match=r"knn\.npz: shape"):
        REGISTRY["item_knn"].load(tmp_path, files, generator.config, topic_model.state.n_items + 1)


def to_schema_2(folder: Path) -> None:
    """Rewrites a saved model in the layout written before generator plug-ins."""
    manifest = json.loads((folder / "manifest.json").read_text())
    with np.load(folder / "items.npz", allow_pickle=False) as arrays:
        items = {k: arrays[k] for k in arrays.files}
    items["popularity"] = np.load(folder / "popularity.npy")
    np.savez(folder / "items.npz", **items)
    (folder / "popularity.npy").unlink()
    config = manifest["config"]
    flat = {"ease": {"l2": "ease_lambda"}, "als": {"factors": "als_factors", "iterations": "als_iterations"}}
    names = []
    for entry in config["generators"]:
        names.append(entry["kind"])
        for field, old in flat.get(entry["kind"], {}).items():
            config[old] = entry[field]
    config["generators"] = names
    manifest["schema_version"] = 2
    files = {k: v for k, v in manifest["files"].items() if k != "popularity.npy"}
    files["items.npz"] = hashlib.sha256((folder / "items.npz").read_bytes()).hexdigest()
    manifest["files"] = files
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_a_model_written_before_the_plug_ins_serves_the_same_lists(topic_model: Any, tmp_path: Path) -> None:
    folder = save_model(topic_model, tmp_path / "model")
    shutil.copytree(folder, tmp_path / "legacy")
    to_schema_2(tmp_path / "legacy")
    legacy = load_model(tmp_path / "legacy")
    assert legacy.config == topic_model.config
    for history in HISTORIES:
        assert legacy.recommend(history, 10) == topic_model.recommend(history, 10)
    assert legacy.similar_items("tech-1", 5) == topic_model.similar_items("tech-1", 5)


def test_a_generator_the_config_does_not_list_is_not_used(topic_data: tuple[Any, Any]) -> None:
    from recsys_platform.recommenders.hybrid import HybridRecommender

    log, catalog = topic_data
    config = HybridConfig(
        generators=[ItemKnnConfig()], ranker=RankerConfig(enabled=False), cold_start_threshold=2
    )
    model = HybridRecommender.fit(log, catalog, config)
    assert sorted(model.state.generators) == ["item_knn", "popularity"]
    recs = model.recommend(["tech-1", "tech-2", "tech-3"], 5)
    assert recs and all(set(r.sources) <= {"item_knn", "popularity"} for r in recs)
