"""A conversation is read a page at a time, by keyset on (turn, id), on both engines; a chat
holds at most MAX_MESSAGES_PER_CHAT messages."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from memory import ChatFull, ChatStore
from memory.store import MESSAGE_PAGE_SIZE, MessageCursor, position_of


@pytest.fixture
def store(engine: Engine) -> ChatStore:
    return ChatStore(engine)


def conversation(store: ChatStore, user: str, session: str, turns: int) -> None:
    pairs: list[tuple[str, str]] = []
    for number in range(1, turns + 1):
        pairs += [("human", f"q{number}"), ("ai", f"a{number}")]
    store.append_messages(user, session, pairs)


def texts(messages) -> list[str]:
    return [message.content for message in messages]


def test_the_first_page_is_the_newest_messages_oldest_first(store: ChatStore) -> None:
    conversation(store, "ann", "long", turns=60)  # 120 messages

    page = store.load_page("ann", "long")

    assert len(page.messages) == MESSAGE_PAGE_SIZE
    assert page.messages[0].content == "q36" and page.messages[-1].content == "a60"
    assert page.has_earlier


def test_paging_back_visits_every_message_once_in_order(store: ChatStore) -> None:
    conversation(store, "ann", "long", turns=60)
    seen: list[str] = []
    page = store.load_page("ann", "long", limit=35)
    seen[:0] = texts(page.messages)
    while page.has_earlier:
        page = store.load_page("ann", "long", before=position_of(page.messages[0]), limit=35)
        seen[:0] = texts(page.messages)

    assert seen == texts(store.load_messages("ann", "long"))
    assert len(seen) == 120


def test_a_page_keeps_an_answer_after_its_question_when_turns_were_written_out_of_order(
    store: ChatStore,
) -> None:
    first = store.begin_turn("ann", "s", "first question")
    second = store.begin_turn("ann", "s", "second question")  # another tab, before the answer
    store.finish_turn(second, "second answer")
    store.finish_turn(first, "first answer")

    assert texts(store.load_page("ann", "s", limit=3).messages) == [
        "first answer",
        "second question",
        "second answer",
    ]
    assert texts(store.load_page("ann", "s").messages) == texts(store.load_messages("ann", "s"))


def test_loading_from_a_cursor_keeps_the_widened_view_as_new_messages_arrive(
    store: ChatStore,
) -> None:
    conversation(store, "ann", "long", turns=60)
    start = position_of(store.load_page("ann", "long", limit=30).messages[0])

    conversation(store, "ann", "long", turns=1)  # a new turn: q1, a1 appended at the end
    view = store.load_from("ann", "long", start)

    assert len(view.messages) == 32
    assert texts(view.messages)[:2] == ["q46", "a46"]
    assert texts(view.messages)[-2:] == ["q1", "a1"]
    assert view.has_earlier
    assert not store.load_from("ann", "long", MessageCursor(0, 0)).has_earlier


def test_pages_never_show_another_users_messages(store: ChatStore) -> None:
    conversation(store, "ann", "same-id", turns=3)
    conversation(store, "bob", "same-id", turns=3)
    store.append_messages("bob", "same-id", [("human", "bob only")])

    page = store.load_page("ann", "same-id")
    assert "bob only" not in texts(page.messages)
    assert not page.has_earlier
    assert store.load_page("cyd", "same-id").messages == []


def test_reading_backwards_returns_the_newest_first_with_turns(store: ChatStore) -> None:
    conversation(store, "ann", "s", turns=3)

    rows = store.load_conversation_before("ann", "s", limit=4)
    assert [(turn, role, content) for _id, turn, role, content, _status in rows] == [
        (3, "ai", "a3"),
        (3, "human", "q3"),
        (2, "ai", "a2"),
        (2, "human", "q2"),
    ]
    older = store.load_conversation_before(
        "ann", "s", before=MessageCursor(rows[-1][1], rows[-1][0]), limit=4
    )
    assert [content for _id, _turn, _role, content, _status in older] == ["a1", "q1"]


def test_a_full_chat_refuses_a_new_question_and_keeps_every_message(engine: Engine) -> None:
    store = ChatStore(engine, max_messages_per_chat=6)
    conversation(store, "ann", "s", turns=2)  # 4 messages: room for one more turn
    turn = store.begin_turn("ann", "s", "the last question that fits")
    store.finish_turn(turn, "the last answer")

    with pytest.raises(ChatFull, match="6 messages"):
        store.begin_turn("ann", "s", "one too many")
    with pytest.raises(ChatFull):
        store.append_messages("ann", "s", [("human", "imported one too many")])

    assert len(store.load_messages("ann", "s")) == 6
    assert store.get_session("ann", "s").message_count == 6
    store.begin_turn("ann", "another chat", "a new chat is fine")


def test_a_retry_in_a_full_chat_replaces_the_answer(engine: Engine) -> None:
    store = ChatStore(engine, max_messages_per_chat=4)
    conversation(store, "ann", "s", turns=2)

    turn = store.reopen_last_turn("ann", "s")
    store.finish_turn(turn, "a better second answer")

    assert texts(store.load_messages("ann", "s"))[-1] == "a better second answer"
    assert store.get_session("ann", "s").message_count == 4


def test_the_cap_comes_from_max_messages_per_chat(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_MESSAGES_PER_CHAT", "2")
    store = ChatStore(engine)
    store.begin_turn("ann", "s", "fits")

    with pytest.raises(ChatFull, match="2 messages"):
        store.begin_turn("ann", "s", "does not fit")
