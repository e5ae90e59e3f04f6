"""The database goes away or is busy in the middle of a chat: nothing stored is lost or
duplicated, the error is a clear exception, and the same store recovers by itself."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator

import pytest

from database.engine import dispose_engine
from memory import ChatStore, StoreUnavailable, open_store
from tests.support.postgres import PostgresCluster


@pytest.fixture
def own_cluster() -> Iterator[PostgresCluster]:
    """A cluster of this test's own, since the test restarts it."""
    cluster = PostgresCluster().start()
    yield cluster
    cluster.destroy()


@pytest.fixture
def pg_store(own_cluster: PostgresCluster) -> Iterator[ChatStore]:
    url = own_cluster.create_app_database()
    yield open_store(url)
    dispose_engine(url)


def contents(store: ChatStore, user: str, session: str) -> list[tuple[str, str, str]]:
    return [(m.role, m.content, m.status) for m in store.load_messages(user, session)]


def test_a_postgres_restart_between_turns_is_invisible_to_the_next_turn(
    pg_store: ChatStore, own_cluster: PostgresCluster
) -> None:
    turn = pg_store.begin_turn("u1", "s1", "before the restart")
    pg_store.finish_turn(turn, "answer one")
    started = time.perf_counter()
    own_cluster.restart()
    restart_seconds = time.perf_counter() - started
    # The pool's connections all died with the server; pre-ping replaces them silently.
    turn = pg_store.begin_turn("u1", "s1", "after the restart")
    pg_store.finish_turn(turn, "answer two")
    assert contents(pg_store, "u1", "s1") == [
        ("human", "before the restart", "complete"),
        ("ai", "answer one", "complete"),
        ("human", "after the restart", "complete"),
        ("ai", "answer two", "complete"),
    ]
    print(f"postgres restart took {restart_seconds:.2f}s; first turn after it succeeded")


def test_postgres_down_during_a_turn_keeps_the_question_and_a_retry_answers_it_once(
    pg_store: ChatStore, own_cluster: PostgresCluster
) -> None:
    turn = pg_store.begin_turn("u1", "s1", "asked just before the outage")
    own_cluster.stop()
    with pytest.raises(StoreUnavailable, match="not reachable") as down:
        pg_store.finish_turn(turn, "an answer that cannot be saved now")
    assert "Connection refused" in str(down.value.__cause__)
    with pytest.raises(StoreUnavailable):
        pg_store.load_messages("u1", "s1")
    own_cluster.start()
    recovered = time.perf_counter()
    # Retrying the same question reuses its stored turn instead of storing it twice.
    retried = pg_store.begin_turn("u1", "s1", "asked just before the outage")
    assert retried.number == turn.number
    pg_store.finish_turn(retried, "answered after recovery")
    print(f"recovered {time.perf_counter() - recovered:.3f}s after the server came back")
    assert contents(pg_store, "u1", "s1") == [
        ("human", "asked just before the outage", "complete"),
        ("ai", "answered after recovery", "complete"),
    ]


def test_a_sqlite_writer_waits_for_another_process_lock_instead_of_failing(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    path = sqlite_url.removeprefix("sqlite:///")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    release = threading.Timer(1.0, other.execute, args=("COMMIT",))
    release.start()
    started = time.perf_counter()
    turn = store.begin_turn("u1", "s1", "written while the database was locked")
    waited = time.perf_counter() - started
    store.finish_turn(turn, "and answered")
    release.join()
    other.close()
    assert waited >= 0.9
    assert contents(store, "u1", "s1") == [
        ("human", "written while the database was locked", "complete"),
        ("ai", "and answered", "complete"),
    ]
    dispose_engine(sqlite_url)


def test_a_sqlite_lock_held_past_the_busy_timeout_is_a_clear_error_and_stores_nothing(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("database.engine.SQLITE_BUSY_TIMEOUT_MS", 300)
    store = open_store(sqlite_url)
    path = sqlite_url.removeprefix("sqlite:///")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(StoreUnavailable) as locked:
        store.begin_turn("u1", "s1", "cannot be written yet")
    assert "locked" in str(locked.value.__cause__)
    other.execute("COMMIT")
    other.close()
    assert store.load_messages("u1", "s1") == []
    turn = store.begin_turn("u1", "s1", "cannot be written yet")
    store.finish_turn(turn, "now it can")
    assert [m.content for m in store.load_messages("u1", "s1")] == [
        "cannot be written yet",
        "now it can",
    ]
    dispose_engine(sqlite_url)
