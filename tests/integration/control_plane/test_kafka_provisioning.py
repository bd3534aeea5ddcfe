"""Onboarding creates the tenant's Kafka topics on the real broker; deleting removes them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType
from recsys_platform.provisioning.kafka_topics import KafkaTopicProvisioner
from recsys_platform.provisioning.ports import Provisioner, ResourceRef, TenantContext
from recsys_platform.settings import KafkaSettings
from recsys_platform.tenancy.schemas import Retention

from tests.factories import ADMIN, tenant_payload

pytestmark = pytest.mark.integration
DAY_MS = 86_400_000


@pytest.fixture
def kafka_settings(kafka_bootstrap: str) -> KafkaSettings:
    # A prefix per test keeps runs independent on the shared broker.
    return KafkaSettings(
        bootstrap_servers=kafka_bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:8]}", partitions=2
    )


@pytest.fixture
def admin(kafka_bootstrap: str) -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    yield client
    client.close()


def _topics(admin: KafkaAdminClient, prefix: str) -> set[str]:
    return {t for t in admin.list_topics() if t.startswith(prefix + ".")}


def test_onboarding_creates_and_delete_removes_topics(
    make_client,
    kafka_settings: KafkaSettings,
    admin: KafkaAdminClient,  # type: ignore[no-untyped-def]
) -> None:
    provisioner = KafkaTopicProvisioner(kafka_settings)
    prefix = kafka_settings.topic_prefix
    with make_client(provisioners=[provisioner]) as client:
        body = tenant_payload(id="news-co", retention={"events_days": 7, "impressions_days": 2})
        response = client.post("/v1/tenants", json=body, headers=ADMIN)
        assert response.status_code == 201, response.text
        expected = {
            f"{prefix}.news-co.events",
            f"{prefix}.news-co.impressions",
            f"{prefix}.news-co.dead-letter",
        }
        assert {r["name"] for r in response.json()["resources"]} == expected
        assert _topics(admin, prefix) == expected

        described = {t["name"]: t for t in admin.describe_topics(sorted(expected))}
        assert all(len(t["partitions"]) == 2 for t in described.values())
        configs = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, f"{prefix}.news-co.impressions")]
        )
        retention = configs["topic"][f"{prefix}.news-co.impressions"]["retention.ms"]["value"]
        assert retention == str(2 * DAY_MS)

        ready = client.get("/readyz").json()
        assert ready["checks"]["kafka"]["ok"] is True

        deleted = client.delete("/v1/tenants/news-co", headers=ADMIN)
        assert deleted.status_code == 200
        assert deleted.json()["resources"] == []
        assert _topics(admin, prefix) == set()


def test_provision_is_idempotent_and_deprovision_tolerates_missing(
    kafka_settings: KafkaSettings, admin: KafkaAdminClient
) -> None:
    provisioner = KafkaTopicProvisioner(kafka_settings)
    tenant = TenantContext("shop", "ecommerce", Retention())
    first = provisioner.provision(tenant)
    second = provisioner.provision(tenant)
    assert first == second and len(first) == 3
    provisioner.deprovision("shop", first)
    provisioner.deprovision("shop", first)
    assert _topics(admin, kafka_settings.topic_prefix) == set()
    provisioner.close()


class _Broken:
    """A provisioner whose backend fails: stands for Feast/MLflow/Kubernetes being down."""

    name = "feast"

    def provision(self, tenant: TenantContext) -> list[ResourceRef]:
        raise ConnectionError("feature registry unreachable")

    def deprovision(self, tenant_id: str, resources: list[ResourceRef]) -> None:
        pass

    def check(self) -> None:
        raise ConnectionError("feature registry unreachable")


def test_failed_provisioning_rolls_back_topics_and_row(
    make_client,
    kafka_settings: KafkaSettings,
    admin: KafkaAdminClient,  # type: ignore[no-untyped-def]
) -> None:
    provisioners: list[Provisioner] = [KafkaTopicProvisioner(kafka_settings), _Broken()]
    with make_client(provisioners=provisioners) as client:
        response = client.post("/v1/tenants", json=tenant_payload(id="half-way"), headers=ADMIN)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert "feast" in response.json()["detail"]
        assert client.get("/v1/tenants/half-way", headers=ADMIN).status_code == 404
        assert _topics(admin, kafka_settings.topic_prefix) == set()

        not_ready = client.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["checks"]["feast"]["ok"] is False


def test_unreachable_broker_is_503_and_nothing_is_kept(make_client) -> None:  # type: ignore[no-untyped-def]
    dead = KafkaSettings(bootstrap_servers="127.0.0.1:1", request_timeout_ms=1500)
    with make_client(provisioners=[KafkaTopicProvisioner(dead)]) as client:
        response = client.post("/v1/tenants", json=tenant_payload(id="no-broker"), headers=ADMIN)
        assert response.status_code == 503
        assert "kafka" in response.json()["detail"]
        listed = client.get("/v1/tenants?include_deleted=true", headers=ADMIN).json()["items"]
        assert listed == []
