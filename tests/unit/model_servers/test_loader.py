"""Model URIs, artifact discovery, alias polling and hot swaps (registry and artifacts faked).

The real MLflow registry and real artifacts: tests/integration/model_servers/.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import pytest
from recsys_model_servers.loader import (
    ModelLoader,
    ModelLoadError,
    ModelRef,
    find_manifest,
    local_version,
    parse_model_uri,
)

from tests.unit.model_servers.fakes import FakeModel


def artifact(root: Path, tag: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "manifest.json").write_text(json.dumps({"tag": tag}))
    return root


def load_fake(folder: Path) -> FakeModel:
    tag = json.loads((folder / "manifest.json").read_text())["tag"]
    if tag == "corrupt":
        raise ValueError("checksum mismatch in als_items.npy")
    return FakeModel(n_items=6, tag=tag)


class FakeRegistry:
    """Versions are folders under ``root``; the alias is a dict entry tests move."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.aliases: dict[str, str] = {}
        self.downloads: list[str] = []

    def publish(self, version: str, tag: str) -> None:
        artifact(self.root / version / "artifacts" / "recsys_model", tag)

    def resolve(self, name: str, alias: str) -> str:
        try:
            return self.aliases[alias]
        except KeyError:
            raise LookupError(f"alias {alias} not found for {name}") from None

    def download(self, name: str, version: str, destination: Path) -> Path:
        import shutil

        self.downloads.append(version)
        shutil.copytree(self.root / version, destination / "model")
        return destination / "model"


def test_parse_model_uri() -> None:
    assert parse_model_uri("models:/recsys-acme@champion") == ModelRef(
        "models:/recsys-acme@champion", "recsys-acme", alias="champion"
    )
    assert parse_model_uri("models:/recsys-acme/3").version == "3"
    assert parse_model_uri("file:///srv/model").path == Path("/srv/model")
    assert parse_model_uri("./model").path == Path("model")
    with pytest.raises(ValueError, match="model_uri"):
        parse_model_uri("models:/recsys-acme")


def test_find_manifest_picks_the_shallowest(tmp_path: Path) -> None:
    artifact(tmp_path / "a" / "b" / "deep", "deep")
    artifact(tmp_path / "a" / "top", "top")
    assert find_manifest(tmp_path) == tmp_path / "a" / "top"
    (tmp_path / "a" / "b" / "elsewhere").mkdir()
    with pytest.raises(ModelLoadError, match="no manifest.json"):
        find_manifest(tmp_path / "a" / "b" / "elsewhere")


def test_local_folder_loads_with_a_content_version(tmp_path: Path) -> None:
    folder = artifact(tmp_path / "m", "v1")
    loader = ModelLoader(parse_model_uri(str(tmp_path)), load_artifact=load_fake)
    loaded = loader.load()
    assert loaded.version == local_version(folder) and loaded.version.startswith("local-")
    assert set(loaded.items) == {f"i{k}" for k in range(6)}
    assert loaded.items["i4"].categories == frozenset({"c1"})
    assert loaded.cold_start_threshold == 2
    assert loader.refresh() is False  # nothing to poll for a folder


def test_missing_folder_and_corrupt_artifact_fail_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="is not a folder"):
        ModelLoader(parse_model_uri(str(tmp_path / "nope")), load_artifact=load_fake).load()
    artifact(tmp_path / "bad", "corrupt")
    with pytest.raises(ModelLoadError, match="checksum mismatch in als_items.npy"):
        ModelLoader(parse_model_uri(str(tmp_path / "bad")), load_artifact=load_fake).load()


def test_alias_moves_and_the_model_is_swapped(tmp_path: Path) -> None:
    registry = FakeRegistry(tmp_path / "registry")
    registry.publish("1", "v1")
    registry.publish("2", "v2")
    registry.aliases["champion"] = "1"
    swaps: list[tuple[str, str]] = []
    loader = ModelLoader(
        parse_model_uri("models:/recsys-acme@champion"),
        registry=registry,
        load_artifact=load_fake,
        on_swap=lambda old, new: swaps.append((old.version, new.version)),
    )
    assert loader.load().version == "1"
    assert loader.current.source == "models:/recsys-acme/1"
    assert loader.refresh() is False and registry.downloads == ["1"]  # unchanged alias: no download
    registry.aliases["champion"] = "2"
    assert loader.refresh() is True
    assert loader.current.version == "2" and swaps == [("1", "2")]
    assert loader.current.model.popular(1)[0].reason == "popular nowv2"


def test_failed_reload_keeps_serving_the_old_model(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    registry = FakeRegistry(tmp_path / "registry")
    registry.publish("1", "v1")
    registry.publish("2", "corrupt")
    registry.aliases["champion"] = "1"
    loader = ModelLoader(
        parse_model_uri("models:/recsys-acme@champion"), registry=registry, load_artifact=load_fake
    )
    loader.load()
    registry.aliases["champion"] = "2"
    with caplog.at_level(logging.ERROR, logger="recsys_model_servers.loader"):
        assert loader.refresh() is False
    assert loader.current.version == "1"
    assert "checksum mismatch" in caplog.text and "keeps serving" in caplog.text
    del registry.aliases["champion"]  # registry trouble: same
    assert loader.refresh() is False and loader.current.version == "1"


def test_unknown_alias_at_start_is_an_error_naming_the_uri(tmp_path: Path) -> None:
    loader = ModelLoader(
        parse_model_uri("models:/recsys-acme@champion"),
        registry=FakeRegistry(tmp_path),
        load_artifact=load_fake,
    )
    with pytest.raises(ModelLoadError, match="resolving models:/recsys-acme@champion failed"):
        loader.load()
    with pytest.raises(ModelLoadError, match="no model loaded"):
        _ = loader.current


def test_poll_thread_swaps_while_readers_never_fail(tmp_path: Path) -> None:
    registry = FakeRegistry(tmp_path / "registry")
    for v in ("1", "2"):
        registry.publish(v, f"v{v}")
    registry.aliases["champion"] = "1"
    loader = ModelLoader(
        parse_model_uri("models:/recsys-acme@champion"),
        registry=registry,
        poll_seconds=0.02,
        load_artifact=load_fake,
    )
    loader.load()
    errors: list[BaseException] = []
    seen: set[str] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                current = loader.current
                current.model.popular(2)
                seen.add(current.version)
            except BaseException as exc:  # pragma: no cover - the assertion below reports it
                errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    loader.start()
    registry.aliases["champion"] = "2"
    deadline = time.monotonic() + 5
    while loader.current.version != "2" and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    stop.set()
    thread.join()
    loader.stop()
    assert loader.current.version == "2"
    assert errors == [] and seen == {"1", "2"}
