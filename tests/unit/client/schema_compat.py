"""Is ``recsys-client`` compatible with the services' OpenAPI documents?

Each model of ``recsys_client.models`` is compared with the server schema of the same name
(FastAPI's ``-Input``/``-Output`` variants included), in the direction data flows:

* requests (client -> server): every field the client sends exists on the server, every field
  the server requires the client requires too, and every value the client can send the
  server accepts;
* answers (server -> client): every field the client requires the server always sends, and
  every value the server can send the client accepts (a new enum value breaks the client).
"""

from __future__ import annotations

import inspect
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from recsys_client import models as client_models

Schemas = dict[str, dict[str, Any]]


def client_classes() -> dict[str, type[BaseModel]]:
    return {
        name: cls
        for name, cls in vars(client_models).items()
        if inspect.isclass(cls)
        and issubclass(cls, BaseModel)
        and cls.__module__ == client_models.__name__
        and not name.startswith("_")
    }


def client_schemas() -> Schemas:
    classes = list(client_classes().values())
    _, doc = models_json_schema(
        [(c, "validation") for c in classes], ref_template="#/components/schemas/{model}"
    )
    defs: Schemas = doc.get("$defs", {})
    return defs


def is_request(name: str) -> bool:
    return issubclass(client_classes()[name], client_models._Request)


def _server_schema(server: Schemas, name: str, request: bool) -> dict[str, Any] | None:
    suffix = "-Input" if request else "-Output"
    return server.get(f"{name}{suffix}") or server.get(name)


def _alternatives(schema: dict[str, Any]) -> list[dict[str, Any]]:
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return [alt for s in schema[key] for alt in _alternatives(s)]
    if isinstance(schema.get("type"), list):
        return [{**schema, "type": t} for t in schema["type"]]
    return [schema]


def _ref_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref")
    if ref is None:
        return None
    name: str = ref.rsplit("/", 1)[-1]
    return name.removesuffix("-Input").removesuffix("-Output")


def _accepts(consumer: dict[str, Any], producer: dict[str, Any]) -> bool:
    """Whether every value ``producer`` allows is allowed by ``consumer`` (structural, with
    named objects compared by name; each named pair is checked on its own)."""
    if not consumer or consumer.get("type") is None and "$ref" not in consumer and "enum" not in consumer:
        return True  # Any
    if not producer:
        return False
    c_ref, p_ref = _ref_name(consumer), _ref_name(producer)
    if c_ref or p_ref:
        return c_ref == p_ref
    if "enum" in consumer or "const" in consumer:
        allowed = set(consumer.get("enum", [consumer.get("const")]))
        produced = producer.get("enum", [producer["const"]] if "const" in producer else None)
        return produced is not None and set(produced) <= allowed
    c_type, p_type = consumer.get("type"), producer.get("type")
    if "enum" in producer and c_type == "string":
        return all(isinstance(v, str) for v in producer["enum"])
    if c_type == "number" and p_type == "integer":
        return True
    if c_type != p_type:
        return False
    if c_type == "array":
        return accepts(consumer.get("items", {}), producer.get("items", {}))
    if c_type == "object":
        c_add = consumer.get("additionalProperties", {})
        p_add = producer.get("additionalProperties", {})
        return accepts(c_add if isinstance(c_add, dict) else {}, p_add if isinstance(p_add, dict) else {})
    return True


def accepts(consumer: dict[str, Any], producer: dict[str, Any]) -> bool:
    c_alts, p_alts = _alternatives(consumer), _alternatives(producer)
    return all(any(_accepts(c, p) for c in c_alts) for p in p_alts)


def problems(server: Schemas, client: Schemas | None = None) -> list[str]:
    """Every incompatibility between the client's models and the server's schemas."""
    client = client if client is not None else client_schemas()
    out: list[str] = []
    for name, mine in client.items():
        request = is_request(name)
        theirs = _server_schema(server, name, request)
        if theirs is None:
            out.append(f"{name}: no such schema on the server")
            continue
        props, their_props = mine.get("properties", {}), theirs.get("properties", {})
        required, their_required = set(mine.get("required", [])), set(theirs.get("required", []))
        if request:
            for field in sorted(set(props) - set(their_props)):
                out.append(f"{name}.{field}: the client sends it, the server does not know it")
            for field in sorted(their_required - required):
                out.append(f"{name}.{field}: the server requires it, the client may leave it out")
            for field in sorted(set(props) & set(their_props)):
                if not accepts(their_props[field], props[field]):
                    out.append(f"{name}.{field}: the server refuses values the client sends")
        else:
            # a field with a default is always in an answer (answers are not sent exclude_unset)
            their_required |= {f for f, spec in their_props.items() if "default" in spec}
            for field in sorted(required - their_required):
                where = "never sends it" if field not in their_props else "may leave it out"
                out.append(f"{name}.{field}: the client requires it, the server {where}")
            for field in sorted(set(props) & set(their_props)):
                if not accepts(props[field], their_props[field]):
                    out.append(f"{name}.{field}: the client refuses values the server sends")
    return out


def server_schemas() -> Schemas:
    """The gateway's and the control plane's component schemas (apps built, not started)."""
    from recsys_platform.control_plane.app import create_app as control_plane
    from recsys_platform.gateway.app import create_app as gateway
    from recsys_platform.settings import ControlPlaneSettings, GatewaySettings

    schemas: Schemas = {}
    for app in (gateway(GatewaySettings()), control_plane(ControlPlaneSettings())):
        schemas.update(app.openapi()["components"]["schemas"])
    return schemas
