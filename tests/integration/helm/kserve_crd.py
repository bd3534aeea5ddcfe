"""Validate KServe custom resources against the CRDs' ``openAPIV3Schema`` without a cluster.

The CRD files are vendored in ``third_party/kserve/crds`` (or ``RECSYS_KSERVE_CRD_DIR``); their
digests are checked against ``SHA256SUMS``. The test API server has the same files applied.
Validation is stricter than a default API server: unknown fields are errors (as with
``kubectl apply --validate=strict``), and ``metadata`` is checked for the name, namespace,
label and annotation rules the API server enforces.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
CRD_FILES = {
    "InferenceService": "serving.kserve.io_inferenceservices.yaml",
    "ServingRuntime": "serving.kserve.io_servingruntimes.yaml",
    "ClusterServingRuntime": "serving.kserve.io_clusterservingruntimes.yaml",
}
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_KEY_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def crd_dir() -> Path:
    configured = os.environ.get("RECSYS_KSERVE_CRD_DIR")
    path = Path(configured) if configured else REPO / "third_party" / "kserve" / "crds"
    if not (path / "SHA256SUMS").is_file():
        pytest.fail(
            f"KServe CRD schemas not found in {path}: set RECSYS_KSERVE_CRD_DIR to a folder with "
            "KServe's config/crd/full/serving.kserve.io_*.yaml and SHA256SUMS",
            pytrace=False,
        )
    return path


@functools.cache
def crd(kind: str) -> dict[str, Any]:
    """The CRD document of ``kind``, after checking its digest."""
    folder = crd_dir()
    filename = CRD_FILES[kind]
    sums = dict(
        reversed(line.split()) for line in (folder / "SHA256SUMS").read_text().splitlines() if line.strip()
    )
    data = (folder / filename).read_bytes()
    assert hashlib.sha256(data).hexdigest() == sums[filename], f"{filename} does not match SHA256SUMS"
    document: dict[str, Any] = yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    assert document["spec"]["names"]["kind"] == kind
    return document


def _strict(node: Any) -> Any:
    """Close every object schema that lists its properties (unknown fields become errors)."""
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def _validator(kind: str) -> tuple[jsonschema.Draft7Validator, str]:
    document = crd(kind)
    (version,) = [v for v in document["spec"]["versions"] if v.get("storage")]
    schema = _strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata", "spec"})
    api_version = f"{document['spec']['group']}/{version['name']}"
    return jsonschema.Draft7Validator(schema), api_version


def _metadata_errors(kind: str, metadata: Any) -> list[str]:
    if not isinstance(metadata, dict):
        return ["metadata: must be an object"]
    errors: list[str] = []
    scope = crd(kind)["spec"]["scope"]
    name = metadata.get("name")
    # InferenceService names become Knative/Service names: RFC 1035 labels.
    pattern = _DNS1035_LABEL if kind == "InferenceService" else _DNS1123_LABEL
    if not isinstance(name, str) or len(name) > 63 or not pattern.match(name):
        errors.append(f"metadata.name: {name!r} is not a valid {kind} name")
    namespace = metadata.get("namespace")
    if scope == "Namespaced":
        if namespace is not None and (not isinstance(namespace, str) or not _DNS1123_LABEL.match(namespace)):
            errors.append(f"metadata.namespace: {namespace!r} is not a DNS-1123 label")
    elif namespace is not None:
        errors.append(f"metadata.namespace: {kind} is cluster-scoped")
    for key, value in (metadata.get("labels") or {}).items():
        prefix, _, label = str(key).rpartition("/")
        if not _LABEL_KEY_NAME.match(label) or len(label) > 63 or len(prefix) > 253:
            errors.append(f"metadata.labels: invalid key {key!r}")
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            errors.append(f"metadata.labels.{key}: invalid value {value!r}")
    for key, value in (metadata.get("annotations") or {}).items():
        if not isinstance(value, str):
            errors.append(f"metadata.annotations.{key}: must be a string")
    unknown = set(metadata) - {"name", "namespace", "labels", "annotations", "generateName"}
    if unknown:
        errors.append(f"metadata: unexpected fields {sorted(unknown)}")
    return errors


def errors(document: dict[str, Any]) -> list[str]:
    """Every problem of a KServe custom resource; empty when it is valid."""
    kind = document.get("kind")
    if kind not in CRD_FILES:
        return [f"kind: {kind!r} is not one of {sorted(CRD_FILES)}"]
    validator, api_version = _validator(kind)
    found = [
        f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in validator.iter_errors(document)
    ]
    if document.get("apiVersion") != api_version:
        found.append(f"apiVersion: {document.get('apiVersion')!r} is not {api_version!r}")
    return found + _metadata_errors(kind, document.get("metadata"))


def assert_valid(document: dict[str, Any]) -> None:
    problems = errors(document)
    assert not problems, (
        f"{document.get('kind')}/{(document.get('metadata') or {}).get('name')}: " + "; ".join(problems)
    )
