"""How one event changes a user's real-time state (pure logic)."""

from __future__ import annotations

import pytest
from recsys_platform.features.state import (
    APPLIED_IDS,
    HISTORY_ITEMS,
    SESSION_ITEMS,
    AppliedEvent,
    UserState,
    apply_event,
    apply_events,
    row_to_state,
    state_to_row,
)

HOUR_S = 3600.0
T0 = 1_700_000_000_000


def ev(
    event_id: str,
    type: str = "click",
    item_id: str | None = "i1",
    at_ms: int = T0,
    session_id: str | None = "s1",
    value: float | None = None,
    categories: tuple[str, ...] = ("sports",),
) -> AppliedEvent:
    return AppliedEvent(event_id, type, item_id, at_ms, session_id, value, categories)


def apply_all(events: list[AppliedEvent], state: UserState | None = None) -> UserState:
    state = state or UserState(user_id="u1")
    for e in events:
        state = apply_event(state, e, HOUR_S)
    return state


def test_first_event() -> None:
    s = apply_all([ev("e1", item_id="i1", categories=("sports", "news"))])
    assert s.recent_items == ("i1",)
    assert (s.session_id, s.session_clicks) == ("s1", 1)
    assert s.category_affinity == {"sports": 0.5, "news": 0.5}
    assert (s.last_event_ms, s.event_count, s.applied_event_ids) == (T0, 1, ("e1",))


def test_a_redelivered_event_is_applied_once() -> None:
    once = apply_all([ev("e1"), ev("e2", item_id="i2", at_ms=T0 + 1)])
    assert apply_all([ev("e1"), ev("e2", item_id="i2", at_ms=T0 + 1), ev("e1")]) == once
    assert apply_event(once, ev("e2", item_id="i2", at_ms=T0 + 1), HOUR_S) is once


def test_applied_ids_are_newest_first_and_capped() -> None:
    s = apply_all([ev(f"e{i}", at_ms=T0 + i) for i in range(APPLIED_IDS + 3)])
    # the oldest chunk of 100 ids left whole; its latest event time is the floor
    assert len(s.applied_event_ids) == APPLIED_IDS + 3 - 100
    assert s.applied_event_ids[0] == f"e{APPLIED_IDS + 2}"
    assert "e99" not in s.applied_event_ids and "e100" in s.applied_event_ids
    assert s.dedup_floor_ms == T0 + 99
    assert s.event_count == APPLIED_IDS + 3
    assert row_to_state(state_to_row(s)) == s


def test_a_duplicate_is_recognised_long_after_it_left_the_id_window() -> None:
    """Finding 6 of issue 11: a duplicate counted again once 500 newer events had passed."""
    s = apply_all([ev(f"e{i}", at_ms=T0 + i) for i in range(3 * APPLIED_IDS)])
    assert "e0" not in s.applied_event_ids
    again = apply_event(s, ev("e0", at_ms=T0), HOUR_S)
    assert again is s and again.event_count == 3 * APPLIED_IDS
    new = apply_event(s, ev("fresh", at_ms=T0 + 3 * APPLIED_IDS), HOUR_S)
    assert new.event_count == 3 * APPLIED_IDS + 1
    assert len(state_to_row(new)["applied_event_ids"]) <= APPLIED_IDS + 1  # bounded


def test_recent_items_most_recent_first_without_duplicates() -> None:
    s = apply_all([ev("e1", item_id="a"), ev("e2", item_id="b"), ev("e3", item_id="a")])
    assert s.recent_items == ("a", "b")


def test_history_is_capped_at_the_setting_and_defaults_to_a_thousand() -> None:
    events = [ev(f"e{i}", item_id=f"i{i}", at_ms=T0 + i) for i in range(30)]
    s = apply_events(UserState(user_id="u1"), events, HOUR_S, history_items=25)
    assert len(s.recent_items) == 25 == len(s.recent_weights) == len(s.recent_times_ms)
    assert s.recent_items[0] == "i29" and s.recent_items[-1] == "i5"
    many = [ev(f"e{i}", item_id=f"i{i}", at_ms=T0 + i) for i in range(1200)]
    long = apply_events(UserState(user_id="u1"), many, HOUR_S)
    assert len(long.recent_items) == HISTORY_ITEMS == 1000 and long.recent_items[-1] == "i200"


def test_every_interaction_enters_the_history_but_only_liked_items_are_scored() -> None:
    s = apply_all(
        [
            ev("e1", item_id="a"),
            ev("e2", "skip", item_id="b", at_ms=T0 + 1),
            ev("e3", "impression", item_id="c", at_ms=T0 + 2),
            ev("e4", "rating", item_id="d", value=1.0, at_ms=T0 + 3),
        ]
    )
    assert s.recent_items == ("d", "b", "a")  # all interactions; an impression is not one
    assert s.recent_weights == (1.0, -0.5, 1.0)  # a rating weighs its stars, as in training
    assert s.positive_items == ("d", "a")
    assert apply_all([ev("e1", item_id=None)]).recent_items == ()


def test_weights_add_up_and_an_item_keeps_its_latest_time() -> None:
    s = apply_all(
        [
            ev("e1", item_id="a"),
            ev("e2", "purchase", item_id="a", at_ms=T0 + 10),
            ev("e3", item_id="b", at_ms=T0 + 5),
        ]
    )
    assert s.recent_items == ("a", "b") and s.recent_weights == (4.0, 1.0)
    assert s.recent_times_ms == (T0 + 10, T0 + 5)
    late = apply_event(s, ev("e4", item_id="c", at_ms=T0 + 7), HOUR_S)  # late: placed by its time
    assert late.recent_items == ("a", "c", "b")


def test_a_batch_gives_the_same_state_as_one_event_at_a_time() -> None:
    types = ["click", "like", "skip", "rating"]
    events = [
        ev(
            f"e{i}",
            types[i % 4],
            item_id=f"i{i % 7}",
            at_ms=T0 + i * 1000,
            session_id=f"s{i // 5}",
            value=i % 5 + 1,
        )
        for i in range(40)
    ]
    one_by_one = apply_all(events)
    assert apply_events(UserState(user_id="u1"), events, HOUR_S) == one_by_one
    assert apply_events(one_by_one, events[:10], HOUR_S) is one_by_one  # redelivered: unchanged


def test_session_items_are_the_current_sessions_clicks_most_recent_first() -> None:
    s = apply_all(
        [ev("e1", item_id="a"), ev("e2", item_id="b", at_ms=T0 + 1), ev("e3", item_id="a", at_ms=T0 + 2)]
    )
    assert s.session_items == ("a", "b")
    s = apply_event(s, ev("e4", item_id="c", session_id="s2", at_ms=T0 + 3), HOUR_S)
    assert s.session_items == ("c",)
    more = [ev(f"x{i}", item_id=f"n{i}", session_id="s2", at_ms=T0 + 10 + i) for i in range(60)]
    s = apply_events(s, more, HOUR_S)
    assert len(s.session_items) == SESSION_ITEMS and s.session_items[0] == "n59"


def test_a_row_written_before_weights_were_kept_still_reads() -> None:
    old = row_to_state({"user_id": "u1", "recent_items": ["a", "b"], "last_event_ms": T0})
    assert old.positive_items == ("a", "b")
    s = apply_event(old, ev("e1", item_id="c", at_ms=T0 + 1), HOUR_S)
    assert s.recent_items == ("c", "a", "b") and s.recent_weights == (1.0, 1.0, 1.0)


def test_session_clicks_count_clicks_views_and_watches_only() -> None:
    types = ["click", "view", "watch", "like", "purchase", "impression"]
    s = apply_all([ev(f"e{i}", t, at_ms=T0 + i) for i, t in enumerate(types)])
    assert (s.session_id, s.session_clicks) == ("s1", 3)


def test_a_new_session_restarts_the_click_count() -> None:
    s = apply_all([ev("e1"), ev("e2", at_ms=T0 + 1), ev("e3", session_id="s2", at_ms=T0 + 2)])
    assert (s.session_id, s.session_clicks) == ("s2", 1)
    s = apply_event(s, ev("e4", session_id=None, at_ms=T0 + 3), HOUR_S)  # no session: the current one
    assert (s.session_id, s.session_clicks) == ("s2", 2)


def test_a_late_event_of_an_earlier_session_does_not_switch_back() -> None:
    s = apply_all([ev("e1", at_ms=T0), ev("e2", session_id="s2", at_ms=T0 + 60_000)])
    late = apply_event(s, ev("e3", session_id="s1", at_ms=T0 + 1_000), HOUR_S)
    assert (late.session_id, late.session_clicks) == ("s2", 1)
    assert late.last_event_ms == T0 + 60_000 and late.event_count == 3


def test_affinity_halves_after_one_half_life() -> None:
    s = apply_all([ev("e1", "like", categories=("sports",))])
    assert s.category_affinity == {"sports": 2.0}
    later = apply_event(s, ev("e2", "impression", at_ms=T0 + int(HOUR_S * 1000)), HOUR_S)
    assert later.category_affinity == {"sports": pytest.approx(1.0)}
    later = apply_event(
        later, ev("e3", "click", at_ms=T0 + int(HOUR_S * 1000), categories=("sports",)), HOUR_S
    )
    assert later.category_affinity == {"sports": pytest.approx(2.0)}


def test_a_late_event_counts_decayed_and_does_not_move_time_back() -> None:
    s = apply_all([ev("e1", "click", at_ms=T0 + int(HOUR_S * 1000), categories=("news",))])
    late = apply_event(s, ev("e2", "click", at_ms=T0, categories=("sports",)), HOUR_S)
    assert late.category_affinity == {"news": 1.0, "sports": pytest.approx(0.5)}
    assert late.last_event_ms == T0 + int(HOUR_S * 1000)


def test_skip_has_negative_weight() -> None:
    s = apply_all([ev("e1", "skip", categories=("sports",))])
    assert s.category_affinity == {"sports": -0.5}


@pytest.mark.parametrize(("stars", "weight"), [(1, -0.6), (2.5, 0.0), (4, 0.6), (5, 1.0), (None, 1.0)])
def test_rating_maps_stars_to_weight(stars: float | None, weight: float) -> None:
    s = apply_all([ev("e1", "rating", value=stars, categories=("drama",))])
    assert s.category_affinity == ({"drama": pytest.approx(weight)} if weight else {})


def test_tiny_affinities_are_dropped() -> None:
    s = apply_all([ev("e1", "click", categories=("sports",))])
    much_later = apply_event(s, ev("e2", "impression", at_ms=T0 + int(20 * HOUR_S * 1000)), HOUR_S)
    assert much_later.category_affinity == {}


def test_unknown_event_types_count_but_are_not_scored() -> None:
    s = apply_all([ev("e1", "mystery")])
    assert s.category_affinity == {} and s.positive_items == () and s.session_clicks == 0
    assert s.event_count == 1 and s.applied_event_ids == ("e1",)


def test_row_round_trip() -> None:
    s = apply_all([ev("e1", "like", categories=("a", "b")), ev("e2", session_id="s2", at_ms=T0 + 5)])
    row = state_to_row(s)
    assert row["session_id"] == "s2" and isinstance(row["category_affinity"], str)
    assert isinstance(row["recent_items"], list) and isinstance(row["applied_event_ids"], list)
    assert row_to_state(row) == s
    empty = UserState(user_id="u2")
    assert state_to_row(empty)["session_id"] == ""
    assert row_to_state(state_to_row(empty)) == empty
