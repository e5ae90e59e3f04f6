"""Retention on SQLite and PostgreSQL: the policy setting, purging exactly the expired
sessions, the record of the last purge and when the next one is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, update

import accounts
from database import write_transaction
from database.app_settings import write_setting
from memory import ChatStore, retention
from memory.models import ChatMessage, ChatSession
from memory.retention import (
    InvalidRetention,
    PurgeCounts,
    last_purge,
    purge_due,
    purge_expired,
    retention_days,
    set_retention_days,
)
from quotas import Limits, admit_question, set_own_limits, todays_use
from quotas.models import QuotaUse
from sso.models import PendingLogin
from tests.support.databases import whole_database

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(engine: Engine) -> ChatStore:
    return ChatStore(engine)


def _session(store: ChatStore, user_id: str, session_id: str, *, updated: datetime) -> None:
    """A session of two turns (four messages) last updated at `updated`."""
    for number in range(2):
        turn = store.begin_turn(user_id, session_id, f"question {number}")
        store.finish_turn(turn, f"answer {number}")
    table = ChatSession.__table__
    with write_transaction(whole_database(store.engine)) as conn:
        conn.execute(
            update(table)
            .where(table.c.user_id == user_id, table.c.session_id == session_id)
            .values(updated_at=updated)
        )


def _remaining(store: ChatStore) -> set[tuple[str, str]]:
    table = ChatSession.__table__
    with whole_database(store.engine).connect() as conn:
        return {tuple(row) for row in conn.execute(select(table.c.user_id, table.c.session_id))}


def _message_count(store: ChatStore) -> int:
    with whole_database(store.engine).connect() as conn:
        return conn.scalar(select(func.count()).select_from(ChatMessage))


def test_keep_forever_is_the_default(engine: Engine) -> None:
    assert retention_days(engine) is None


@pytest.mark.parametrize("days", [1, 30, 36_500, None])
def test_the_retention_period_is_stored(engine: Engine, days: int | None) -> None:
    set_retention_days(engine, days=7)

    set_retention_days(engine, days=days)

    assert retention_days(engine) == days


@pytest.mark.parametrize("days", [0, -1, 36_501, "30", 1.5, True])
def test_a_retention_period_out_of_range_is_refused(engine: Engine, days: object) -> None:
    set_retention_days(engine, days=30)

    with pytest.raises(InvalidRetention, match="whole number of days"):
        set_retention_days(engine, days=days)
    assert retention_days(engine) == 30


def test_a_damaged_retention_setting_keeps_everything(store: ChatStore) -> None:
    _session(store, "alice", "old", updated=NOW - timedelta(days=4000))
    write_setting(store.engine, retention.RETENTION_DAYS_KEY, "0")

    assert retention_days(store.engine) is None
    assert purge_expired(store, now=NOW).sessions == 0
    assert _remaining(store) == {("alice", "old")}


def test_purge_deletes_exactly_the_sessions_not_updated_within_the_period(
    store: ChatStore,
) -> None:
    set_retention_days(store.engine, days=30)
    cutoff = NOW - timedelta(days=30)
    _session(store, "alice", "ancient", updated=NOW - timedelta(days=400))
    _session(store, "alice", "just-expired", updated=cutoff - timedelta(microseconds=1))
    _session(store, "alice", "at-the-cutoff", updated=cutoff)
    _session(store, "alice", "recent", updated=NOW - timedelta(days=1))
    _session(store, "bob", "ancient", updated=NOW - timedelta(days=31))
    _session(store, "bob", "recent", updated=NOW - timedelta(days=29))

    counts = purge_expired(store, now=NOW)

    assert counts == PurgeCounts(sessions=3, messages=12, at=NOW, cutoff=cutoff)
    assert _remaining(store) == {("alice", "at-the-cutoff"), ("alice", "recent"), ("bob", "recent")}
    assert _message_count(store) == 12
    assert store.load_messages("alice", "ancient") == []
    assert len(store.load_messages("bob", "recent")) == 4


def test_keep_forever_purges_nothing_and_still_records_the_run(store: ChatStore) -> None:
    _session(store, "alice", "ancient", updated=NOW - timedelta(days=4000))

    counts = purge_expired(store, now=NOW)

    assert counts == PurgeCounts(sessions=0, messages=0, at=NOW, cutoff=None)
    assert _remaining(store) == {("alice", "ancient")}
    assert last_purge(store.engine) == counts


def test_every_purge_drops_quota_counts_older_than_yesterday(
    store: ChatStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSWORD_HASH_ROUNDS", "4")
    ada = accounts.create_account(store.engine, username="ada", password="correct horse b")
    set_own_limits(store.engine, ada.id, Limits(messages_per_day=9), now=NOW)
    for days_ago in (0, 1, 2, 30):
        admit_question(store.engine, ada.id, tokens=1, now=NOW - timedelta(days=days_ago))

    purge_expired(store, now=NOW)  # keep forever: no chat goes, old counts still do

    with whole_database(store.engine).connect() as conn:
        days = conn.scalars(select(QuotaUse.day).order_by(QuotaUse.day)).all()
    assert days == [(NOW - timedelta(days=1)).date(), NOW.date()]
    assert todays_use(store.engine, [ada.id], now=NOW)[ada.id].messages_used == 1


def test_a_large_purge_runs_in_several_batches(
    store: ChatStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "PURGE_BATCH_SESSIONS", 2)
    set_retention_days(store.engine, days=1)
    for number in range(5):
        _session(store, f"user{number}", "old", updated=NOW - timedelta(days=2 + number))
    _session(store, "user0", "new", updated=NOW)

    counts = purge_expired(store, now=NOW)

    assert (counts.sessions, counts.messages) == (5, 20)
    assert _remaining(store) == {("user0", "new")}


def test_no_purge_is_recorded_before_the_first(engine: Engine) -> None:
    assert last_purge(engine) is None


def test_the_last_purge_is_recorded_with_counts_and_times(store: ChatStore) -> None:
    set_retention_days(store.engine, days=10)
    _session(store, "alice", "old", updated=NOW - timedelta(days=11))
    purge_expired(store, now=NOW - timedelta(days=1))

    second = purge_expired(store, now=NOW)

    assert last_purge(store.engine) == second
    assert second == PurgeCounts(sessions=1, messages=4, at=NOW, cutoff=NOW - timedelta(days=10))


def test_an_unreadable_purge_record_counts_as_no_purge(engine: Engine) -> None:
    write_setting(engine, retention.LAST_PURGE_KEY, "{not json")

    assert last_purge(engine) is None
    assert purge_due(engine, now=NOW)


def test_a_purge_is_due_when_none_has_run(store: ChatStore) -> None:
    assert purge_due(store.engine, now=NOW)


def test_a_purge_is_due_once_a_day_has_passed_since_the_last(store: ChatStore) -> None:
    purge_expired(store, now=NOW)

    assert not purge_due(store.engine, now=NOW)
    assert not purge_due(store.engine, now=NOW + timedelta(hours=23, minutes=59))
    assert purge_due(store.engine, now=NOW + timedelta(days=1))
    assert purge_due(store.engine, now=NOW + timedelta(hours=2), every=timedelta(hours=1))


def test_a_naive_now_is_refused(store: ChatStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        purge_expired(store, now=datetime(2026, 1, 1))


def test_every_purge_drops_expired_sign_ins_and_unfinished_single_sign_ons(
    store: ChatStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSWORD_HASH_ROUNDS", "4")
    ada = accounts.create_account(store.engine, username="ada", password="correct horse b")
    for days in (1, 30):
        accounts.start_sign_in(
            store.engine,
            user_id=ada.id,
            device="test",
            browser="b" * 32,
            lifetime=timedelta(days=days),
            now=NOW - timedelta(days=2),
        )
    with write_transaction(whole_database(store.engine)) as conn:
        for state, minutes in (("gone", -1), ("waiting", 5)):
            conn.execute(
                PendingLogin.__table__.insert().values(
                    state_hash=state,
                    nonce="n",
                    code_verifier="v",
                    browser_hash="b",
                    redirect_uri="http://127.0.0.1/auth/sso/callback",
                    next_path="/",
                    expires_at=NOW + timedelta(minutes=minutes),
                )
            )

    purge_expired(store, now=NOW)

    assert [
        s.expires_at for s in accounts.list_sign_ins(store.engine, user_id=ada.id, now=NOW)
    ] == [NOW + timedelta(days=28)]
    with whole_database(store.engine).connect() as conn:
        assert conn.scalars(select(PendingLogin.state_hash)).all() == ["waiting"]
