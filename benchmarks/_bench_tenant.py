"""One onboarded tenant for a benchmark: a fresh SQLite control-plane database, Kafka topics
and a Feast project on the running services (``scripts/services/start.sh``), and an API key."""

from __future__ import annotations

import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class BenchTenant:
    tenant: str
    work: Path
    prefix: str
    db_url: str
    sessions: Any
    features: Any  # FeatureStoreSettings
    key: str
    bootstrap: str
    redis_url: str
    tenants: Any  # TenantService

    def delete(self) -> None:
        """Deletes the tenant: its topics, Feast project and online rows go too."""
        self.tenants.delete(self.tenant)


def bench_tenant(
    services: dict[str, str], name: str, tenant: str, use_case: str, scopes: list[str]
) -> BenchTenant:
    """Onboards ``tenant`` with unlimited quotas; exits with a message when Kafka or Redis is missing."""
    bootstrap = services.get("RECSYS_TEST_KAFKA_BOOTSTRAP")
    redis_url = services.get("RECSYS_TEST_REDIS_URL")
    if not bootstrap or not redis_url:
        sys.exit("Kafka and Redis are needed: run `bash scripts/services/start.sh` first")

    from recsys_platform.db import migrate
    from recsys_platform.db.engine import build_engine, session_factory
    from recsys_platform.features.settings import FeatureStoreSettings
    from recsys_platform.provisioning.feast_project import FeastProvisioner
    from recsys_platform.provisioning.kafka_topics import KafkaTopicProvisioner
    from recsys_platform.settings import KafkaSettings
    from recsys_platform.tenancy.keys import ApiKeyService
    from recsys_platform.tenancy.schemas import ApiKeyCreate, Quotas, TenantCreate
    from recsys_platform.tenancy.service import TenantService

    work = Path(tempfile.mkdtemp(prefix=f"recsys-{name}-"))
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    db_url = f"sqlite:///{work / 'platform.db'}"
    engine = build_engine(db_url)
    migrate.upgrade(engine)
    sessions = session_factory(engine)
    fs = FeatureStoreSettings(
        online_store="redis",
        redis_url=redis_url,
        registry=work / "registry",
        sqlite_dir=work / "online",
        offline_root=work / "offline",
    )
    kafka = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix, partitions=3)
    tenants = TenantService(sessions, [KafkaTopicProvisioner(kafka), FeastProvisioner(fs)])
    tenants.create(
        TenantCreate(
            id=tenant,
            display_name=tenant,
            use_case=use_case,
            quotas=Quotas(events_per_second=100_000, requests_per_second=100_000),
        )
    )
    key = ApiKeyService(sessions).create(tenant, ApiKeyCreate(name="bench", scopes=scopes)).key
    return BenchTenant(tenant, work, prefix, db_url, sessions, fs, key, bootstrap, redis_url, tenants)
