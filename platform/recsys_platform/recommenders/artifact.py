"""The one on-disk model format: a directory with a manifest and plain array files.

``manifest.json`` holds the schema version, creation time, config, counts, library versions
and the sha256 of every other file. Arrays are ``.npy``/``.npz`` (loaded with
``allow_pickle=False``), sparse matrices scipy ``.npz``, the ALS index a FAISS file, the
ranker LightGBM's text format, the catalog and vocabulary JSON. Nothing is pickled, so a
tampered artifact cannot run code; :func:`load_model` refuses a missing or corrupt file,
a checksum mismatch or another schema version with an :class:`ArtifactError` naming it.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError
from scipy.sparse import csr_matrix, load_npz, save_npz

from recsys_platform.recommenders.config import HybridConfig
from recsys_platform.recommenders.exceptions import ArtifactError
from recsys_platform.recommenders.generators import REGISTRY, default_configs
from recsys_platform.recommenders.generators.base import check_shape
from recsys_platform.recommenders.hybrid import SCHEMA_VERSION, HybridRecommender
from recsys_platform.recommenders.model_state import ModelState

ARTIFACT_SCHEMA_VERSION = SCHEMA_VERSION
READABLE_SCHEMA_VERSIONS = (2, SCHEMA_VERSION)
"""Schema 2 (before generator plug-ins: flat config, popularity in items.npz) is still read."""
MANIFEST = "manifest.json"
__all__ = ["ARTIFACT_SCHEMA_VERSION", "ArtifactError", "load_model", "save_model"]

_LIBRARIES = ("numpy", "scipy", "scikit-learn", "implicit", "faiss-cpu", "lightgbm", "pandas")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _versions() -> dict[str, str]:
    out = {}
    for name in _LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "unknown"
    return out


def save_model(model: HybridRecommender, directory: str | Path) -> Path:
    """Writes the model to ``directory`` (created; existing model files are overwritten).

    Returns:
        The directory.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    s = model.state
    np.savez(
        out / "items.npz",
        item_ids=s.item_ids.astype(str),
        counts=s.counts,
        last_event=s.last_event,
        first_event=s.first_event,
    )
    catalog = [
        {
            "title": str(r.title),
            "text": str(r.text),
            "categories": list(r.categories),
            "created_at": None if math.isnan(float(r.created_at)) else float(r.created_at),
            "available": bool(r.available),
        }
        for r in s.catalog.itertuples(index=False)
    ]
    (out / "catalog.json").write_text(json.dumps(catalog))
    save_npz(out / "item_categories.npz", csr_matrix(s.item_categories))
    files = ["items.npz", "catalog.json", "item_categories.npz"]
    for generator in s.generators.values():
        files += generator.save(out)
    if s.time_hist is not None and s.time_global is not None:
        np.savez(out / "time.npz", hist=s.time_hist, glob=s.time_global)
        files.append("time.npz")
    if s.ranker_model:
        (out / "ranker.txt").write_text(s.ranker_model)
        files.append("ranker.txt")
    if s.stream_ranker_model:
        (out / "stream_ranker.txt").write_text(s.stream_ranker_model)
        files.append("stream_ranker.txt")
    manifest = {
        "schema_version": ARTIFACT_SCHEMA_VERSION,
        "created_at": time.time(),
        "fitted_at": s.fitted_at,
        "config": model.config.model_dump(mode="json"),
        "counts": {"items": s.n_items, "users": s.n_users, "events": s.n_events},
        "generators": list(s.generators),
        "skipped": s.skipped,
        "validation": s.validation,
        "category_names": s.category_names,
        "libraries": _versions(),
        "files": {name: _sha256(out / name) for name in files},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return out


def _read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.is_file():
        raise ArtifactError(f"{path}: manifest.json is missing (not a model artifact)")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: manifest.json is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{path}: manifest.json must hold an object")
    version = manifest.get("schema_version")
    if version not in READABLE_SCHEMA_VERSIONS:
        raise ArtifactError(
            f"{path}: field 'schema_version' is {version!r}, this code reads "
            + " and ".join(str(v) for v in READABLE_SCHEMA_VERSIONS)
        )
    for key in ("config", "files", "counts", "fitted_at", "category_names"):
        if key not in manifest:
            raise ArtifactError(f"{path}: field {key!r} is missing")
    return manifest


def _verify(directory: Path, files: dict[str, str]) -> None:
    for name, expected in files.items():
        path = directory / name
        if not path.is_file():
            raise ArtifactError(f"{path}: file listed in manifest.json is missing")
        if _sha256(path) != expected:
            raise ArtifactError(f"{path}: sha256 does not match manifest.json (corrupt or modified)")


def load_model(directory: str | Path) -> HybridRecommender:
    """Reads a model written by :func:`save_model`, validating checksums, versions and shapes.

    Raises:
        ArtifactError: Missing/corrupt file, checksum mismatch, wrong schema version, invalid
            config or inconsistent shapes; the message names the file or field.
    """
    root = Path(directory)
    manifest = _read_manifest(root)
    files: dict[str, str] = manifest["files"]
    _verify(root, files)
    try:
        config = HybridConfig.model_validate(manifest["config"])
    except ValidationError as exc:
        raise ArtifactError(f"{root / MANIFEST}: field 'config' is invalid: {exc}") from exc
    try:
        state = _load_state(root, files, manifest, config)
    except ArtifactError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ArtifactError(f"{root}: could not read the model files: {exc}") from exc
    return HybridRecommender(config, state)


def _load_state(
    root: Path, files: dict[str, str], manifest: dict[str, Any], config: HybridConfig
) -> ModelState:
    with np.load(root / "items.npz", allow_pickle=False) as arrays:
        items = {k: arrays[k] for k in arrays.files}
    n = int(items["item_ids"].shape[0])
    if n != manifest["counts"].get("items"):
        raise ArtifactError(f"{root / 'items.npz'}: {n} items, manifest field 'counts.items' says otherwise")
    records = json.loads((root / "catalog.json").read_text())
    if len(records) != n:
        raise ArtifactError(f"{root / 'catalog.json'}: {len(records)} records for {n} items")
    catalog = pd.DataFrame(records, columns=["title", "text", "categories", "created_at", "available"])
    catalog.insert(0, "item_id", items["item_ids"].astype(str))
    catalog["created_at"] = catalog["created_at"].astype(float)
    state = ModelState(
        item_ids=items["item_ids"].astype(str),
        catalog=catalog,
        category_names=list(manifest["category_names"]),
        item_categories=csr_matrix(load_npz(root / "item_categories.npz")),
        counts=items["counts"],
        last_event=items["last_event"],
        first_event=items["first_event"],
        fitted_at=float(manifest["fitted_at"]),
        n_users=int(manifest["counts"].get("users", 0)),
        n_events=int(manifest["counts"].get("events", 0)),
        skipped=dict(manifest.get("skipped", {})),
        validation=dict(manifest.get("validation", {})),
    )
    wanted = {g.kind: g for g in config.generators}
    for kind in manifest.get("generators", []):
        if kind not in REGISTRY:
            raise ArtifactError(f"{root / MANIFEST}: field 'generators' names unknown generator {kind!r}")
        settings = wanted.get(kind) or _default_settings(kind)
        state.generators[kind] = REGISTRY[kind].load(root, files, settings, n)
    if "popularity" not in state.generators:
        raise ArtifactError(f"{root / MANIFEST}: field 'generators' lacks 'popularity'")
    if "time.npz" in files:
        with np.load(root / "time.npz", allow_pickle=False) as arrays:
            state.time_hist, state.time_global = arrays["hist"], arrays["glob"]
        check_shape(root / "time.npz", state.time_hist.shape[:1], (n,))
        if state.time_global.shape != state.time_hist.shape[1:]:
            raise ArtifactError(f"{root / 'time.npz'}: 'glob' and 'hist' have different bin counts")
    if "ranker.txt" in files:
        state.ranker_model = (root / "ranker.txt").read_text()
    if "stream_ranker.txt" in files:
        state.stream_ranker_model = (root / "stream_ranker.txt").read_text()
    return state


def _default_settings(kind: str) -> Any:
    """A generator the model has but its config no longer lists (the ranker tuning may drop one)."""
    return next(g for g in default_configs() if g.kind == kind)
