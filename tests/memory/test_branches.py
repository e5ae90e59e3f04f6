"""Edited questions and retried answers: versions on branches, the active path the chat shows
and the model is sent, and their isolation, on both engines."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import BaseMessage
from sqlalchemy import Engine, func, select

from memory import ChatStore, SessionNotFound, build_chain, stream_reply
from memory.chain import session_window
from memory.errors import ChatFull, InvalidContent, MessageNotFound
from memory.models import ChatMessage
from memory.store import INTERRUPTED
from tests.support.databases import whole_database
from tests.support.fake_chat import RecordingChatModel


@pytest.fixture
def store(engine: Engine) -> ChatStore:
    return ChatStore(engine)


def answered(store: ChatStore, user: str, session: str, question: str, answer: str) -> int:
    """Ask and answer one turn; the question's message id."""
    turn = store.begin_turn(user, session, question)
    store.finish_turn(turn, answer)
    return turn.question_id


def path(store: ChatStore, user: str = "alice", session: str = "chat") -> list[str]:
    return [message.content for message in store.load_messages(user, session)]


def page_versions(store: ChatStore, user: str = "alice", session: str = "chat") -> dict:
    page = store.load_page(user, session)
    return {
        message.content: (page.versions[message.id].number, page.versions[message.id].count)
        for message in page.messages
        if message.id in page.versions
    }


def every_row(engine: Engine) -> int:
    with whole_database(engine).connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(ChatMessage)) or 0)


def test_editing_a_question_starts_a_branch_and_keeps_the_old_one(
    store: ChatStore, engine: Engine
) -> None:
    answered(store, "alice", "chat", "one", "1")
    second = answered(store, "alice", "chat", "two", "2")
    answered(store, "alice", "chat", "three", "3")
    turn = store.edit_question("alice", "chat", second, "TWO")
    assert (turn.number, turn.question) == (2, "TWO")
    assert path(store) == ["one", "1", "TWO"]
    store.finish_turn(turn, "II")
    assert path(store) == ["one", "1", "TWO", "II"]
    assert page_versions(store) == {"TWO": (2, 2)}
    # Nothing was deleted: the old branch's question, answer and third turn are all kept.
    assert every_row(engine) == 8
    assert store.get_session("alice", "chat").message_count == 8


def test_going_back_to_an_old_version_shows_its_branch_as_it_was_left(store: ChatStore) -> None:
    answered(store, "alice", "chat", "one", "1")
    second = answered(store, "alice", "chat", "two", "2")
    answered(store, "alice", "chat", "three", "3")
    turn = store.edit_question("alice", "chat", second, "TWO")
    store.finish_turn(turn, "II")
    answered(store, "alice", "chat", "after edit", "A")
    store.show_version("alice", "chat", second)
    assert path(store) == ["one", "1", "two", "2", "three", "3"]
    assert page_versions(store) == {"two": (1, 2)}
    store.show_version("alice", "chat", turn.question_id)
    assert path(store) == ["one", "1", "TWO", "II", "after edit", "A"]


def test_the_next_question_continues_the_branch_on_screen(store: ChatStore) -> None:
    first = answered(store, "alice", "chat", "one", "1")
    answered(store, "alice", "chat", "two", "2")
    store.finish_turn(store.edit_question("alice", "chat", first, "ONE"), "I")
    turn = store.begin_turn("alice", "chat", "next")
    assert turn.number == 2
    store.finish_turn(turn, "n")
    assert path(store) == ["ONE", "I", "next", "n"]
    store.show_version("alice", "chat", first)
    assert path(store) == ["one", "1", "two", "2"]


def test_retry_keeps_the_old_answer_as_a_version_and_either_can_be_shown(
    store: ChatStore,
) -> None:
    answered(store, "alice", "chat", "one", "first answer")
    turn = store.reopen_last_turn("alice", "chat")
    assert turn is not None
    store.finish_turn(turn, "second answer")
    assert path(store) == ["one", "second answer"]
    assert page_versions(store) == {"second answer": (2, 2)}
    page = store.load_page("alice", "chat")
    older = page.versions[page.messages[-1].id].previous_id
    store.show_version("alice", "chat", older)
    assert path(store) == ["one", "first answer"]
    assert page_versions(store) == {"first answer": (1, 2)}


def test_an_interrupted_answer_stays_a_version_marked_interrupted(store: ChatStore) -> None:
    turn = store.begin_turn("alice", "chat", "count")
    store.finish_turn(turn, "one two", status=INTERRUPTED)
    store.finish_turn(store.reopen_last_turn("alice", "chat"), "one two three")
    page = store.load_page("alice", "chat")
    store.show_version("alice", "chat", page.versions[page.messages[-1].id].previous_id)
    shown = store.load_messages("alice", "chat")
    assert [(m.content, m.status) for m in shown] == [
        ("count", "complete"),
        ("one two", INTERRUPTED),
    ]


def test_the_next_question_follows_the_answer_version_on_screen(store: ChatStore) -> None:
    fake = RecordingChatModel(replies=["first", "second", "third"], prompts=[])
    chain = build_chain(fake, store)
    consume(stream_reply(chain, store, store.begin_turn("alice", "chat", "q")))
    consume(stream_reply(chain, store, store.reopen_last_turn("alice", "chat")))
    page = store.load_page("alice", "chat")
    store.show_version("alice", "chat", page.versions[page.messages[-1].id].previous_id)
    consume(stream_reply(chain, store, store.begin_turn("alice", "chat", "and then?")))
    assert contents(fake.prompts[2])[1:] == ["q", "first", "and then?"]


def consume(stream: Any) -> str:
    return "".join(stream)


def contents(prompt: list[BaseMessage]) -> list[str]:
    return [message.content for message in prompt]


def test_a_secret_said_only_on_one_branch_never_reaches_a_prompt_on_another(
    store: ChatStore,
) -> None:
    fake = RecordingChatModel(replies=["noted", "ok", "fine", "sure", "yes"], prompts=[])
    chain = build_chain(fake, store)
    consume(stream_reply(chain, store, store.begin_turn("alice", "chat", "Hello")))
    secret_turn = store.begin_turn("alice", "chat", "My password is swordfish-42")
    consume(stream_reply(chain, store, secret_turn))
    consume(stream_reply(chain, store, store.begin_turn("alice", "chat", "Remember it")))
    # Branch B: the secret question edited away, then the chat goes on from there.
    edited = store.edit_question("alice", "chat", secret_turn.question_id, "What is 2+2?")
    consume(stream_reply(chain, store, edited))
    consume(stream_reply(chain, store, store.begin_turn("alice", "chat", "What did I say?")))
    on_branch_b = fake.prompts[3:]
    assert len(on_branch_b) == 2
    for prompt in on_branch_b:
        assert not any("swordfish" in text for text in contents(prompt))
    # The prompt for a turn is exactly the active path up to it.
    assert contents(fake.prompts[4])[1:] == [
        "Hello",
        "noted",
        "What is 2+2?",
        "sure",
        "What did I say?",
    ]
    assert not any("swordfish" in m.content for m in store.get_history("alice", "chat").messages)
    # Still stored on branch A, one click away, and the chain sees it there again.
    store.show_version("alice", "chat", secret_turn.question_id)
    assert any("swordfish" in m.content for m in store.get_history("alice", "chat").messages)


def test_versions_are_per_user_and_per_chat(store: ChatStore) -> None:
    alice_q = answered(store, "alice", "chat", "alice asks", "a")
    answered(store, "bob", "chat", "bob asks", "b")
    answered(store, "alice", "other", "other chat", "o")
    with pytest.raises(MessageNotFound):
        store.edit_question("bob", "chat", alice_q, "hijack")
    with pytest.raises(MessageNotFound):
        store.show_version("bob", "chat", alice_q)
    with pytest.raises(MessageNotFound):
        store.edit_question("alice", "other", alice_q, "wrong chat")
    store.finish_turn(store.edit_question("alice", "chat", alice_q, "alice again"), "a2")
    assert path(store, "bob", "chat") == ["bob asks", "b"]
    assert path(store, "alice", "other") == ["other chat", "o"]
    assert page_versions(store, "bob", "chat") == {}


def test_only_a_question_on_the_path_can_be_edited(store: ChatStore) -> None:
    question = answered(store, "alice", "chat", "one", "1")
    answer = store.load_messages("alice", "chat")[1].id
    with pytest.raises(MessageNotFound):
        store.edit_question("alice", "chat", answer, "an answer is not a question")
    store.edit_question("alice", "chat", question, "ONE")
    with pytest.raises(MessageNotFound):
        store.edit_question("alice", "chat", question, "off the path now")
    with pytest.raises(InvalidContent):
        store.edit_question("alice", "chat", question, "   ")
    with pytest.raises(SessionNotFound):
        store.edit_question("alice", "no such chat", question, "x")


def test_an_edit_counts_against_the_chat_cap(engine: Engine) -> None:
    store = ChatStore(engine, max_messages_per_chat=4)
    question = answered(store, "alice", "chat", "one", "1")
    answered(store, "alice", "chat", "two", "2")
    with pytest.raises(ChatFull):
        store.edit_question("alice", "chat", question, "ONE")
    assert path(store) == ["one", "1", "two", "2"]


def test_the_first_question_can_be_edited_and_its_versions_switched(store: ChatStore) -> None:
    first = answered(store, "alice", "chat", "one", "1")
    edited = store.edit_question("alice", "chat", first, "uno")
    store.finish_turn(edited, "I")
    again = store.edit_question("alice", "chat", edited.question_id, "eins")
    store.finish_turn(again, "i")
    assert page_versions(store) == {"eins": (3, 3)}
    store.show_version("alice", "chat", first)
    assert path(store) == ["one", "1"]
    assert store.first_exchange("alice", "chat") == ("one", "1")


def test_paging_and_the_prompt_window_read_the_path_only(store: ChatStore) -> None:
    first = answered(store, "alice", "chat", "one", "1")
    for number in range(30):
        answered(store, "alice", "chat", f"old {number}", f"o{number}")
    store.finish_turn(store.edit_question("alice", "chat", first, "ONE"), "I")
    for number in range(30):
        answered(store, "alice", "chat", f"new {number}", f"n{number}")
    page = store.load_page("alice", "chat", limit=10)
    assert [m.content for m in page.messages][-2:] == ["new 29", "n29"]
    assert all(m.on_path for m in page.messages)
    assert page.has_earlier
    window = store.get_history("alice", "chat").messages
    assert not any(m.content.startswith("old") for m in window)
    assert len(window) == 62
    every = store.load_messages("alice", "chat", every_version=True)
    assert len(every) == 124
    assert sum(not m.on_path for m in every) == 62


def test_an_answer_for_a_branch_no_longer_shown_joins_that_branch_unseen(
    store: ChatStore,
) -> None:
    first = answered(store, "alice", "chat", "one", "1")
    pending = store.begin_turn("alice", "chat", "two")
    # Another tab edits the first question while this answer is still being written.
    store.finish_turn(store.edit_question("alice", "chat", first, "ONE"), "I")
    store.finish_turn(pending, "2")
    assert path(store) == ["ONE", "I"]
    store.show_version("alice", "chat", first)
    assert path(store) == ["one", "1", "two", "2"]


def test_messages_left_out_of_the_prompt_are_counted_on_the_path_only(store: ChatStore) -> None:
    first = answered(store, "alice", "chat", "one", "1")
    for number in range(40):
        answered(store, "alice", "chat", f"old question {number} " + "word " * 40, "answer")
    store.finish_turn(store.edit_question("alice", "chat", first, "ONE"), "I")
    assert store.count_path("alice", "chat") == 2
    short = session_window(store, "alice", "chat", ability="Java", context_tokens=2_000)
    assert (len(short.messages), short.omitted) == (2, 0)

    for number in range(40):
        answered(store, "alice", "chat", f"new question {number} " + "word " * 40, "answer")
    assert store.count_path("alice", "chat") == 82
    long = session_window(store, "alice", "chat", ability="Java", context_tokens=2_000)
    assert 0 < len(long.messages) < 82
    assert long.omitted == 82 - len(long.messages)


def test_a_retry_landing_after_another_tab_went_on_is_added_without_hiding_that_tab(
    store: ChatStore,
) -> None:
    answered(store, "alice", "chat", "one", "1")
    answered(store, "alice", "chat", "two", "2")
    retry = store.reopen_last_turn("alice", "chat")
    # Another tab goes on from the answer on screen while the retry is being written.
    answered(store, "alice", "chat", "three", "3")
    store.finish_turn(retry, "2 again")
    assert path(store) == ["one", "1", "two", "2", "three", "3"]
    assert page_versions(store) == {"2": (1, 2)}
    page = store.load_page("alice", "chat")
    store.show_version("alice", "chat", page.versions[page.messages[3].id].next_id)
    assert path(store) == ["one", "1", "two", "2 again"]


def test_a_full_chat_refuses_a_retry_that_would_cut_off_what_follows(engine: Engine) -> None:
    store = ChatStore(engine, max_messages_per_chat=6)
    answered(store, "alice", "chat", "one", "1")
    retry = store.reopen_last_turn("alice", "chat")
    answered(store, "alice", "chat", "two", "2")
    answered(store, "alice", "chat", "three", "3")
    with pytest.raises(ChatFull):
        store.finish_turn(retry, "1 again")
    assert path(store) == ["one", "1", "two", "2", "three", "3"]
    assert store.get_session("alice", "chat").message_count == 6
