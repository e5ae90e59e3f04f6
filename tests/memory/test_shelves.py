"""Pinned and archived chats, and who wrote a chat's title: the store's rules, on both engines."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, update

from database import utcnow, write_transaction
from memory import ChatStore, InvalidContent, SessionNotFound
from memory.models import ChatSession
from memory.store import (
    ARCHIVED,
    LISTED,
    PINNED,
    TITLE_BY_MODEL,
    TITLE_BY_QUESTION,
    TITLE_BY_USER,
    cursor_of,
)


@pytest.fixture
def store(engine: Engine) -> ChatStore:
    return ChatStore(engine)


def chats(store: ChatStore, user: str, count: int) -> list[str]:
    """`count` answered chats of `user`, the last one newest; their ids in that order."""
    ids = []
    for number in range(count):
        session = f"chat{number}"
        store.finish_turn(store.begin_turn(user, session, f"question {number}"), "answer")
        ids.append(session)
    return ids


def listed(store: ChatStore, user: str, shelf: str | None = LISTED) -> list[str]:
    return [summary.session_id for summary in store.list_sessions(user, 100, shelf=shelf)]


def test_a_pinned_chat_leaves_the_list_for_the_pinned_shelf_and_comes_back_unpinned(
    store: ChatStore,
) -> None:
    first, second, third = chats(store, "alice", 3)
    store.pin_session("alice", first)
    assert listed(store, "alice", PINNED) == [first]
    assert listed(store, "alice") == [third, second]
    assert store.get_session("alice", first).pinned
    store.pin_session("alice", first, pinned=False)
    # Back in its place in time: pinning did not make it newer.
    assert listed(store, "alice") == [third, second, first]
    assert listed(store, "alice", PINNED) == []


def test_an_archived_chat_is_out_of_the_list_but_searched_and_restored(
    store: ChatStore,
) -> None:
    first, second = chats(store, "alice", 2)
    store.archive_session("alice", first)
    assert listed(store, "alice") == [second]
    assert listed(store, "alice", ARCHIVED) == [first]
    hits = store.search_sessions("alice", "question 0")
    assert [(hit.session_id, hit.archived) for hit in hits] == [(first, True)]
    store.archive_session("alice", first, archived=False)
    assert listed(store, "alice") == [second, first]
    assert listed(store, "alice", ARCHIVED) == []


def test_a_chat_is_in_one_place_at_a_time(store: ChatStore) -> None:
    (chat,) = chats(store, "alice", 1)
    store.pin_session("alice", chat)
    store.archive_session("alice", chat)  # archiving unpins
    assert store.get_session("alice", chat).shelf == ARCHIVED
    store.pin_session("alice", chat, pinned=False)  # not pinned: unpinning leaves it archived
    assert store.get_session("alice", chat).shelf == ARCHIVED
    store.pin_session("alice", chat)  # pinning an archived chat brings it back, pinned
    assert store.get_session("alice", chat).shelf == PINNED
    store.archive_session("alice", chat, archived=False)  # not archived: stays pinned
    assert store.get_session("alice", chat).shelf == PINNED


def test_pin_and_archive_are_per_user(store: ChatStore) -> None:
    chats(store, "alice", 1)
    chats(store, "bob", 1)  # bob's chat has the same id, "chat0"
    store.pin_session("alice", "chat0")
    store.archive_session("bob", "chat0")
    assert listed(store, "alice", PINNED) == ["chat0"]
    assert listed(store, "bob", PINNED) == []
    assert listed(store, "bob", ARCHIVED) == ["chat0"]
    assert listed(store, "alice", ARCHIVED) == []


def test_moving_a_chat_another_user_or_nobody_has_is_refused(store: ChatStore) -> None:
    chats(store, "alice", 1)
    with pytest.raises(SessionNotFound):
        store.pin_session("bob", "chat0")
    with pytest.raises(SessionNotFound):
        store.archive_session("alice", "no-such-chat")
    assert store.get_session("alice", "chat0").shelf == LISTED


def test_an_unknown_shelf_is_refused_by_name(store: ChatStore) -> None:
    with pytest.raises(InvalidContent, match="unknown shelf 'trash'"):
        store.list_sessions("alice", shelf="trash")


def test_each_shelf_pages_by_keyset_newest_first(engine: Engine, store: ChatStore) -> None:
    ids = chats(store, "alice", 7)
    start = utcnow() - timedelta(days=30)
    with write_transaction(engine) as conn:
        for number, session in enumerate(ids):
            conn.execute(
                update(ChatSession)
                .where(ChatSession.user_id == "alice", ChatSession.session_id == session)
                .values(updated_at=start + timedelta(hours=number))
            )
    for session in ids[::2]:
        store.archive_session("alice", session)
    pages, after = [], None
    while page := store.list_sessions("alice", 2, after=after, shelf=ARCHIVED):
        pages.append([summary.session_id for summary in page])
        after = cursor_of(page[-1])
    assert pages == [["chat6", "chat4"], ["chat2", "chat0"]]
    assert listed(store, "alice") == ["chat5", "chat3", "chat1"]
    assert listed(store, "alice", None) == [f"chat{n}" for n in range(6, -1, -1)]


def test_the_first_question_titles_a_chat_and_a_rename_is_the_users(store: ChatStore) -> None:
    store.begin_turn("alice", "s1", "What is the JVM?")
    summary = store.get_session("alice", "s1")
    assert (summary.title, summary.title_source) == ("What is the JVM?", TITLE_BY_QUESTION)
    store.rename_session("alice", "s1", "Java notes")
    assert store.get_session("alice", "s1").title_source == TITLE_BY_USER
    created = store.create_session("alice", session_id="s2", title="Named at once")
    assert created.title_source == TITLE_BY_USER


def test_the_models_title_replaces_only_the_first_words(store: ChatStore) -> None:
    store.begin_turn("alice", "s1", "What is the JVM?")
    assert store.set_model_title("alice", "s1", "Java Virtual Machine basics")
    summary = store.get_session("alice", "s1")
    assert (summary.title, summary.title_source) == ("Java Virtual Machine basics", TITLE_BY_MODEL)
    # Written once: a second title (a retry of the first turn) does not replace it.
    assert not store.set_model_title("alice", "s1", "Another title")
    store.begin_turn("alice", "s2", "Tell me a story")
    store.rename_session("alice", "s2", "Bedtime")
    assert not store.set_model_title("alice", "s2", "Story request")
    assert store.get_session("alice", "s2").title == "Bedtime"
    assert not store.set_model_title("bob", "s1", "Not bob's chat")
    assert store.get_session("alice", "s1").title == "Java Virtual Machine basics"


def test_the_first_exchange_is_the_first_turns_complete_answer(store: ChatStore) -> None:
    assert store.first_exchange("alice", "s1") is None
    turn = store.begin_turn("alice", "s1", "First?")
    assert store.first_exchange("alice", "s1") is None
    store.finish_turn(turn, "Half", status="interrupted")
    assert store.first_exchange("alice", "s1") is None
    store.finish_turn(turn, "Whole answer.")
    store.finish_turn(store.begin_turn("alice", "s1", "Second?"), "Second answer.")
    assert store.first_exchange("alice", "s1") == ("First?", "Whole answer.")
    assert store.first_exchange("bob", "s1") is None
