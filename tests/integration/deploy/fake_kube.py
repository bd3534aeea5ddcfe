"""A loopback HTTP server that speaks the slice of the Kubernetes API the KServe deployer uses.

It stores InferenceServices in memory, applies JSON merge patches (RFC 7386), answers
404/409 like the API server, and records every call (method, path, query, headers, body)
so tests can assert what the deployer sent. It is not a cluster: nothing reconciles the
objects; tests set ``.status`` themselves (:meth:`FakeKube.set_status`).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

_NETPOL = re.compile(r"^/apis/networking\.k8s\.io/v1/namespaces/([^/]+)/networkpolicies$")
_ISVC = re.compile(r"^/apis/serving\.kserve\.io/v1beta1/namespaces/([^/]+)/inferenceservices(?:/([^/]+))?$")


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


@dataclass
class FakeKube:
    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    #: (method, namespace) -> (status code, message): answer with this error instead.
    fail: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    #: NetworkPolicies by (namespace, name), and (method, namespace) -> (status, message) to refuse
    policies: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    fail_policies: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    url: str = ""
    #: Play KServe's controller: mark every created or patched object Ready at once.
    auto_ready: bool = False
    _version: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        with self.lock:
            self.objects[(namespace, name)]["status"] = status

    def _reconcile(self, obj: dict[str, Any]) -> None:
        if self.auto_ready:
            meta = obj["metadata"]
            obj["status"] = {
                "address": {"url": f"http://{meta['name']}-predictor.{meta['namespace']}.svc.cluster.local"},
                "conditions": [{"type": "Ready", "status": "True"}],
            }

    def _network_policy(self, method: str, namespace: str, body: Any) -> tuple[int, Any]:
        if (method, namespace) in self.fail_policies:
            code, message = self.fail_policies[(method, namespace)]
            return code, _status(code, "Failure", message)
        if method != "POST":
            return 405, _status(405, "MethodNotAllowed", method)
        with self.lock:
            key = (namespace, body["metadata"]["name"])
            if key in self.policies:
                return 409, _status(409, "AlreadyExists", f'networkpolicies "{key[1]}" already exists')
            self.policies[key] = body
        return 201, body

    def isvc_calls(self) -> list[Call]:
        return [c for c in self.calls if _ISVC.match(c.path)]

    def kubeconfig(self, path: Path, token: str = "test-token") -> Path:
        """A kubeconfig whose ``fake`` context points here (the current context points elsewhere)."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "fake", "cluster": {"server": self.url}},
                {"name": "nowhere", "cluster": {"server": "http://127.0.0.1:9"}},
            ],
            "users": [{"name": "tester", "user": {"token": token}}],
            "contexts": [
                {"name": "fake", "context": {"cluster": "fake", "user": "tester"}},
                {"name": "nowhere", "context": {"cluster": "nowhere", "user": "tester"}},
            ],
            "current-context": "nowhere",
        }
        path.write_text(yaml.safe_dump(config))
        return path

    # -- request handling ------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        parts = urlsplit(raw_path)
        self.calls.append(Call(method, parts.path, parse_qs(parts.query), headers, body))
        policy = _NETPOL.match(parts.path)
        if policy is not None:
            return self._network_policy(method, policy.group(1), body)
        match = _ISVC.match(parts.path)
        if not match:
            return 404, _status(404, "NotFound", f"no route {parts.path}")
        namespace, name = match.group(1), match.group(2)
        if (method, namespace) in self.fail:
            code, message = self.fail[(method, namespace)]
            return code, _status(code, "Failure", message)
        with self.lock:
            if method == "POST" and name is None:
                key = (namespace, body["metadata"]["name"])
                if key in self.objects:
                    return 409, _status(409, "AlreadyExists", f'inferenceservices "{key[1]}" already exists')
                self._version += 1
                obj = json.loads(json.dumps(body))
                obj["metadata"].update(
                    resourceVersion=str(self._version), generation=1, uid=f"uid-{self._version}"
                )
                self.objects[key] = obj
                self._reconcile(obj)
                return 201, obj
            if method == "GET" and name is None:
                selector = dict(
                    s.split("=", 1)
                    for s in parse_qs(parts.query).get("labelSelector", [""])[0].split(",")
                    if s
                )
                items = [
                    o
                    for (ns, _), o in sorted(self.objects.items())
                    if ns == namespace
                    and all(o["metadata"].get("labels", {}).get(k) == v for k, v in selector.items())
                ]
                return 200, {
                    "apiVersion": "serving.kserve.io/v1beta1",
                    "kind": "InferenceServiceList",
                    "items": items,
                }
            key = (namespace, name or "")
            if key not in self.objects:
                return 404, _status(404, "NotFound", f'inferenceservices "{name}" not found')
            if method == "GET":
                return 200, self.objects[key]
            if method == "PATCH":
                if headers.get("content-type") != "application/merge-patch+json":
                    return 415, _status(415, "UnsupportedMediaType", headers.get("content-type", ""))
                obj = merge_patch(self.objects[key], body)
                self._version += 1
                obj["metadata"]["resourceVersion"] = str(self._version)
                obj["metadata"]["generation"] = int(obj["metadata"].get("generation", 1)) + 1
                self.objects[key] = obj
                self._reconcile(obj)
                return 200, obj
            if method == "DELETE":
                del self.objects[key]
                return 200, _status(200, "Success", "deleted")
        return 405, _status(405, "MethodNotAllowed", method)


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
    }


@contextmanager
def fake_kube() -> Iterator[FakeKube]:
    """Serve a :class:`FakeKube` on a free loopback port for the duration of the block."""
    kube = FakeKube()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            headers = {k.lower(): v for k, v in self.headers.items()}
            code, answer = kube.handle(self.command, self.path, headers, body)
            data = json.dumps(answer).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    kube.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield kube
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
