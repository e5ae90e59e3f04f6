"""Usage figures on SQLite and PostgreSQL: messages and active users per UTC day, and totals
for a page of users."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, create_engine, update

from database import write_transaction
from memory import ChatStore
from memory.models import ChatMessage
from memory.stats import Usage, active_users_per_day, messages_per_day, user_usage
from tests.support.databases import whole_database

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
TODAY = NOW.date()


@pytest.fixture
def store(engine: Engine) -> ChatStore:
    return ChatStore(engine)


def _turn(store: ChatStore, user_id: str, session_id: str, at: datetime, *, answer: bool) -> None:
    """One question (and an answer when `answer`), both stamped `at`."""
    turn = store.begin_turn(user_id, session_id, f"question at {at.isoformat()}")
    if answer:
        store.finish_turn(turn, "an answer")
    table = ChatMessage.__table__
    with write_transaction(whole_database(store.engine)) as conn:
        conn.execute(
            update(table)
            .where(
                table.c.user_id == user_id,
                table.c.session_id == session_id,
                table.c.turn == turn.number,
            )
            .values(created_at=at)
        )


def _day(days_ago: int, hour: int = 12) -> datetime:
    return datetime.combine(TODAY - timedelta(days=days_ago), datetime.min.time(), UTC).replace(
        hour=hour
    )


def test_messages_per_day_lists_every_day_oldest_first_with_zeros(store: ChatStore) -> None:
    _turn(store, "alice", "s1", _day(0), answer=True)
    _turn(store, "alice", "s1", _day(0, hour=1), answer=False)
    _turn(store, "bob", "s1", _day(2), answer=True)
    _turn(store, "bob", "s2", _day(6), answer=False)

    result = messages_per_day(store, days=7, now=NOW)

    assert result == [
        (date(2026, 6, 9), 1),
        (date(2026, 6, 10), 0),
        (date(2026, 6, 11), 0),
        (date(2026, 6, 12), 0),
        (date(2026, 6, 13), 2),
        (date(2026, 6, 14), 0),
        (date(2026, 6, 15), 3),
    ]


def test_messages_outside_the_window_are_not_counted(store: ChatStore) -> None:
    _turn(store, "alice", "s1", _day(3), answer=True)
    _turn(store, "alice", "s2", _day(-1), answer=True)
    _turn(store, "alice", "s3", _day(1), answer=False)

    assert messages_per_day(store, days=3, now=NOW) == [
        (date(2026, 6, 13), 0),
        (date(2026, 6, 14), 1),
        (date(2026, 6, 15), 0),
    ]


def test_an_empty_database_gives_a_zero_for_every_day(store: ChatStore) -> None:
    assert messages_per_day(store, now=NOW) == [
        (TODAY - timedelta(days=offset), 0) for offset in range(29, -1, -1)
    ]
    assert [count for _, count in active_users_per_day(store, now=NOW)] == [0] * 30


def test_active_users_counts_each_user_who_wrote_once_per_day(store: ChatStore) -> None:
    _turn(store, "alice", "s1", _day(0, hour=1), answer=True)
    _turn(store, "alice", "s2", _day(0, hour=9), answer=True)
    _turn(store, "alice", "s1", _day(1), answer=False)
    _turn(store, "bob", "s1", _day(0, hour=23), answer=False)
    _turn(store, "carol", "s1", _day(2), answer=True)

    assert active_users_per_day(store, days=3, now=NOW) == [
        (date(2026, 6, 13), 1),
        (date(2026, 6, 14), 1),
        (date(2026, 6, 15), 2),
    ]


def test_an_answer_alone_does_not_make_its_user_active_that_day(store: ChatStore) -> None:
    _turn(store, "alice", "s1", _day(1, hour=23), answer=True)
    table = ChatMessage.__table__
    with write_transaction(whole_database(store.engine)) as conn:
        conn.execute(update(table).where(table.c.role == "ai").values(created_at=_day(0, hour=0)))

    assert active_users_per_day(store, days=2, now=NOW) == [
        (date(2026, 6, 14), 1),
        (date(2026, 6, 15), 0),
    ]
    assert messages_per_day(store, days=2, now=NOW) == [
        (date(2026, 6, 14), 1),
        (date(2026, 6, 15), 1),
    ]


@pytest.fixture
def store_in_another_time_zone(engine: Engine) -> Iterator[ChatStore]:
    """The same database seen through connections whose session time zone is UTC+14 (on
    SQLite, which has none, the same store)."""
    if engine.dialect.name == "sqlite":
        yield ChatStore(engine)
        return
    shifted = create_engine(engine.url, connect_args={"options": "-c TimeZone=Pacific/Kiritimati"})
    yield ChatStore(shifted)
    shifted.dispose()


def test_days_are_utc_days_whatever_the_connection_time_zone(
    store: ChatStore, store_in_another_time_zone: ChatStore
) -> None:
    _turn(store, "alice", "s1", _day(1, hour=23).replace(minute=59, second=59), answer=False)
    _turn(store, "bob", "s1", _day(0, hour=0), answer=False)

    expected = [(date(2026, 6, 14), 1), (date(2026, 6, 15), 1)]
    assert messages_per_day(store_in_another_time_zone, days=2, now=NOW) == expected
    assert active_users_per_day(store_in_another_time_zone, days=2, now=NOW) == expected


@pytest.mark.parametrize("days", [0, -3, 3661, 1.5, True])
def test_a_window_that_is_not_a_whole_number_of_days_is_refused(
    store: ChatStore, days: object
) -> None:
    with pytest.raises(ValueError, match="days"):
        messages_per_day(store, days=days, now=NOW)


def test_usage_covers_a_page_of_users_including_one_with_nothing_stored(
    store: ChatStore,
) -> None:
    for session_id in ("s1", "s2"):
        turn = store.begin_turn("alice", session_id, "abcd" * 10)  # 40 characters
        store.finish_turn(turn, "xyz" * 20)  # 60 characters
    store.create_session("alice", session_id="empty")
    turn = store.begin_turn("bob", "s1", "hi")  # 2 characters: rounds to 1 token
    store.begin_turn("bob", "s1", "h")  # 1 more: 3 characters, still about 1 token
    store.begin_turn("dave", "s1", "not on this page")

    usage = user_usage(store, user_ids=["alice", "bob", "carol"])

    assert usage == {
        "alice": Usage(sessions=3, messages=4, approx_tokens=50),
        "bob": Usage(sessions=1, messages=2, approx_tokens=1),
        "carol": Usage(sessions=0, messages=0, approx_tokens=0),
    }


def test_usage_of_many_users_is_complete(store: ChatStore) -> None:
    user_ids = [f"user{number:04d}" for number in range(1200)]
    store.begin_turn("user0007", "s1", "abcdefgh")

    usage = user_usage(store, user_ids=user_ids)

    assert set(usage) == set(user_ids)
    assert usage["user0007"] == Usage(sessions=1, messages=1, approx_tokens=2)
    assert usage["user1199"] == Usage(sessions=0, messages=0, approx_tokens=0)


def test_usage_of_no_users_is_empty(store: ChatStore) -> None:
    assert user_usage(store, user_ids=[]) == {}
