"""Validate one catalog record against a tenant's declared schema.

Kept separate from storage so the import path can validate a whole batch,
keep the good records and report each bad one with its field and reason.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from recsys_platform.catalog.schemas import CatalogField, CatalogSchema
from recsys_platform.errors import FieldError

ITEM_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,199}$")
MAX_STRING = 10_000
MAX_LIST = 200


class RecordInvalid(Exception):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in errors))
        self.errors = errors


def validate_item(record: Any, schema: CatalogSchema) -> tuple[str, dict[str, Any]]:
    """Return ``(item_id, normalised attributes)`` or raise :class:`RecordInvalid`."""
    if not isinstance(record, dict):
        raise RecordInvalid([FieldError("item", "must be a JSON object")])
    errors: list[FieldError] = []
    item_id = record.get("item_id")
    if not isinstance(item_id, str) or not ITEM_ID_RE.fullmatch(item_id):
        errors.append(
            FieldError(
                "item_id",
                "required: 1-200 characters, letters, digits and ._:@/- , starting with a letter or digit",
            )
        )
    declared = schema.by_name()
    attributes: dict[str, Any] = {}
    for name, value in record.items():
        if name == "item_id":
            continue
        spec = declared.get(name)
        if spec is None:
            errors.append(FieldError(name, "not declared in the tenant's catalog schema"))
            continue
        if value is None:
            if spec.required:
                errors.append(FieldError(name, "required field is null"))
            continue
        try:
            attributes[name] = _coerce(value, spec)
        except ValueError as exc:
            errors.append(FieldError(name, str(exc)))
    for spec in schema.fields:
        if spec.required and spec.name not in record:
            errors.append(FieldError(spec.name, "required field is missing"))
    if errors:
        raise RecordInvalid(errors)
    assert isinstance(item_id, str)
    return item_id, attributes


def _coerce(value: Any, spec: CatalogField) -> Any:
    kind = spec.type
    if kind in ("string", "text"):
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {_json_type(value)}")
        if len(value) > MAX_STRING:
            raise ValueError(f"longer than {MAX_STRING} characters")
        if "\x00" in value:
            raise ValueError("contains a NUL character")
        return value
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {_json_type(value)}")
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {_json_type(value)}")
        try:
            finite = math.isfinite(value)
        except OverflowError:  # an int too large for a float
            raise ValueError("out of range for a 64-bit floating-point number") from None
        if not finite:
            raise ValueError("must be a finite number")
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {_json_type(value)}")
        return value
    if kind == "timestamp":
        if not isinstance(value, str):
            raise ValueError(f"expected an ISO 8601 timestamp string, got {_json_type(value)}")
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"'{value[:40]}' is not an ISO 8601 timestamp") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        try:
            return parsed.astimezone(UTC).isoformat()
        except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
            raise ValueError(f"'{value[:40]}' is out of range in UTC") from None
    if kind == "string_list":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("expected a list of strings")
        if len(value) > MAX_LIST:
            raise ValueError(f"more than {MAX_LIST} entries")
        if any("\x00" in v for v in value):
            raise ValueError("contains a NUL character")
        return value
    if kind == "variants":
        return _variants(value)
    raise ValueError(f"unsupported field type {kind}")  # pragma: no cover - Literal guards it


VARIANT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
FEATURE_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
MAX_VARIANTS = 20
MAX_VARIANT_FEATURES = 20


def _variants(value: Any) -> list[dict[str, Any]]:
    """``[{"id": ..., "features": {name: string | number | boolean}}]``, ids unique."""
    if not isinstance(value, list) or not value:
        raise ValueError("expected a non-empty list of {id, features} objects")
    if len(value) > MAX_VARIANTS:
        raise ValueError(f"more than {MAX_VARIANTS} variants")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, v in enumerate(value):
        if not isinstance(v, dict) or set(v) - {"id", "features"}:
            raise ValueError(f"[{i}]: expected an object with 'id' and optional 'features'")
        vid = v.get("id")
        if not isinstance(vid, str) or not VARIANT_ID_RE.fullmatch(vid):
            raise ValueError(f"[{i}].id: required, 1-63 letters, digits and ._-")
        if vid in seen:
            raise ValueError(f"[{i}].id: '{vid}' repeats")
        seen.add(vid)
        features = v.get("features", {})
        if not isinstance(features, dict) or len(features) > MAX_VARIANT_FEATURES:
            raise ValueError(f"[{i}].features: expected an object of at most {MAX_VARIANT_FEATURES} entries")
        for name, fv in features.items():
            if not FEATURE_NAME_RE.fullmatch(name):
                raise ValueError(f"[{i}].features.{name[:40]}: names are lowercase letters, digits, _")
            if not isinstance(fv, str | int | float | bool) or (isinstance(fv, str) and len(fv) > 200):
                raise ValueError(f"[{i}].features.{name}: expected a string (<= 200), number or boolean")
            if isinstance(fv, float) and not math.isfinite(fv):
                raise ValueError(f"[{i}].features.{name}: must be a finite number")
        out.append({"id": vid, "features": dict(features)})
    return out


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def incompatible_changes(old: CatalogSchema, new: CatalogSchema) -> list[FieldError]:
    """Changes that would invalidate stored items: removed, retyped or newly required fields."""
    problems: list[FieldError] = []
    new_fields = new.by_name()
    old_fields = old.by_name()
    for name, f in old_fields.items():
        if name not in new_fields:
            problems.append(FieldError(name, "cannot remove a field while items exist"))
        elif new_fields[name].type != f.type:
            problems.append(
                FieldError(name, f"cannot change type {f.type} -> {new_fields[name].type} while items exist")
            )
        elif new_fields[name].required and not f.required:
            problems.append(FieldError(name, "cannot make an existing field required while items exist"))
    for name, f in new_fields.items():
        if name not in old_fields and f.required:
            problems.append(FieldError(name, "a new field cannot be required while items exist"))
    return problems
