"""A server schema change that breaks ``recsys-client`` fails the build."""

from __future__ import annotations

import copy

import pytest

from tests.unit.client.schema_compat import client_classes, problems, server_schemas


@pytest.fixture(scope="module")
def server() -> dict:  # type: ignore[type-arg]
    return server_schemas()


def test_the_client_models_match_the_servers_schemas(server: dict) -> None:  # type: ignore[type-arg]
    assert problems(server) == []
    assert len(client_classes()) >= 30


def test_breaking_changes_are_caught(server: dict) -> None:  # type: ignore[type-arg]
    renamed = copy.deepcopy(server)
    event = renamed["Event"]
    event["properties"]["product_id"] = event["properties"].pop("item_id")
    event["required"] = [f if f != "item_id" else "product_id" for f in event["required"]]
    assert set(problems(renamed)) == {
        "Event.item_id: the client sends it, the server does not know it",
        "Event.product_id: the server requires it, the client may leave it out",
    }

    dropped = copy.deepcopy(server)
    answer = dropped.get("RecommendationResponse-Output") or dropped["RecommendationResponse"]
    answer["required"].remove("fallback")
    assert problems(dropped) == [
        "RecommendationResponse.fallback: the client requires it, the server may leave it out"
    ]

    new_value = copy.deepcopy(server)
    status = new_value.get("ExperimentPublic-Output") or new_value["ExperimentPublic"]
    status["properties"]["status"]["enum"].append("paused")
    assert problems(new_value) == ["ExperimentPublic.status: the client refuses values the server sends"]

    retyped = copy.deepcopy(server)
    retyped["RecommendedItem"]["properties"]["score"] = {"type": "string"}
    assert problems(retyped) == ["RecommendedItem.score: the client refuses values the server sends"]
