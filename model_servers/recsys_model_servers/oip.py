"""Open Inference Protocol (V2) REST codec: request bodies in, response bodies out, kserve-free.

The model takes one ``BYTES`` input named ``request`` (each element one REQUEST as a JSON string)
and produces one ``BYTES`` output named ``response`` of the same shape. This module checks a body
against that contract and the protocol's rules, in JSON or with the binary tensor data extension
(``Inference-Header-Content-Length``: a JSON header, then the tensors' raw bytes; a ``BYTES``
element is a 4-byte little-endian length and its bytes), and names the field of the first
problem in a :class:`ProtocolError` (HTTP status + message, sent as ``{"error": message}``).

As in Triton, a body without the binary header is JSON whatever its ``Content-Type`` (some
clients send none).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import orjson

INPUT = "request"
OUTPUT = "response"
DATATYPE = "BYTES"
#: The binary tensor data extension's header: the length of the JSON part of the body.
HEADER_LENGTH = "inference-header-content-length"
JSON_TYPE = "application/json"
BINARY_TYPE = "application/octet-stream"
_U32 = struct.Struct("<I")


class ProtocolError(Exception):
    """A request the protocol layer refuses: HTTP ``status`` and a message naming the field."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _bad(message: str) -> ProtocolError:
    return ProtocolError(400, message)


@dataclass(frozen=True)
class InferCall:
    """A decoded inference request: what the model is asked and how the answer is sent."""

    request_id: str | None
    shape: list[int]
    elements: list[str]
    """The ``request`` tensor's elements (JSON texts), flattened in row-major order."""
    binary_output: bool
    """Send ``response`` with the binary tensor data extension."""


def decode_infer(body: bytes, header_length: str | None) -> InferCall:
    """Decode and check one inference request body.

    Args:
        body: The raw HTTP body.
        header_length: The ``Inference-Header-Content-Length`` header (None when absent).

    Raises:
        ProtocolError: 400 naming the first bad field.
    """
    binary = b""
    if header_length is not None:
        try:
            n = int(header_length)
        except ValueError:
            n = -1
        if not 0 <= n <= len(body):
            raise _bad(
                f"Inference-Header-Content-Length: must be the length of the JSON header "
                f"(0..{len(body)}), got {header_length!r}"
            )
        body, binary = body[:n], body[n:]
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _bad(
            f"body: not valid JSON ({exc}); send a JSON inference request, or the binary "
            "extension's Inference-Header-Content-Length header"
        ) from None
    if not isinstance(raw, dict):
        raise _bad(f"body: must be a JSON object (an inference request), got {type(raw).__name__}")
    # Other fields are ignored: real clients send some (KServe's sends ``model_name``).
    request_id = raw.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise _bad(f"id: must be a string, got {type(request_id).__name__}")
    params = _parameters(raw.get("parameters"), "parameters")
    shape, elements = _request_tensor(raw.get("inputs"), binary)
    binary_output = _requested_binary(raw.get("outputs"), params.get("binary_data_output") is True)
    return InferCall(request_id, shape, elements, binary_output)


def _parameters(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(f"{where}: must be an object, got {type(value).__name__}")
    for key, v in value.items():
        if not isinstance(v, str | int | float | bool):
            raise _bad(f"{where}.{key}: must be a string, number or boolean")
    return value


def _field(obj: dict[str, Any], key: str, where: str, kind: type | tuple[type, ...], what: str) -> Any:
    if key not in obj:
        raise _bad(f"{where}.{key}: required")
    value = obj[key]
    if not isinstance(value, kind):
        raise _bad(f"{where}.{key}: must be {what}, got {type(value).__name__}")
    return value


def _request_tensor(inputs: Any, binary: bytes) -> tuple[list[int], list[str]]:
    """The ``request`` input's shape and elements (and every input checked)."""
    if inputs is None:
        raise _bad(f"inputs: required (one {DATATYPE} input named {INPUT!r})")
    if not isinstance(inputs, list):
        raise _bad(f"inputs: must be a list, got {type(inputs).__name__}")
    found: tuple[list[int], list[str]] | None = None
    offset = 0
    for i, tensor in enumerate(inputs):
        where = f"inputs[{i}]"
        if not isinstance(tensor, dict):
            raise _bad(f"{where}: must be an object, got {type(tensor).__name__}")
        name = _field(tensor, "name", where, str, "a string")
        shape = _field(tensor, "shape", where, list, "a list of integers")
        datatype = _field(tensor, "datatype", where, str, "a string")
        if any(not isinstance(d, int) or isinstance(d, bool) or d < 0 for d in shape):
            raise _bad(f"{where}.shape: must be a list of non-negative integers, got {shape}")
        params = _parameters(tensor.get("parameters"), f"{where}.parameters")
        if name != INPUT:
            raise _bad(f"{where}.name: unknown input {name!r} (the model takes {INPUT!r}, {DATATYPE})")
        if found is not None:
            raise _bad(f"{where}.name: input {INPUT!r} given twice")
        if datatype != DATATYPE:
            raise _bad(f"{where}.datatype: must be {DATATYPE}, got {datatype}")
        size = params.get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise _bad(f"{where}.parameters.binary_data_size: must be a non-negative integer")
            if "data" in tensor:
                raise _bad(f"{where}: has both data and parameters.binary_data_size")
            if offset + size > len(binary):
                raise _bad(
                    f"{where}.parameters.binary_data_size: {size} bytes, but only "
                    f"{len(binary) - offset} follow the JSON header"
                )
            elements = _binary_elements(binary[offset : offset + size], where)
            offset += size
        else:
            elements = _json_elements(_field(tensor, "data", where, list, "a list"), where)
        count = 1
        for d in shape:
            count *= d
        if count != len(elements):
            raise _bad(f"{where}.shape: {shape} holds {count} elements, but the data has {len(elements)}")
        if count == 0:
            raise _bad(f"{where}.shape: must hold at least one request, got {shape}")
        found = (list(shape), elements)
    if offset != len(binary):
        extra = len(binary) - offset
        raise _bad(f"body: {extra} bytes after the JSON header belong to no input's binary_data_size")
    if found is None:
        raise _bad(f"inputs: needs one {DATATYPE} input named {INPUT!r}")
    return found


def _json_elements(data: list[Any], where: str) -> list[str]:
    out: list[str] = []
    stack = [iter(data)]
    while stack:
        for element in stack[-1]:
            if isinstance(element, list):
                stack.append(iter(element))
                break
            if not isinstance(element, str):
                kind = type(element).__name__
                raise _bad(f"{where}.data[{len(out)}]: must be a string (one JSON request), got {kind}")
            out.append(element)
        else:
            stack.pop()
    return out


def _binary_elements(chunk: bytes, where: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(chunk):
        if pos + 4 > len(chunk):
            raise _bad(f"{where}: binary {DATATYPE} data is cut short in element {len(out)} (length prefix)")
        (n,) = _U32.unpack_from(chunk, pos)
        pos += 4
        if pos + n > len(chunk):
            left = len(chunk) - pos
            raise _bad(f"{where}: binary {DATATYPE} element {len(out)} claims {n} bytes, {left} left")
        try:
            out.append(chunk[pos : pos + n].decode("utf-8"))
        except UnicodeDecodeError:
            raise _bad(f"{where}.data[{len(out)}]: not UTF-8 text") from None
        pos += n
    return out


def _requested_binary(outputs: Any, default: bool) -> bool:
    """Whether ``response`` goes out as binary data; checks every requested output's name."""
    if outputs is None:
        return default
    if not isinstance(outputs, list):
        raise _bad(f"outputs: must be a list, got {type(outputs).__name__}")
    binary = default
    for i, out in enumerate(outputs):
        where = f"outputs[{i}]"
        if not isinstance(out, dict):
            raise _bad(f"{where}: must be an object, got {type(out).__name__}")
        name = _field(out, "name", where, str, "a string")
        if name != OUTPUT:
            raise _bad(f"{where}.name: unknown output {name!r} (the model has one output {OUTPUT!r})")
        params = _parameters(out.get("parameters"), f"{where}.parameters")
        if "classification" in params:
            raise _bad(f"{where}.parameters.classification: not supported")
        flag = params.get("binary_data", default)
        if not isinstance(flag, bool):
            raise _bad(f"{where}.parameters.binary_data: must be a boolean")
        binary = flag
    return binary


def encode_infer(
    model_name: str, model_version: str | None, call: InferCall, responses: list[str]
) -> tuple[bytes, dict[str, str]]:
    """The response body and headers (``Content-Type``; the binary header when binary)."""
    out: dict[str, Any] = {"name": OUTPUT, "datatype": DATATYPE, "shape": call.shape}
    body: dict[str, Any] = {"model_name": model_name}
    if model_version is not None:
        body["model_version"] = model_version
    if call.request_id is not None:
        body["id"] = call.request_id
    body["outputs"] = [out]
    if not call.binary_output:
        out["data"] = responses
        return orjson.dumps(body), {"content-type": JSON_TYPE}
    raw = b"".join(_U32.pack(len(b)) + b for b in (r.encode("utf-8") for r in responses))
    out["parameters"] = {"binary_data_size": len(raw)}
    header = orjson.dumps(body)
    return header + raw, {"content-type": BINARY_TYPE, HEADER_LENGTH: str(len(header))}


def error_body(message: str) -> bytes:
    """The protocol's error object, ``{"error": message}``."""
    return orjson.dumps({"error": message})
