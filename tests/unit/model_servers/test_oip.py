"""The V2 codec on its own: bodies in, bodies out (the real server and clients are in
tests/integration/model_servers/test_v2_conformance.py)."""

from __future__ import annotations

import json
import struct

import pytest
from recsys_model_servers.oip import HEADER_LENGTH, ProtocolError, decode_infer, encode_infer

REQUESTS = ['{"popular": true, "n": 1}', '{"similar_to": "n0001"}']


def binary(elements: list[str], **fields: object) -> tuple[bytes, str]:
    raw = b"".join(struct.pack("<I", len(e.encode())) + e.encode() for e in elements)
    tensor = {"name": "request", "shape": [len(elements)], "datatype": "BYTES"}
    header = json.dumps(
        {"inputs": [{**tensor, "parameters": {"binary_data_size": len(raw)}}], **fields}
    ).encode()
    return header + raw, str(len(header))


def test_json_request_keeps_its_shape_and_id() -> None:
    body = {
        "id": "7",
        "inputs": [
            {"name": "request", "shape": [2, 1], "datatype": "BYTES", "data": [[r] for r in REQUESTS]}
        ],
    }
    call = decode_infer(json.dumps(body).encode(), None)
    assert call.request_id == "7" and call.shape == [2, 1] and call.elements == REQUESTS
    assert not call.binary_output
    out, headers = encode_infer("m", "3", call, ["a", "b"])
    assert headers == {"content-type": "application/json"}
    assert json.loads(out) == {
        "model_name": "m",
        "model_version": "3",
        "id": "7",
        "outputs": [{"name": "response", "datatype": "BYTES", "shape": [2, 1], "data": ["a", "b"]}],
    }


def test_binary_request_and_binary_answer_round_trip() -> None:
    body, length = binary(REQUESTS, outputs=[{"name": "response", "parameters": {"binary_data": True}}])
    call = decode_infer(body, length)
    assert call.elements == REQUESTS and call.binary_output and call.request_id is None
    out, headers = encode_infer("m", None, call, ["é", "{}"])
    n = int(headers[HEADER_LENGTH])
    header = json.loads(out[:n])
    assert "model_version" not in header and "id" not in header
    (tensor,) = header["outputs"]
    assert "data" not in tensor and tensor["parameters"] == {"binary_data_size": len(out) - n}
    assert out[n:] == struct.pack("<I", 2) + "é".encode() + struct.pack("<I", 2) + b"{}"


def test_request_level_binary_output_flag() -> None:
    body, length = binary(REQUESTS, parameters={"binary_data_output": True})
    assert decode_infer(body, length).binary_output


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "body: not valid JSON"),
        (b'{"inputs": {}}', "inputs: must be a list"),
        (b'{"id": 3, "inputs": []}', "id: must be a string"),
        (b'{"inputs": [{"name": "request", "shape": [1], "datatype": "BYTES", "data": ["x"]}], '
         b'"outputs": [{"name": "response", "parameters": {"binary_data": "yes"}}]}',
         "outputs[0].parameters.binary_data: must be a boolean"),
        (b'{"inputs": [{"name": "request", "shape": [true], "datatype": "BYTES", "data": ["x"]}]}',
         "inputs[0].shape: must be a list of non-negative integers"),
        (b'{"inputs": [{"name": "request", "shape": [1], "datatype": "BYTES", "data": ["x"]}, '
         b'{"name": "request", "shape": [1], "datatype": "BYTES", "data": ["y"]}]}',
         "inputs[1].name: input 'request' given twice"),
    ],
)  # fmt: skip
def test_bad_bodies_name_the_field(body: bytes, message: str) -> None:
    with pytest.raises(ProtocolError) as err:
        decode_infer(body, None)
    assert err.value.status == 400 and err.value.message.startswith(message)


def test_binary_bytes_nobody_claims_are_refused() -> None:
    body, length = binary(REQUESTS)
    with pytest.raises(ProtocolError, match="body: 3 bytes after the JSON header belong to no input"):
        decode_infer(body + b"xyz", length)
