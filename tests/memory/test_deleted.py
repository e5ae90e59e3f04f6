"""Delete with Undo, on SQLite and PostgreSQL: a deleted chat is gone from everything at once,
and Undo within UNDO_SECONDS puts it back exactly (versions, search index, title, shelf);
later, for an owner who is gone, or over a chat made again with its id, Undo refuses."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

import accounts
from accounts import Account
from memory import ChatStore
from memory.deleted import UNDO_SECONDS, CannotRestore, delete_chat, restore_chat
from tests.support.databases import whole_database


@pytest.fixture
def store(engine: Engine) -> ChatStore:
    return ChatStore(engine)


@pytest.fixture
def ann(engine: Engine) -> Account:
    return accounts.create_account(engine, username="ann", password="correct horse battery")


@pytest.fixture
def ben(engine: Engine, ann: Account) -> Account:
    return accounts.create_account(engine, username="ben", password="correct horse battery")


def edited_chat(store: ChatStore, user: Account, session_id: str) -> None:
    """Two turns, the first question edited once: two versions of it, each answered."""
    first = store.begin_turn(user.id, session_id, "Which fjord is the longest?")
    store.finish_turn(first, "Scoresby Sund, in Greenland.")
    edited = store.edit_question(
        user.id, session_id, first.question_id, "Which glacier moves fastest?"
    )
    store.finish_turn(edited, "Jakobshavn Isbrae.")
    second = store.begin_turn(user.id, session_id, "How fast is it?")
    store.finish_turn(second, "Up to 40 metres a day.")
    store.rename_session(user.id, session_id, "Ice questions")
    store.pin_session(user.id, session_id, True)


def raw_rows(engine: Engine, user: Account) -> dict[str, list[tuple]]:
    """What the tables hold for the user, read as the owner (past row security)."""
    sqlite = engine.dialect.name == "sqlite"
    index = (
        "SELECT s.rowid, s.terms FROM message_search AS s JOIN chat_messages AS m "
        "ON m.id = s.rowid WHERE m.user_id = :user_id ORDER BY 1"
        if sqlite
        else "SELECT message_id, session_id, terms::text FROM message_search "
        "WHERE user_id = :user_id ORDER BY 1"
    )
    queries = {
        "sessions": "SELECT * FROM chat_sessions WHERE user_id = :user_id",
        "messages": "SELECT * FROM chat_messages WHERE user_id = :user_id ORDER BY id",
        "search": index,
        # A chat's terms carry its owner's search key: `17xjava`.
        "terms": "SELECT t.session_id, t.term, t.hits, t.newest FROM session_terms AS t "
        "JOIN search_owners AS o ON o.user_id = :user_id "
        "WHERE t.term LIKE CAST(o.key AS VARCHAR) || 'x%' ORDER BY 1, 2",
    }
    with whole_database(engine).connect() as conn:
        return {
            table: [tuple(row) for row in conn.execute(text(query), {"user_id": user.id})]
            for table, query in queries.items()
        }


def found(store: ChatStore, user: Account, query: str) -> list[str]:
    return [hit.session_id for hit in store.search_sessions(user.id, query)]


def test_undo_puts_a_deleted_chat_back_exactly_search_index_included(
    store: ChatStore, ann: Account, ben: Account
) -> None:
    edited_chat(store, ann, "ice")
    edited_chat(store, ben, "ice")
    before = raw_rows(store.engine, ann)
    bens = raw_rows(store.engine, ben)
    assert found(store, ann, "jakobshavn") == ["ice"]

    deleted = delete_chat(store, ann.id, "ice")

    assert deleted is not None and deleted.title == "Ice questions"
    assert store.get_session(ann.id, "ice") is None
    assert found(store, ann, "jakobshavn") == []
    assert raw_rows(store.engine, ann) == {
        "sessions": [],
        "messages": [],
        "search": [],
        "terms": [],
    }
    assert raw_rows(store.engine, ben) == bens

    restore_chat(store, deleted)

    assert raw_rows(store.engine, ann) == before
    assert raw_rows(store.engine, ben) == bens
    assert found(store, ann, "jakobshavn") == ["ice"]
    assert found(store, ann, "scoresby") == ["ice"]  # the other version is found too
    summary = store.get_session(ann.id, "ice")
    assert summary is not None and summary.pinned and summary.title == "Ice questions"
    # The chat goes on from where it was: the next turn follows the restored ones.
    turn = store.begin_turn(ann.id, "ice", "And in winter?")
    store.finish_turn(turn, "Slower.")
    assert [m.content for m in store.load_messages(ann.id, "ice")][-4:] == [
        "How fast is it?",
        "Up to 40 metres a day.",
        "And in winter?",
        "Slower.",
    ]


def test_undo_refuses_once_its_time_is_up(store: ChatStore, ann: Account) -> None:
    edited_chat(store, ann, "ice")
    deleted = delete_chat(store, ann.id, "ice")
    assert deleted is not None

    with pytest.raises(CannotRestore, match="too late"):
        restore_chat(store, deleted, now=deleted.deleted_at + UNDO_SECONDS + 0.1)

    assert store.get_session(ann.id, "ice") is None


def test_undo_refuses_for_an_owner_disabled_meanwhile(store: ChatStore, ann: Account) -> None:
    edited_chat(store, ann, "ice")
    deleted = delete_chat(store, ann.id, "ice")
    assert deleted is not None
    with whole_database(store.engine).begin() as conn:
        conn.execute(text("UPDATE users SET disabled = true WHERE id = :id"), {"id": ann.id})

    with pytest.raises(CannotRestore, match="no longer"):
        restore_chat(store, deleted)

    assert raw_rows(store.engine, ann)["messages"] == []


def test_undo_refuses_over_a_chat_made_again_with_the_same_id_and_keeps_that_one(
    store: ChatStore, ann: Account
) -> None:
    edited_chat(store, ann, "ice")
    deleted = delete_chat(store, ann.id, "ice")
    assert deleted is not None
    turn = store.begin_turn(ann.id, "ice", "A new start")
    store.finish_turn(turn, "Fresh.")

    with pytest.raises(CannotRestore, match="exists again"):
        restore_chat(store, deleted)

    assert [m.content for m in store.load_messages(ann.id, "ice")] == ["A new start", "Fresh."]


def test_deleting_a_chat_that_is_not_there_returns_nothing(store: ChatStore, ann: Account) -> None:
    assert delete_chat(store, ann.id, "nowhere") is None
