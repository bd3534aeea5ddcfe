"""Open Inference Protocol (V2) conformance of a real model server process, checked by two real
clients (KServe's ``InferenceRESTClient`` and ``tritonclient.http``, each in JSON and binary
tensor modes), the protocol's JSON schemas for every response, and a table of bad requests
(status and ``{"error": ...}`` body).

The server serves a model fitted on the committed news demo catalog (what ``recsys up`` trains
for the ``daily-planet`` example tenant), without an online store, so the documented examples
in docs/model-server.md run against it too.
"""

from __future__ import annotations

import asyncio
import json
import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import numpy as np
import pytest

from tests.integration.model_servers.support import (
    ROOT,
    ServerProcess,
    base_env,
    fit_demo_model,
    model_server,
)

pytestmark = pytest.mark.integration

NAME = "daily-planet"
SCHEMA = json.loads((Path(__file__).parent / "open_inference_rest.schema.json").read_text())
DOC = ROOT / "docs" / "model-server.md"


def conforms(body: Any, definition: str) -> None:
    """``body`` validates against the protocol's ``definition`` (e.g. ``inference_response``)."""
    schema = {**SCHEMA, "$ref": f"#/$defs/{definition}"}
    jsonschema.validate(body, schema, cls=jsonschema.Draft202012Validator)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("v2-conformance")
    artifact = fit_demo_model(tmp / "artifact")
    args = ["--model-uri", str(artifact), "--no-online-features"]
    with model_server(args, base_env(tmp), tmp / "server.log", NAME) as proc:
        yield proc


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def version(server: ServerProcess, client: httpx.Client) -> str:
    versions = client.get(f"{server.url}/v2/models/{NAME}").json()["versions"]
    assert isinstance(versions, list) and len(versions) == 1
    return str(versions[0])


def requests_json(*requests: dict[str, Any]) -> list[str]:
    return [json.dumps(r) for r in requests]


BATCH = requests_json(
    {"user_id": "demo-user-3", "n": 3, "history": ["n0001", "n0005"]}, {"similar_to": "n0001", "n": 2}
)


def check_answers(texts: list[str], version: str) -> None:
    """The two answers of BATCH: the user's 3 items, 2 items like n0001, from the served version."""
    user, similar = (json.loads(t) for t in texts)
    assert len(user["items"]) == 3 and user["cold_start"] is False
    assert len(similar["items"]) == 2 and "n0001" not in [i["item_id"] for i in similar["items"]]
    assert user["model_version"] == similar["model_version"] == version


# -- health and metadata ----------------------------------------------------------------------


def test_health_and_metadata_conform(server: ServerProcess, client: httpx.Client, version: str) -> None:
    base = server.url
    checks = [
        ("/v2/health/live", "live_server_response"),
        ("/v2/health/ready", "ready_server_response"),
        ("/v2", "metadata_server_response"),
        (f"/v2/models/{NAME}", "metadata_model_response"),
        (f"/v2/models/{NAME}/versions/{version}", "metadata_model_response"),
        (f"/v2/models/{NAME}/ready", "ready_model_response"),
        (f"/v2/models/{NAME}/versions/{version}/ready", "ready_model_response"),
    ]
    for path, definition in checks:
        r = client.get(base + path)
        assert r.status_code == 200, (path, r.text)
        assert r.headers["content-type"] == "application/json", path
        conforms(r.json(), definition)
    meta = client.get(f"{base}/v2/models/{NAME}").json()
    assert meta["versions"] == [version]
    assert meta["inputs"] == [{"name": "request", "datatype": "BYTES", "shape": [-1]}]
    assert meta["outputs"] == [{"name": "response", "datatype": "BYTES", "shape": [-1]}]
    assert "binary_tensor_data" in client.get(f"{base}/v2").json()["extensions"]


# -- real clients -----------------------------------------------------------------------------


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize("shape", [[2], [2, 1]], ids=["k", "k-by-1"])
def test_tritonclient(server: ServerProcess, version: str, binary: bool, shape: list[int]) -> None:
    import tritonclient.http as triton

    c = triton.InferenceServerClient(f"127.0.0.1:{server.port}")
    try:
        assert c.is_server_live() and c.is_server_ready() and c.is_model_ready(NAME)
        assert c.get_model_metadata(NAME)["versions"] == [version]
        tensor = triton.InferInput("request", shape, "BYTES")
        tensor.set_data_from_numpy(np.array([t.encode() for t in BATCH], dtype=object).reshape(shape), binary)
        wanted = [triton.InferRequestedOutput("response", binary_data=binary)]
        for model_version in ("", version):  # /v2/models/<name>/infer and .../versions/<v>/infer
            result = c.infer(NAME, [tensor], model_version=model_version, outputs=wanted, request_id="r-7")
            header = result.get_response()
            conforms(header, "inference_response")
            assert header["id"] == "r-7" and header["model_version"] == version
            (out,) = header["outputs"]
            assert out["shape"] == shape and ("binary_data_size" in out.get("parameters", {})) is binary
            answers = result.as_numpy("response")
            assert answers is not None and list(answers.shape) == shape
            check_answers([a.decode() if isinstance(a, bytes) else a for a in answers.reshape(-1)], version)
    finally:
        c.close()


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_kserve_client(server: ServerProcess, version: str, binary: bool) -> None:
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

    async def call() -> Any:
        client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=10))
        try:
            assert await client.is_server_ready(server.url)
            assert await client.is_server_live(server.url)
            assert await client.is_model_ready(server.url, NAME)
            tensor = InferInput("request", [2], "BYTES")
            elements = np.array([t.encode() for t in BATCH], dtype=object)
            tensor.set_data_from_numpy(elements, binary_data=binary)
            request = InferRequest(model_name=NAME, infer_inputs=[tensor], request_id="k-1")
            return await client.infer(server.url, request, model_name=NAME)
        finally:
            await client.close()

    response = asyncio.run(call())
    # (KServe 0.21's client does not read model_version from a REST response; the answers carry it.)
    assert response.id == "k-1" and response.model_name == NAME
    (out,) = response.outputs
    assert out.name == "response" and out.datatype == "BYTES" and list(out.shape) == [2]
    check_answers([a.decode() if isinstance(a, bytes) else a for a in out.data], version)


def test_plain_json_without_content_type(server: ServerProcess, client: httpx.Client, version: str) -> None:
    """A body with no Content-Type is JSON (Triton's rule); no ``parameters: null``, no id made up."""
    body = {"inputs": [{"name": "request", "shape": [2], "datatype": "BYTES", "data": BATCH}]}
    r = client.post(
        f"{server.url}/v2/models/{NAME}/infer", content=json.dumps(body), headers={"content-type": ""}
    )
    assert r.status_code == 200, r.text
    out = r.json()
    conforms(out, "inference_response")
    assert "parameters" not in out and "id" not in out and "parameters" not in out["outputs"][0]
    check_answers(out["outputs"][0]["data"], version)


def binary_body(
    elements: list[bytes], shape: list[int], size: int | None = None, **fields: Any
) -> tuple[bytes, dict[str, str]]:
    """A body of the binary tensor data extension: JSON header, then the BYTES tensor's raw bytes."""
    raw = b"".join(struct.pack("<I", len(e)) + e for e in elements)
    tensor = {"name": "request", "shape": shape, "datatype": "BYTES"}
    tensor["parameters"] = {"binary_data_size": len(raw) if size is None else size}
    header = json.dumps({"inputs": [tensor], **fields}).encode()
    return header + raw, {
        "inference-header-content-length": str(len(header)),
        "content-type": "application/octet-stream",
    }


def test_binary_output_requested_per_request(
    server: ServerProcess, client: httpx.Client, version: str
) -> None:
    body, headers = binary_body([t.encode() for t in BATCH], [2], parameters={"binary_data_output": True})
    r = client.post(f"{server.url}/v2/models/{NAME}/infer", content=body, headers=headers)
    assert r.status_code == 200, r.text
    n = int(r.headers["inference-header-content-length"])
    header = json.loads(r.content[:n])
    conforms(header, "inference_response")
    raw = r.content[n:]
    assert header["outputs"][0]["parameters"]["binary_data_size"] == len(raw)
    texts, pos = [], 0
    while pos < len(raw):
        (size,) = struct.unpack_from("<I", raw, pos)
        texts.append(raw[pos + 4 : pos + 4 + size].decode())
        pos += 4 + size
    check_answers(texts, version)


# -- bad requests -----------------------------------------------------------------------------


def infer_body(inputs: Any = None, **fields: Any) -> bytes:
    body: dict[str, Any] = dict(fields)
    if inputs is not None:
        body["inputs"] = inputs
    return json.dumps(body).encode()


def request_tensor(data: list[Any], shape: list[int] | None = None, datatype: str = "BYTES") -> Any:
    dims = [len(data)] if shape is None else shape
    return {"name": "request", "shape": dims, "datatype": datatype, "data": data}


ONE = ['{"popular": true, "n": 1}']
JSON_HEADERS = {"content-type": "application/json"}
INFER = f"/v2/models/{NAME}/infer"
PREDICT = f"/v1/models/{NAME}:predict"

#: (case, path, body, headers, status, the error message starts with / contains)
NEGATIVE: list[tuple[str, str, bytes | Any, dict[str, str], int, str]] = [
    ("wrong datatype", INFER, infer_body([request_tensor([1.0], datatype="FP32")]), JSON_HEADERS, 400,
     "inputs[0].datatype: must be BYTES, got FP32"),
    ("shape [2], one element", INFER, infer_body([request_tensor(ONE, [2])]), JSON_HEADERS, 400,
     "inputs[0].shape: [2] holds 2 elements, but the data has 1"),
    ("shape [3,1], one element", INFER, infer_body([request_tensor(ONE, [3, 1])]), JSON_HEADERS, 400,
     "inputs[0].shape: [3, 1] holds 3 elements"),
    ("shape [0], one element", INFER, infer_body([request_tensor(ONE, [0])]), JSON_HEADERS, 400,
     "inputs[0].shape: [0] holds 0 elements"),
    ("shape [0], no element", INFER, infer_body([request_tensor([], [0])]), JSON_HEADERS, 400,
     "inputs[0].shape: must hold at least one request"),
    ("negative dimension", INFER, infer_body([request_tensor(ONE, [-1])]), JSON_HEADERS, 400,
     "inputs[0].shape: must be a list of non-negative integers"),
    ("binary, wrong shape", INFER, binary_body([ONE[0].encode()], [3]), {}, 400,
     "inputs[0].shape: [3] holds 3 elements, but the data has 1"),
    ("binary, size beyond the body", INFER, binary_body([ONE[0].encode()], [1], size=999), {}, 400,
     "inputs[0].parameters.binary_data_size: 999 bytes"),
    ("binary, cut element", INFER, binary_body([ONE[0].encode()], [1], size=3), {}, 400,
     "inputs[0]: binary BYTES data is cut short"),
    ("missing input", INFER, infer_body([]), JSON_HEADERS, 400,
     "inputs: needs one BYTES input named 'request'"),
    ("unknown input", INFER, infer_body([{**request_tensor(ONE), "name": "query"}]), JSON_HEADERS, 400,
     "inputs[0].name: unknown input 'query'"),
    ("no inputs field", INFER, infer_body(id="x"), JSON_HEADERS, 400, "inputs: required"),
    ("input without datatype", INFER, infer_body([{"name": "request", "shape": [1], "data": ONE}]),
     JSON_HEADERS, 400, "inputs[0].datatype: required"),
    ("input without shape", INFER, infer_body([{"name": "request", "datatype": "BYTES", "data": ONE}]),
     JSON_HEADERS, 400, "inputs[0].shape: required"),
    ("input without data", INFER, infer_body([{"name": "request", "datatype": "BYTES", "shape": [1]}]),
     JSON_HEADERS, 400, "inputs[0].data: required"),
    ("element not a string", INFER, infer_body([request_tensor([{"popular": True}])]), JSON_HEADERS, 400,
     "inputs[0].data[0]: must be a string"),
    ("element not JSON", INFER, infer_body([request_tensor(["{popular"])]), JSON_HEADERS, 400,
     "inputs.request[0]: not valid JSON"),
    ("bad request field", INFER, infer_body([request_tensor(['{"popular": true, "n": 0}'])]), JSON_HEADERS,
     400, "inputs.request[0].n: must be in 1..200, got 0"),
    ("unknown output", INFER, infer_body([request_tensor(ONE)], outputs=[{"name": "scores"}]), JSON_HEADERS,
     400, "outputs[0].name: unknown output 'scores'"),
    ("malformed body", INFER, b"{inputs: [", JSON_HEADERS, 400, "body: not valid JSON"),
    ("body not an object", INFER, b"[1, 2]", JSON_HEADERS, 400, "body: must be a JSON object"),
    ("empty body", INFER, b"", {}, 400, "body: not valid JSON"),
    ("no content-type, binary body without its header", INFER, binary_body([ONE[0].encode()], [1])[0],
     {"content-type": ""}, 400, "body: not valid JSON"),
    ("bad binary header length", INFER, b"{}", {"inference-header-content-length": "99"}, 400,
     "Inference-Header-Content-Length: must be the length of the JSON header"),
    ("unknown model", "/v2/models/other/infer", infer_body([request_tensor(ONE)]), JSON_HEADERS, 404,
     "model 'other' not found"),
    ("unknown model, metadata", "GET /v2/models/other", b"", {}, 404, "model 'other' not found"),
    ("unknown model, ready", "GET /v2/models/other/ready", b"", {}, 404, "model 'other' not found"),
    ("unknown version", f"/v2/models/{NAME}/versions/999/infer", infer_body([request_tensor(ONE)]),
     JSON_HEADERS, 404, f"model '{NAME}' version '999' not found"),
    ("unknown version, metadata", f"GET /v2/models/{NAME}/versions/999", b"", {}, 404,
     "version '999' not found"),
    ("unknown path", "GET /v2/repository/index", b"", {}, 404, "Not Found"),
    ("wrong method", f"GET {INFER}", b"", {}, 405, "Method Not Allowed"),
    ("V1, malformed body", PREDICT, b"not json", JSON_HEADERS, 400, "body: not valid JSON"),
    ("V1, instances not a list", PREDICT, b'{"instances": 3}', JSON_HEADERS, 400,
     "instances: must be a list"),
    ("V1, unknown model", "/v1/models/other:predict", b'{"instances": []}', JSON_HEADERS, 404, "not found"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "message"), [c[1:] for c in NEGATIVE], ids=[c[0] for c in NEGATIVE]
)
def test_bad_requests(
    server: ServerProcess,
    client: httpx.Client,
    path: str,
    body: bytes | tuple[bytes, dict[str, str]],
    headers: dict[str, str],
    status: int,
    message: str,
) -> None:
    if isinstance(body, tuple):  # a binary body comes with its own headers
        body, extra = body
        headers = {**extra, **headers}
    method, _, path = path.rpartition(" ")
    r = client.request(method or "POST", server.url + path, content=body or None, headers=headers)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    error = r.json()
    conforms(error, "error_response")
    assert message in error["error"], error


def test_bad_requests_are_one_warning_line_each(server: ServerProcess) -> None:
    """No traceback and nothing at ERROR for the table above (which ran before this test)."""
    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log
    levels = [json.loads(line).get("level") for line in log.splitlines() if line.startswith("{")]
    assert "ERROR" not in levels and levels.count("WARNING") >= 20


# -- served semantics the docs promise ---------------------------------------------------------


def v1(server: ServerProcess, client: httpx.Client, *instances: dict[str, Any]) -> list[dict[str, Any]]:
    r = server.predict(client, *instances)
    assert r.status_code == 200, r.text
    predictions: list[dict[str, Any]] = r.json()["predictions"]
    return predictions


def test_unknown_user_gets_a_cold_start_list(server: ServerProcess, client: httpx.Client) -> None:
    """The demo model's cold-start threshold is 0 (warm recipe for everyone); a user with no
    known history still gets a full list flagged ``cold_start``."""
    (p,) = v1(server, client, {"user_id": "someone-new", "n": 5})
    assert p["cold_start"] is True and len(p["items"]) == 5
    (known,) = v1(server, client, {"user_id": "someone-new", "n": 5, "history": ["n0001"]})
    assert known["cold_start"] is False


def test_empty_include_categories_is_no_filter(server: ServerProcess, client: httpx.Client) -> None:
    plain, empty = v1(
        server,
        client,
        {"user_id": "demo-user-3", "n": 5},
        {"user_id": "demo-user-3", "n": 5, "filters": {"include_categories": []}},
    )
    assert len(empty["items"]) == 5 and empty["items"] == plain["items"]


def doc_blocks(marker: str) -> list[str]:
    """The fenced blocks that follow ``<!-- example: marker -->`` in docs/model-server.md."""
    text = DOC.read_text()
    blocks = re.findall(rf"<!-- example: {re.escape(marker)} -->\s*```\w*\n(.*?)```", text, re.S)
    assert blocks, f"no example {marker!r} in {DOC}"
    return [str(b) for b in blocks]


def test_documented_examples_run_against_the_demo_catalog(
    server: ServerProcess, client: httpx.Client, version: str
) -> None:
    (requests,) = doc_blocks("requests")
    for line in filter(None, requests.splitlines()):
        (p,) = v1(server, client, json.loads(line))
        assert p["items"], line
    (infer,) = doc_blocks("v2-infer")
    r = client.post(f"{server.url}{INFER}", content=infer.strip(), headers=JSON_HEADERS)
    assert r.status_code == 200, r.text
    conforms(r.json(), "inference_response")
    (answer,) = r.json()["outputs"][0]["data"]
    assert len(json.loads(answer)["items"]) == 5
