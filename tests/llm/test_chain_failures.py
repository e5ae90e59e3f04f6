"""A failing model, through the real chain and a real store (SQLite and PostgreSQL): the
user's question stays stored, the error reads well, and Retry answers it without duplicates."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from sqlalchemy import Engine

from llm import explain_model_error, free_port, start_default_model
from memory import ChatStore, build_chain, stream_reply
from memory.chain import AnswerCutOff
from memory.store import COMPLETE, INTERRUPTED
from tests.support import openai_stub
from tests.support.openai_stub import OpenAIStub

pytestmark = pytest.mark.usefixtures("fresh_default_model")

USER, SESSION = "alice", "s1"
QUESTION = "what is a jvm"


def answer_stream(
    store: ChatStore, question: str = QUESTION, *, retry: bool = False
) -> Iterator[str]:
    """The answer streamed the way the chat page does it, with the app's model."""
    choice, model = start_default_model()
    chain = build_chain(model, store, context_tokens=choice.context_tokens)
    if retry:
        turn = store.reopen_last_turn(USER, SESSION)
    else:
        turn = store.begin_turn(USER, SESSION, question, ability="Java")
    assert turn is not None
    return stream_reply(chain, store, turn, ability="Java")


def ask(store: ChatStore, question: str = QUESTION, *, retry: bool = False) -> list[str]:
    """The parts of a streamed answer."""
    return list(answer_stream(store, question, retry=retry))


def stored(store: ChatStore) -> list[tuple[str, str, str]]:
    return [(m.role, m.content, m.status) for m in store.load_messages(USER, SESSION)]


def test_a_streamed_answer_is_stored_with_its_question(
    engine: Engine, provider_env: OpenAIStub
) -> None:
    store = ChatStore(engine)
    parts = ask(store)
    assert "".join(parts) == f"Echo: {QUESTION}"
    # Five words as the server streamed them, then the empty piece of the model's finish.
    assert len(parts) == 6 and parts[-1] == ""
    assert stored(store) == [
        ("human", QUESTION, COMPLETE),
        ("ai", f"Echo: {QUESTION}", COMPLETE),
    ]
    prompt = provider_env.prompts[-1]
    assert prompt[0]["role"] == "system" and "Java" in prompt[0]["content"]
    assert [m["content"] for m in prompt if m["role"] == "user"] == [QUESTION]


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        (openai_stub.UNAUTHORIZED, "The model provider refused the API key."),
        (openai_stub.SERVER_ERROR, "The model server had an internal error."),
        (
            openai_stub.RATE_LIMITED,
            "The model provider is busy right now; wait a moment and try again.",
        ),
        (openai_stub.HANG, "The model took too long to answer."),
        (
            openai_stub.TOO_LONG,
            "The message and the conversation before it are too long for the model.",
        ),
    ],
)
def test_a_failed_answer_keeps_the_question_and_retry_answers_it_once(
    engine: Engine, provider_env: OpenAIStub, mode: str, message: str
) -> None:
    store = ChatStore(engine)
    provider_env.mode = mode
    with pytest.raises(openai.APIError) as caught:
        ask(store)
    assert explain_model_error(caught.value).user_message == message
    assert stored(store) == [("human", QUESTION, COMPLETE)]

    provider_env.mode = openai_stub.NORMAL
    assert "".join(ask(store, "", retry=True)) == f"Echo: {QUESTION}"
    assert stored(store) == [
        ("human", QUESTION, COMPLETE),
        ("ai", f"Echo: {QUESTION}", COMPLETE),
    ]


def test_a_connection_dropped_mid_answer_keeps_the_partial_answer_marked_interrupted(
    engine: Engine, provider_env: OpenAIStub
) -> None:
    store = ChatStore(engine)
    provider_env.mode = openai_stub.DROP
    parts: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for text in answer_stream(store):
            parts.append(text)
    assert "".join(parts) == "Echo: what is"
    assert explain_model_error(caught.value).user_message == (
        "The model server went away in the middle of the answer."
    )
    assert stored(store) == [
        ("human", QUESTION, COMPLETE),
        ("ai", "Echo: what is", INTERRUPTED),
    ]

    provider_env.mode = openai_stub.NORMAL
    ask(store, "", retry=True)
    assert stored(store) == [
        ("human", QUESTION, COMPLETE),
        ("ai", f"Echo: {QUESTION}", COMPLETE),
    ]


@pytest.mark.parametrize("cut", [openai_stub.CUT_HTTP10, openai_stub.CUT_CHUNKED])
def test_a_stream_that_ends_without_finish_reason_is_stored_interrupted(
    engine: Engine, provider_env: OpenAIStub, cut: str
) -> None:
    """The server dies after half the answer: no finish_reason, no [DONE]. Over HTTP/1.0 the
    closed connection ends the body as if nothing were wrong; chunked, the body ends cleanly."""
    store = ChatStore(engine)
    provider_env.mode = cut
    parts: list[str] = []
    with pytest.raises(AnswerCutOff, match="cut off"):
        for text in answer_stream(store):
            parts.append(text)

    assert "".join(parts) == "Echo: what is"
    assert stored(store) == [
        ("human", QUESTION, COMPLETE),
        ("ai", "Echo: what is", INTERRUPTED),
    ]
    provider_env.mode = openai_stub.NORMAL
    ask(store, "", retry=True)
    assert stored(store) == [
        ("human", QUESTION, COMPLETE),
        ("ai", f"Echo: {QUESTION}", COMPLETE),
    ]


def test_an_unreachable_provider_keeps_the_question_and_retry_works_once_it_is_up(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("OPENAI_API_KEY", "sk")
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    store = ChatStore(engine)
    with pytest.raises(openai.APIError) as caught:
        ask(store)
    assert explain_model_error(caught.value).user_message == "The model server cannot be reached."
    assert stored(store) == [("human", QUESTION, COMPLETE)]

    with OpenAIStub(port=port):
        assert "".join(ask(store, "", retry=True)) == f"Echo: {QUESTION}"
    assert stored(store) == [
        ("human", QUESTION, COMPLETE),
        ("ai", f"Echo: {QUESTION}", COMPLETE),
    ]


def test_asking_the_same_question_again_after_a_failure_does_not_store_it_twice(
    engine: Engine, provider_env: OpenAIStub
) -> None:
    store = ChatStore(engine)
    provider_env.mode = openai_stub.SERVER_ERROR
    with pytest.raises(openai.APIError):
        ask(store)
    provider_env.mode = openai_stub.NORMAL
    ask(store)
    assert stored(store) == [
        ("human", QUESTION, COMPLETE),
        ("ai", f"Echo: {QUESTION}", COMPLETE),
    ]
