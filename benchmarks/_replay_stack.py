"""The platform as a tenant meets it, for the replay benchmarks.

Starts the control plane, the gateway and the stream processor as their own processes
(``recsys control-plane``, ``recsys gateway``, ``recsys stream``) on the running Kafka,
Redis and MLflow server (``bash scripts/services/start.sh all``), everything under a
fresh topic prefix, MLflow registry prefix and SQLite control-plane database. Then the
benchmark drives it only through the public APIs: onboard the tenant and create its key
(control plane), send events (``POST /v1/events``), train (``training-runs``), make sure
a champion exists, deploy it (``deployments``) and ask for recommendations
(``POST /v1/recommendations``, ``POST /v1/rerank``).

The one thing a tenant cannot see through the API is when the stream processor has
applied its events; the harness reads that from the processor's own ``/metrics``
(``recsys_stream_events_total{tenant,outcome}``), as an operator's dashboard would.

    with replay_stack("ml", "ml-replay", "video") as stack:
        stack.send_events(events)
        stack.wait_applied(len(events))
        run = stack.train({"model": {...}})
        stack.deploy()
        answer = stack.recommend("u1", n=10)
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from freshness import free_port, process, service_env  # noqa: E402

EVENT_BATCH = 1000


class PlatformError(RuntimeError):
    """The platform refused or failed a step; the message names the call and its answer."""


class RerankUnavailable(PlatformError):
    """The gateway has no ``POST /v1/rerank`` yet."""


@dataclass
class Answer:
    """One served list as the tenant receives it."""

    items: list[str]
    fallback: bool
    latency_ms: float
    status: int = 200


@dataclass
class ReplayStack:
    """A running platform with one onboarded tenant; built by :func:`replay_stack`."""

    tenant: str
    use_case: str
    work: Path
    control_plane: str
    gateway: str
    stream_metrics: str
    admin_token: str
    mlflow_uri: str
    registry_prefix: str
    key: str = ""
    notes: list[str] = field(default_factory=list)
    """What the harness had to do beyond the happy path (promotions, retries), for the report."""
    sent: int = 0
    _cp: httpx.Client | None = None
    _gw: httpx.Client | None = None

    # -- control plane -----------------------------------------------------------------------
    @property
    def cp(self) -> httpx.Client:
        if self._cp is None:
            self._cp = httpx.Client(
                base_url=self.control_plane,
                headers={"Authorization": f"Bearer {self.admin_token}"},
                timeout=600,
            )
        return self._cp

    @property
    def gw(self) -> httpx.Client:
        if self._gw is None:
            limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
            self._gw = httpx.Client(
                base_url=self.gateway,
                headers={"Authorization": f"Bearer {self.key}"},
                timeout=30,
                limits=limits,
            )
        return self._gw

    def _call(self, method: str, path: str, expect: Sequence[int] = (200, 201, 202, 204), **kw: Any) -> Any:
        response = self.cp.request(method, path, **kw)
        if response.status_code not in expect:
            raise PlatformError(f"{method} {path} -> {response.status_code}: {response.text[:1500]}")
        return response.json() if response.content else None

    def onboard(self, catalog_schema: dict[str, Any] | None = None) -> None:
        """Creates the tenant (generous quotas: a replay sends far faster than real time)
        and an API key with the three scopes."""
        body: dict[str, Any] = {
            "id": self.tenant,
            "display_name": f"replay {self.tenant}",
            "use_case": self.use_case,
            "quotas": {"events_per_second": 100_000, "requests_per_second": 100_000},
        }
        if catalog_schema is not None:
            body["catalog_schema"] = catalog_schema
        self._call("POST", "/v1/tenants", json=body)
        created = self._call(
            "POST",
            f"/v1/tenants/{self.tenant}/api-keys",
            json={"name": "replay", "scopes": ["events:write", "recommendations:read", "admin"]},
        )
        self.key = created["key"]

    def import_catalog(self, items: list[dict[str, Any]]) -> None:
        for start in range(0, len(items), 10_000):
            result = self._call(
                "POST",
                f"/v1/tenants/{self.tenant}/catalog/items",
                json={"items": items[start : start + 10_000]},
            )
            if result["rejected"]:
                bad = next(r for r in result["results"] if r["status"] == "rejected")
                raise PlatformError(f"catalog import rejected {result['rejected']} items, e.g. {bad}")

    def train(self, params: dict[str, Any] | None = None, timeout: float = 1800) -> dict[str, Any]:
        """Queues a training run and waits for it; raises with the run's error if it fails."""
        run = self._call("POST", f"/v1/tenants/{self.tenant}/training-runs", json={"params": params or {}})
        deadline = time.monotonic() + timeout
        while run["status"] not in ("succeeded", "failed"):
            if time.monotonic() > deadline:
                raise PlatformError(f"training run {run['id']} still {run['status']} after {timeout:.0f} s")
            time.sleep(2)
            run = self._call("GET", f"/v1/tenants/{self.tenant}/training-runs/{run['id']}")
        if run["status"] != "succeeded":
            raise PlatformError(f"training run failed at {run.get('stage')}: {run.get('error')}")
        return dict(run)

    def ensure_champion(self, run: dict[str, Any]) -> str:
        """The champion's version; promotes the run's version through the operator API when
        the gate kept it as challenger and there is no champion (noted for the report)."""
        models = self._call("GET", f"/v1/tenants/{self.tenant}/models")
        champion = models.get("champion")
        if isinstance(champion, dict):
            champion = champion.get("version")
        if champion:
            return str(champion)
        version = str(run["model_version"])
        self._call("POST", f"/v1/tenants/{self.tenant}/models/champion", json={"version": version})
        self.notes.append(
            f"the gate did not promote the first model (version {version}, gate: {run.get('gate')}); "
            "promoted with POST /v1/tenants/{t}/models/champion"
        )
        return version

    def deploy(self, name: str = "default", timeout: float = 300) -> dict[str, Any]:
        """Deploys the champion alias and waits until the model server is ready."""
        d = self._call(
            "POST",
            f"/v1/tenants/{self.tenant}/deployments",
            json={"name": name, "model": {"alias": "champion"}},
        )
        deadline = time.monotonic() + timeout
        while d["status"] not in ("ready", "failed"):
            if time.monotonic() > deadline:
                raise PlatformError(f"deployment {name} still {d['status']} after {timeout:.0f} s")
            time.sleep(1)
            d = self._call("GET", f"/v1/tenants/{self.tenant}/deployments/{name}")
        if d["status"] != "ready":
            raise PlatformError(f"deployment {name} failed: {d.get('error')}")
        return dict(d)

    def download_model(self, version: str) -> Path:
        """The registered artifact of ``version`` (the folder ``load_model`` reads)."""
        from recsys_platform.registry.mlflow_registry import MlflowModelRegistry

        registry = MlflowModelRegistry(self.mlflow_uri, self.registry_prefix)
        return registry.download(self.tenant, version, self.work / f"model-v{version}")

    # -- gateway -------------------------------------------------------------------------------
    def send_events(self, events: Sequence[dict[str, Any]]) -> None:
        """``POST /v1/events`` in batches of up to 1,000, retrying 429/503 as the docs say."""
        for start in range(0, len(events), EVENT_BATCH):
            batch = list(events[start : start + EVENT_BATCH])
            for _attempt in range(30):
                response = self.gw.post("/v1/events", json={"events": batch})
                if response.status_code in (429, 503):
                    time.sleep(float(response.headers.get("Retry-After", "1")))
                    continue
                break
            else:
                raise PlatformError(f"POST /v1/events kept answering {response.status_code} after 30 tries")
            if response.status_code != 200:
                raise PlatformError(f"POST /v1/events -> {response.status_code}: {response.text[:1500]}")
            body = response.json()
            if body["rejected"]:
                bad = next(r for r in body["results"] if r["status"] == "rejected")
                raise PlatformError(f"POST /v1/events rejected {body['rejected']} events, e.g. {bad}")
            self.sent += len(batch)

    def recommend(self, user_id: str, n: int, session_id: str | None = None) -> Answer:
        body: dict[str, Any] = {"user_id": user_id, "n": n}
        if session_id is not None:
            body["session_id"] = session_id
        return self._ask("/v1/recommendations", body)

    def rerank(self, user_id: str, items: Sequence[str], session_id: str | None = None) -> Answer:
        body: dict[str, Any] = {"user_id": user_id, "items": list(items)}
        if session_id is not None:
            body["session_id"] = session_id
        answer = self._ask("/v1/rerank", body)
        return answer

    def has_rerank(self) -> bool:
        """Whether the gateway's OpenAPI lists ``POST /v1/rerank``."""
        paths = httpx.get(f"{self.gateway}/openapi.json", timeout=10).json().get("paths", {})
        return "post" in paths.get("/v1/rerank", {})

    def _ask(self, path: str, body: dict[str, Any]) -> Answer:
        sent = time.perf_counter()
        try:
            response = self.gw.post(path, json=body)
        except httpx.TransportError as exc:  # e.g. the gateway dropped the connection on an error
            raise PlatformError(f"POST {path}: {exc!r}; gateway log: {self.log_tail('gateway.log')}") from exc
        ms = (time.perf_counter() - sent) * 1000
        if response.status_code == 404 and path == "/v1/rerank":
            raise RerankUnavailable("the gateway has no POST /v1/rerank")
        if response.status_code != 200:
            raise PlatformError(
                f"POST {path} -> {response.status_code}: {response.text[:1500]}; "
                f"gateway log: {self.log_tail('gateway.log')}"
            )
        data = response.json()
        return Answer([i["item_id"] for i in data["items"]], bool(data.get("fallback")), ms)

    def log_tail(self, name: str, chars: int = 3000) -> str:
        """The end of a service's log in the work folder (for error reports)."""
        try:
            return (self.work / name).read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    # -- stream processor ----------------------------------------------------------------------
    def applied(self) -> int:
        """Events of this tenant the processor has applied (or recognised as duplicates)."""
        from prometheus_client.parser import text_string_to_metric_families

        text = httpx.get(f"{self.stream_metrics}/metrics", timeout=10).text
        total = 0.0
        for family in text_string_to_metric_families(text):
            if family.name != "recsys_stream_events":
                continue
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.labels.get("tenant") == self.tenant:
                    if sample.labels.get("outcome") in ("applied", "duplicate"):
                        total += sample.value
                    elif sample.labels.get("outcome") == "dead_letter" and sample.value:
                        raise PlatformError(f"{sample.value:.0f} events went to the dead-letter topic")
        return int(total)

    def wait_applied(self, expected: int | None = None, timeout: float = 600, poll: float = 0.002) -> float:
        """Waits until the processor has applied ``expected`` events (default: all sent);
        returns the seconds waited."""
        expected = self.sent if expected is None else expected
        started = time.monotonic()
        while self.applied() < expected:
            if time.monotonic() - started > timeout:
                raise PlatformError(
                    f"only {self.applied()} of {expected} events applied after {timeout:.0f} s"
                )
            time.sleep(poll)
        return time.monotonic() - started

    def wait_offline(self, expected: int, timeout: float = 300) -> None:
        """Waits until the offline store (what training reads) holds ``expected`` events: the
        processor writes it right after the online rows, in the same batch."""
        from recsys_platform.offline.parquet_store import OfflineEventStore

        store = OfflineEventStore(self.work / "offline")
        deadline = time.monotonic() + timeout
        while True:
            if store.tenant_dir(self.tenant).exists() and store.read(self.tenant).num_rows >= expected:
                return
            if time.monotonic() > deadline:
                raise PlatformError(
                    f"the offline store does not hold {expected} events after {timeout:.0f} s"
                )
            time.sleep(0.5)

    def close(self) -> None:
        """Deletes the deployments and the tenant (topics, Feast project, registered model)."""
        try:
            for d in self._call("GET", f"/v1/tenants/{self.tenant}/deployments")["items"]:
                self._call("DELETE", f"/v1/tenants/{self.tenant}/deployments/{d['name']}")
            self._call("DELETE", f"/v1/tenants/{self.tenant}")
        finally:
            for client in (self._cp, self._gw):
                if client is not None:
                    client.close()


@contextmanager
def replay_stack(
    name: str,
    tenant: str,
    use_case: str,
    catalog_schema: dict[str, Any] | None = None,
    keep: bool = False,
    env: dict[str, str] | None = None,
) -> Iterator[ReplayStack]:
    """Starts the three services for a fresh tenant ``<tenant>-<random>``, onboards it and
    yields the stack; on exit the tenant is deleted, the processes stopped and the work
    folder removed (kept with ``keep``). ``env`` adds settings to every process."""
    services = service_env()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    missing = [
        k
        for k in ("RECSYS_TEST_KAFKA_BOOTSTRAP", "RECSYS_TEST_REDIS_URL", "RECSYS_TEST_MLFLOW_URL")
        if not services.get(k)
    ]
    if missing:
        sys.exit(f"{', '.join(missing)} not set: run `bash scripts/services/start.sh all` first")
    bootstrap = services["RECSYS_TEST_KAFKA_BOOTSTRAP"]
    redis_url = services["RECSYS_TEST_REDIS_URL"]
    mlflow_uri = services["RECSYS_TEST_MLFLOW_URL"]
    work = Path(tempfile.mkdtemp(prefix=f"recsys-replay-{name}-"))
    run = uuid.uuid4().hex[:6]
    prefix = f"replay{run}"
    registry_prefix = f"{prefix}-"
    tenant_id = f"{tenant}-{run}"[:40]
    token = secrets.token_hex(16)
    cp_port, gw_port, st_port = free_port(), free_port(), free_port()
    db_url = f"sqlite:///{work / 'platform.db'}"
    features = {
        "ONLINE_STORE": "redis",
        "REDIS_URL": redis_url,
        "REGISTRY": str(work / "feast-registry"),
        "SQLITE_DIR": str(work / "online"),
        "OFFLINE_ROOT": str(work / "offline"),
    }
    common = {
        **os.environ,
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MLFLOW_LOGGING_LEVEL": "WARNING",
        **(env or {}),
    }
    log_settings = {"TELEMETRY__LOG_LEVEL": "WARNING"}
    kafka = {
        "EVENT_LOG__BACKEND": "kafka",
        "EVENT_LOG__KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "EVENT_LOG__KAFKA__TOPIC_PREFIX": prefix,
    }

    def prefixed(p: str, values: dict[str, str]) -> dict[str, str]:
        return {f"{p}{k}": v for k, v in values.items()}

    cp_env = {
        **common,
        **prefixed(
            "RECSYS_CONTROL_PLANE_",
            {
                "PORT": str(cp_port),
                "ADMIN_TOKEN": token,
                "DATABASE__URL": db_url,
                **kafka,
                **prefixed("FEATURE_STORE__", features),
                "MLFLOW__TRACKING_URI": mlflow_uri,
                "MLFLOW__REGISTRY_NAME_PREFIX": registry_prefix,
                "KFP__PIPELINE_ROOT": str(work / "kfp"),
                "TRAINING__WORK_DIR": str(work / "training"),
                "DEPLOYER__WORK_DIR": str(work / "deployments"),
                **log_settings,
            },
        ),
    }
    gw_env = {
        **common,
        **prefixed(
            "RECSYS_GATEWAY_",
            {
                "PORT": str(gw_port),
                "DATABASE__URL": db_url,
                "REDIS_URL": redis_url,
                **kafka,
                "MLFLOW__TRACKING_URI": mlflow_uri,  # bandit policy checkpoints
                "MLFLOW__REGISTRY_NAME_PREFIX": registry_prefix,
                **log_settings,
            },
        ),
    }
    st_env = {
        **common,
        **prefixed(
            "RECSYS_STREAM_",
            {
                "METRICS_PORT": str(st_port),
                "DATABASE__URL": db_url,
                "GROUP_ID": f"{prefix}-stream",
                **kafka,
                "MLFLOW__TRACKING_URI": mlflow_uri,
                "MLFLOW__REGISTRY_NAME_PREFIX": registry_prefix,
                **prefixed("FEATURE_STORE__", features),
                **log_settings,
            },
        ),
    }
    recsys = str(Path(sys.executable).parent / "recsys")
    stack = ReplayStack(
        tenant=tenant_id,
        use_case=use_case,
        work=work,
        control_plane=f"http://127.0.0.1:{cp_port}",
        gateway=f"http://127.0.0.1:{gw_port}",
        stream_metrics=f"http://127.0.0.1:{st_port}",
        admin_token=token,
        mlflow_uri=mlflow_uri,
        registry_prefix=registry_prefix,
    )
    try:
        with ExitStack() as procs:
            procs.enter_context(
                process(
                    [recsys, "control-plane"],
                    cp_env,
                    f"{stack.control_plane}/healthz",
                    work / "control-plane.log",
                )
            )
            stack.onboard(catalog_schema)  # topics exist before the processor subscribes
            procs.callback(stack.close)  # runs before the control plane stops
            procs.enter_context(
                process([recsys, "stream"], st_env, f"{stack.stream_metrics}/readyz", work / "stream.log")
            )
            procs.enter_context(
                process([recsys, "gateway"], gw_env, f"{stack.gateway}/readyz", work / "gateway.log")
            )
            yield stack
    finally:
        if keep:
            print(f"work folder kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
