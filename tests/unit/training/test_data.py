"""Training data: event weights and times from the offline store, refusals that name the problem."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError
from recsys_platform.errors import InsufficientTrainingData
from recsys_platform.offline.parquet_store import OfflineEvent, OfflineEventStore
from recsys_platform.recommenders.catalog_frame import catalog_frame
from recsys_platform.training import data
from recsys_platform.training.params import TrainingParams
from recsys_platform.training.progress import read_status, stage

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def event(n: int, type_: str, *, item: str | None = "i1", value: float | None = None) -> OfflineEvent:
    at = T0 + timedelta(minutes=n)
    return OfflineEvent(f"e{n}", f"u{n % 2}", item, type_, at, at, value=value)


def test_load_events_weights_types_drops_impressions_and_keeps_unix_seconds(tmp_path: Path) -> None:
    store = OfflineEventStore(tmp_path)
    store.append(
        "acme",
        [
            event(0, "click"),
            event(1, "purchase"),
            event(2, "impression"),
            event(3, "rating", value=4.0),
            event(4, "click", item=None),
            event(5, "skip"),
        ],
        "b1",
    )
    frame = data.load_events(tmp_path, "acme", TrainingParams())
    assert frame["value"].tolist() == [1.0, 3.0, 4.0]
    assert frame["timestamp"].tolist() == [T0.timestamp(), T0.timestamp() + 60, T0.timestamp() + 180]


def catalog(with_text: bool = True) -> pd.DataFrame:
    return catalog_frame([{"item_id": f"i{i}", "title": "a story" if with_text else ""} for i in range(3)])


def events(n: int, users: int = 3, items: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [f"u{i % users}" for i in range(n)],
            "item_id": [f"i{i % items}" for i in range(n)],
            "value": [1.0] * n,
            "timestamp": [T0.timestamp() + i for i in range(n)],
        }
    )


def test_no_events_is_refused_naming_the_tenant() -> None:
    with pytest.raises(InsufficientTrainingData, match="'acme' has no usable events"):
        data.check_training_data("acme", events(0), catalog(), TrainingParams())


def test_too_little_data_lists_every_shortfall() -> None:
    with pytest.raises(InsufficientTrainingData) as refused:
        data.check_training_data("acme", events(5, users=1), catalog(), TrainingParams())
    assert "5 usable events, at least 20 needed" in refused.value.detail
    assert "1 distinct users, at least 2 needed" in refused.value.detail
    assert {e.field for e in refused.value.errors} == {"events", "events.user_id"}


def test_required_content_needs_text() -> None:
    params = TrainingParams(require_content=True)
    with pytest.raises(InsufficientTrainingData, match="no catalog item has text"):
        data.check_training_data("acme", events(30), catalog(with_text=False), params)
    window = data.check_training_data("acme", events(30), catalog(), params)
    assert (window.events, window.users, window.items) == (30, 3, 3)
    assert window.start == T0.isoformat()


def test_params_refuse_unknown_fields_and_bad_windows() -> None:
    with pytest.raises(ValidationError, match="epochs"):
        TrainingParams.model_validate({"epochs": 3})
    with pytest.raises(ValidationError, match="start must not be after end"):
        TrainingParams.model_validate({"start": "2026-11-02", "end": "2026-11-01"})


def test_catalog_fields_follow_the_declared_schema() -> None:
    schema = {
        "fields": [
            {"name": "title", "type": "text"},
            {"name": "brand", "type": "string"},
            {"name": "category", "type": "string"},
            {"name": "tags", "type": "string_list"},
        ]
    }
    assert data._catalog_fields(schema) == (["title"], ["tags", "category"])
    assert data._catalog_fields({"fields": []}) == (None, None)


def test_stage_records_the_failure_message(tmp_path: Path) -> None:
    with pytest.raises(ValueError), stage("train", str(tmp_path)):
        raise ValueError("only 3 items")
    status = read_status(tmp_path)
    assert status["train"]["status"] == "failed"
    assert status["train"]["error"] == "ValueError: only 3 items"
    with stage("evaluate", str(tmp_path)):
        pass
    assert read_status(tmp_path)["evaluate"]["status"] == "succeeded"
