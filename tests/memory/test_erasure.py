"""Erasing a user's chats, on SQLite and PostgreSQL: nothing of theirs is left, nothing of
anyone else is touched."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from memory import ChatStore, InvalidId, erasure
from memory.erasure import ErasedCounts, delete_user_content
from tests.support.databases import whole_database


@pytest.fixture
def store(engine: Engine) -> ChatStore:
    return ChatStore(engine)


def _chat(store: ChatStore, user_id: str, session_id: str, turns: int = 2) -> None:
    for number in range(turns):
        turn = store.begin_turn(user_id, session_id, f"{user_id} asks {number}")
        store.finish_turn(turn, f"answer {number} for {user_id}")


def _rows_of(engine: Engine, user_id: str) -> tuple[int, int]:
    """Raw counts, not through the store: what is really left in the tables."""
    with whole_database(engine).connect() as conn:
        sessions = conn.execute(
            text("SELECT count(*) FROM chat_sessions WHERE user_id = :user_id"),
            {"user_id": user_id},
        ).scalar_one()
        messages = conn.execute(
            text("SELECT count(*) FROM chat_messages WHERE user_id = :user_id"),
            {"user_id": user_id},
        ).scalar_one()
    return sessions, messages


def test_erasure_leaves_no_row_of_the_users_content(store: ChatStore) -> None:
    for session_id in ("s1", "s2", "s3"):
        _chat(store, "alice", session_id)
    store.create_session("alice", session_id="empty")

    counts = delete_user_content(store, user_id="alice")

    assert counts == ErasedCounts(sessions=4, messages=12)
    assert _rows_of(store.engine, "alice") == (0, 0)
    assert store.list_sessions("alice") == []


def test_erasure_leaves_other_users_with_the_same_session_ids_intact(store: ChatStore) -> None:
    for user_id in ("alice", "bob", "carol"):
        _chat(store, user_id, "s1")
        _chat(store, user_id, "s2", turns=1)
    bob_before = {s: store.load_messages("bob", s) for s in ("s1", "s2")}

    delete_user_content(store, user_id="alice")

    assert _rows_of(store.engine, "alice") == (0, 0)
    assert _rows_of(store.engine, "bob") == (2, 6)
    assert _rows_of(store.engine, "carol") == (2, 6)
    assert {s: store.load_messages("bob", s) for s in ("s1", "s2")} == bob_before


def test_erasure_of_a_long_history_runs_in_several_batches(
    store: ChatStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(erasure, "ERASE_BATCH_SESSIONS", 2)
    for number in range(7):
        _chat(store, "alice", f"s{number}", turns=1)
    _chat(store, "bob", "s0", turns=1)

    counts = delete_user_content(store, user_id="alice")

    assert counts == ErasedCounts(sessions=7, messages=14)
    assert _rows_of(store.engine, "alice") == (0, 0)
    assert _rows_of(store.engine, "bob") == (1, 2)


def test_erasing_a_user_with_nothing_stored_erases_nothing(store: ChatStore) -> None:
    _chat(store, "bob", "s1")

    assert delete_user_content(store, user_id="alice") == ErasedCounts(sessions=0, messages=0)
    assert _rows_of(store.engine, "bob") == (1, 4)


def test_the_user_can_start_again_after_erasure(store: ChatStore) -> None:
    _chat(store, "alice", "s1")
    delete_user_content(store, user_id="alice")

    turn = store.begin_turn("alice", "s1", "fresh start")

    assert turn.number == 1
    assert [m.content for m in store.load_messages("alice", "s1")] == ["fresh start"]


@pytest.mark.parametrize("user_id", ["", "a\x00b", "x" * 256])
def test_erasure_refuses_an_invalid_user_id(store: ChatStore, user_id: str) -> None:
    _chat(store, "alice", "s1")

    with pytest.raises(InvalidId):
        delete_user_content(store, user_id=user_id)
    assert _rows_of(store.engine, "alice") == (1, 4)
