"""Find, download, load and hot-swap the served model artifact.

The model URI is a registry alias (``models:/recsys-acme@champion``), a fixed
registry version (``models:/recsys-acme/3``) or a local artifact folder. An alias is
re-resolved in a background thread; when it moves, the new version is loaded next
to the old one and swapped in with one reference assignment, so a request that
already holds the old :class:`LoadedModel` finishes on it and none fails. A load
that fails keeps the old model serving and logs the error.
"""

from __future__ import annotations

import hashlib
import logging
import math
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from recsys_model_servers.rerank import ItemInfo
from recsys_model_servers.settings import REGISTRY_URI

log = logging.getLogger(__name__)


class ScoredItemLike(Protocol):
    """``recsys_platform.recommenders.hybrid.ScoredItem``."""

    @property
    def item_id(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def reason(self) -> str: ...
    @property
    def sources(self) -> tuple[str, ...]: ...


class ServingModel(Protocol):
    """What the server uses of ``HybridRecommender`` (model_api.md)."""

    @property
    def item_ids(self) -> Any:
        """External item ids in index order."""
        ...

    def recommend(
        self,
        history: Sequence[str],
        n: int = 10,
        *,
        exclude: Collection[str] = (),
        category_affinity: Mapping[str, float] | None = None,
        now: float | None = None,
        exclude_history: bool = True,
    ) -> Sequence[ScoredItemLike]: ...

    def similar_items(
        self, item_id: str, n: int = 10, *, exclude: Collection[str] = ()
    ) -> Sequence[ScoredItemLike]: ...

    def popular(
        self, n: int = 10, *, exclude: Collection[str] = (), now: float | None = None
    ) -> Sequence[ScoredItemLike]: ...

    def item_metadata(self, item_id: str) -> Mapping[str, Any]: ...


@runtime_checkable
class ItemScoringModel(Protocol):
    """A model that scores given items for a history (``HybridRecommender.score_items``): the
    re-rank request uses it; for a model without it the server ranks the given items by the
    model's full ``recommend`` list instead."""

    def score_items(
        self,
        history: Sequence[str],
        item_ids: Sequence[str],
        *,
        category_affinity: Mapping[str, float] | None = None,
        now: float | None = None,
    ) -> Sequence[ScoredItemLike]: ...


class ModelLoadError(RuntimeError):
    """The model could not be resolved, downloaded or loaded; the message says which step."""


@dataclass(frozen=True)
class ModelRef:
    """A parsed model URI."""

    uri: str
    registered_name: str | None = None
    alias: str | None = None
    version: str | None = None
    path: Path | None = None


def parse_model_uri(uri: str) -> ModelRef:
    """``models:/name@alias``, ``models:/name/3``, ``file:///abs/dir`` or a folder path."""
    if uri.startswith("models:/"):
        match = REGISTRY_URI.match(uri)
        if match is None:
            raise ValueError(f"model_uri: not models:/<name>@<alias> or models:/<name>/<version>: {uri!r}")
        return ModelRef(uri, match["name"], match["alias"], match["version"])
    path = Path(uri.removeprefix("file://")).expanduser()
    return ModelRef(uri, path=path)


@dataclass(frozen=True)
class LoadedModel:
    """A loaded artifact and what the request path precomputes from it."""

    model: ServingModel
    version: str
    """Registry version (``"3"``), or ``local-<manifest sha256 prefix>`` for a folder."""
    source: str
    """Where it came from: ``models:/recsys-acme/3`` or the folder."""
    items: Mapping[str, ItemInfo]
    """Every item of the model's index with its categories, age and availability."""
    cold_start_threshold: int = 1
    loaded_at: float = field(default_factory=time.time)


def item_table(model: ServingModel) -> dict[str, ItemInfo]:
    """Categories, creation time and availability of every item the model knows."""
    table: dict[str, ItemInfo] = {}
    for raw in model.item_ids:
        item_id = str(raw)
        meta = model.item_metadata(item_id)
        created = meta.get("created_at")
        created_f = float(created) if created is not None else None
        table[item_id] = ItemInfo(
            categories=frozenset(str(c) for c in (meta.get("categories") or ())),
            created_at=created_f if created_f is not None and math.isfinite(created_f) else None,
            available=bool(meta.get("available", True)),
        )
    return table


def prepare(model: ServingModel, version: str, source: str) -> LoadedModel:
    """Wrap a loaded model with its item table."""
    items = item_table(model)
    config = getattr(model, "config", None)
    threshold = int(getattr(config, "cold_start_threshold", 1) or 1)
    return LoadedModel(
        model=model,
        version=version,
        source=source,
        items=items,
        cold_start_threshold=threshold,
    )


def find_manifest(root: Path) -> Path:
    """The folder holding the shallowest ``manifest.json`` under ``root``."""
    found = sorted(root.rglob("manifest.json"), key=lambda p: (len(p.parts), str(p)))
    if not found:
        raise ModelLoadError(f"no manifest.json under {root}: not a recsys model artifact")
    return found[0].parent


def local_version(folder: Path) -> str:
    """``local-`` + the first 12 hex digits of the manifest's sha256."""
    return "local-" + hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()[:12]


class Registry(Protocol):
    """The model registry as the loader uses it."""

    def resolve(self, name: str, alias: str) -> str:
        """The version the alias points at."""
        ...

    def download(self, name: str, version: str, destination: Path) -> Path:
        """Download the version's artifacts into ``destination``; return the folder."""
        ...


class MlflowRegistry:
    """MLflow model registry (``MlflowClient``) and artifact download."""

    def __init__(self, tracking_uri: str | None) -> None:
        import os

        from mlflow import MlflowClient

        # A progress bar per download is noise in a server's log (one line per file).
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

        self._tracking_uri = tracking_uri
        self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def resolve(self, name: str, alias: str) -> str:
        return str(self._client.get_model_version_by_alias(name, alias).version)

    def download(self, name: str, version: str, destination: Path) -> Path:
        import mlflow.artifacts

        # The version's storage URI, as the registry adapter does (MlflowModelRegistry.download):
        # ``models:/...`` would resolve against the process-global registry URI (MLFLOW_REGISTRY_URI
        # or MLFLOW_TRACKING_URI in the environment), not the one this server was given.
        location = self._client.get_model_version_download_uri(name, version)
        out = mlflow.artifacts.download_artifacts(
            artifact_uri=location, dst_path=str(destination), tracking_uri=self._tracking_uri
        )
        return Path(out)


def _default_load(folder: Path) -> ServingModel:
    from recsys_platform.recommenders.artifact import load_model

    model: ServingModel = load_model(folder)
    return model


class ModelLoader:
    """Holds the served model; loads it, and swaps it when the registry alias moves."""

    def __init__(
        self,
        ref: ModelRef,
        *,
        registry: Registry | None = None,
        poll_seconds: float = 30.0,
        load_artifact: Callable[[Path], ServingModel] = _default_load,
        on_swap: Callable[[LoadedModel, LoadedModel], None] | None = None,
    ) -> None:
        if ref.registered_name is not None and registry is None:
            raise ValueError(f"{ref.uri} needs a model registry")
        self.ref = ref
        self._registry = registry
        self._poll_seconds = poll_seconds
        self._load_artifact = load_artifact
        self._on_swap = on_swap
        self._current: LoadedModel | None = None
        self._swap_lock = threading.Lock()  # one load at a time; readers never take it
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def current(self) -> LoadedModel:
        """The model serving right now (read once per request and keep it)."""
        current = self._current
        if current is None:
            raise ModelLoadError("no model loaded yet")
        return current

    @property
    def loaded(self) -> bool:
        """Whether a model has been loaded."""
        return self._current is not None

    def load(self) -> LoadedModel:
        """Load the model the URI names now (blocking). Raises :class:`ModelLoadError`."""
        with self._swap_lock:
            if self.ref.path is not None:
                loaded = self._load_folder(self.ref.path)
            else:
                version = self.ref.version or self._resolve()
                loaded = self._load_version(version)
            self._swap(loaded)
            return loaded

    def refresh(self) -> bool:
        """Re-resolve an alias; load and swap if it moved. Never raises: a failure is logged
        and the current model keeps serving. Returns whether the model changed."""
        if self.ref.alias is None:
            return False
        with self._swap_lock:
            try:
                version = self._resolve()
                if self._current is not None and version == self._current.version:
                    return False
                log.info("alias %s moved to version %s, loading it", self.ref.uri, version)
                loaded = self._load_version(version)
            except Exception:
                log.exception("reloading %s failed; the current model keeps serving", self.ref.uri)
                return False
            self._swap(loaded)
            return True

    def start(self) -> None:
        """Poll the alias every ``poll_seconds`` in a daemon thread (no-op without an alias)."""
        if self.ref.alias is None or self._poll_seconds <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._poll, name="model-alias-poll", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _poll(self) -> None:
        while not self._stop.wait(self._poll_seconds):
            self.refresh()

    def _resolve(self) -> str:
        assert self._registry is not None and self.ref.registered_name and self.ref.alias
        try:
            return self._registry.resolve(self.ref.registered_name, self.ref.alias)
        except Exception as exc:
            raise ModelLoadError(f"resolving {self.ref.uri} failed: {type(exc).__name__}: {exc}") from exc

    def _load_version(self, version: str) -> LoadedModel:
        assert self._registry is not None and self.ref.registered_name
        source = f"models:/{self.ref.registered_name}/{version}"
        tmp = Path(tempfile.mkdtemp(prefix="recsys-model-"))
        try:
            try:
                folder = self._registry.download(self.ref.registered_name, version, tmp)
            except Exception as exc:
                raise ModelLoadError(f"downloading {source} failed: {type(exc).__name__}: {exc}") from exc
            return self._load_artifact_at(find_manifest(folder), version, source)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # the model is in memory now

    def _load_folder(self, path: Path) -> LoadedModel:
        if not path.is_dir():
            raise ModelLoadError(f"model_uri: {path} is not a folder")
        folder = find_manifest(path)
        return self._load_artifact_at(folder, local_version(folder), str(folder))

    def _load_artifact_at(self, folder: Path, version: str, source: str) -> LoadedModel:
        started = time.perf_counter()
        try:
            model = self._load_artifact(folder)
        except Exception as exc:
            raise ModelLoadError(f"loading {source} failed: {type(exc).__name__}: {exc}") from exc
        loaded = prepare(model, version, source)
        log.info(
            "loaded model %s (version %s, %d items) in %.2f s",
            source,
            version,
            len(loaded.items),
            time.perf_counter() - started,
        )
        return loaded

    def _swap(self, loaded: LoadedModel) -> None:
        previous, self._current = self._current, loaded
        if previous is not None and self._on_swap is not None:
            self._on_swap(previous, loaded)
