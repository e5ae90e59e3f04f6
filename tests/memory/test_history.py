"""The LangChain adapter: a BaseChatMessageHistory for exactly one (user_id, session_id) pair,
returning plain messages in order and refusing what the store cannot keep exactly."""

from __future__ import annotations

import pytest
from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from sqlalchemy import Engine

from memory import ChatStore, InvalidContent, InvalidId
from memory.history import to_langchain


@pytest.fixture
def store(engine: Engine) -> ChatStore:
    return ChatStore(engine)


def plain(messages: list[BaseMessage]) -> list[tuple[type, str]]:
    return [(type(message), message.content) for message in messages]


def test_a_history_is_a_langchain_chat_history(store: ChatStore) -> None:
    assert isinstance(store.get_history("user1", "session1"), BaseChatMessageHistory)


def test_added_messages_come_back_in_order_as_plain_messages(store: ChatStore) -> None:
    history = store.get_history("user1", "session1")
    history.add_messages([HumanMessage("What is jvm?"), AIMessage("The JVM.")])
    history.add_messages([HumanMessage("And the JIT?"), AIMessage("A compiler.")])
    assert plain(history.messages) == [
        (HumanMessage, "What is jvm?"),
        (AIMessage, "The JVM."),
        (HumanMessage, "And the JIT?"),
        (AIMessage, "A compiler."),
    ]
    assert plain(store.get_history("user1", "session1").messages) == plain(history.messages)


def test_each_message_carries_its_row_id(store: ChatStore) -> None:
    history = store.get_history("user1", "session1")
    history.add_messages([HumanMessage("q"), AIMessage("a")])
    rows = store.load_messages("user1", "session1")
    assert [message.id for message in history.messages] == [str(row.id) for row in rows]


def test_a_streamed_chunk_is_stored_as_a_plain_ai_message(store: ChatStore) -> None:
    history = store.get_history("user1", "session1")
    chunk = AIMessageChunk(content="The ") + AIMessageChunk(content="JVM.")
    history.add_messages([HumanMessage("What is jvm?"), chunk])
    assert plain(history.messages) == [(HumanMessage, "What is jvm?"), (AIMessage, "The JVM.")]


def test_single_messages_and_system_messages_round_trip(store: ChatStore) -> None:
    history = store.get_history("user1", "session1")
    history.add_message(SystemMessage("Be brief."))
    history.add_user_message("hi")
    history.add_ai_message("hello")
    assert plain(history.messages) == [
        (SystemMessage, "Be brief."),
        (HumanMessage, "hi"),
        (AIMessage, "hello"),
    ]


def test_the_same_session_id_of_two_users_gives_two_histories(store: ChatStore) -> None:
    store.get_history("user1", "session1").add_messages([HumanMessage("mine"), AIMessage("a")])
    store.get_history("user2", "session1").add_messages([HumanMessage("theirs"), AIMessage("b")])
    assert plain(store.get_history("user1", "session1").messages) == [
        (HumanMessage, "mine"),
        (AIMessage, "a"),
    ]
    assert plain(store.get_history("user2", "session1").messages) == [
        (HumanMessage, "theirs"),
        (AIMessage, "b"),
    ]


def test_clearing_a_history_leaves_other_users_and_sessions_alone(store: ChatStore) -> None:
    for user, session in (("user1", "s1"), ("user1", "s2"), ("user2", "s1")):
        store.get_history(user, session).add_messages([HumanMessage(f"{user}/{session}")])
    store.get_history("user1", "s1").clear()
    assert store.get_history("user1", "s1").messages == []
    assert store.get_session("user1", "s1") is not None
    assert plain(store.get_history("user1", "s2").messages) == [(HumanMessage, "user1/s2")]
    assert plain(store.get_history("user2", "s1").messages) == [(HumanMessage, "user2/s1")]


def test_an_interrupted_answer_is_flagged_on_the_message(store: ChatStore) -> None:
    turn = store.begin_turn("user1", "s1", "question")
    store.finish_turn(turn, "half an ans", status="interrupted")
    question, answer = store.get_history("user1", "s1").messages
    assert answer.additional_kwargs == {"interrupted": True}
    assert question.additional_kwargs == {}
    assert to_langchain(store.load_messages("user1", "s1")[1]) == answer


@pytest.mark.parametrize(
    "message",
    [
        HumanMessage(content=[{"type": "text", "text": "a list of parts"}]),
        ToolMessage(content="tool output", tool_call_id="call-1"),
        HumanMessage("NUL \x00 inside"),
    ],
    ids=["content parts", "tool message", "NUL"],
)
def test_messages_the_store_cannot_keep_exactly_are_refused_and_none_of_the_batch_is_stored(
    store: ChatStore, message: BaseMessage
) -> None:
    history = store.get_history("user1", "s1")
    with pytest.raises(InvalidContent):
        history.add_messages([HumanMessage("fine"), message])
    assert history.messages == []


@pytest.mark.parametrize("user_id, session_id", [("", "s1"), ("u1", ""), ("u1", "a\nb")])
def test_a_history_for_a_bad_id_cannot_be_made(
    store: ChatStore, user_id: str, session_id: str
) -> None:
    with pytest.raises(InvalidId):
        store.get_history(user_id, session_id)
