"""A turn reads back only the newest messages a prompt window could hold, and what the model is
sent is exactly what trimming the whole history would send, on both engines."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.messages.utils import count_tokens_approximately, trim_messages
from sqlalchemy import Engine

from memory import ChatStore, build_chain, fit_history
from memory.chain import ANSWER_RESERVE_TOKENS, SYSTEM_PROMPT, session_window
from memory.history import TAIL_PAGE_MESSAGES, recent_messages, to_langchain
from tests.support.fake_chat import RecordingChatModel


@pytest.fixture
def store(engine: Engine) -> ChatStore:
    return ChatStore(engine)


def uneven_conversation(store: ChatStore, session: str, turns: int, seed: int) -> None:
    """Messages of very different lengths, so a window's edge falls anywhere."""
    rng = random.Random(seed)
    pairs: list[tuple[str, str]] = []
    for number in range(turns):
        pairs.append(("human", f"question {number} " + "w " * rng.randint(0, 300)))
        pairs.append(("ai", f"answer {number} " + "x " * rng.randint(0, 600)))
    store.append_messages("ann", session, pairs)


@pytest.mark.parametrize("context_tokens", [300, 1_000, 4_096, 16_000, 200_000])
def test_the_window_of_the_recent_messages_is_the_window_of_the_whole_history(
    store: ChatStore, context_tokens: int
) -> None:
    uneven_conversation(store, "long", turns=400, seed=context_tokens)
    everything = [to_langchain(m) for m in store.load_messages("ann", "long")]

    recent = recent_messages(store, "ann", "long", window_tokens=context_tokens)
    whole = fit_history(everything, ability="Java", question="q?", context_tokens=context_tokens)
    part = fit_history(recent, ability="Java", question="q?", context_tokens=context_tokens)

    assert [m.id for m in part.messages] == [m.id for m in whole.messages]
    assert recent == everything[-len(recent) :]
    if context_tokens < 200_000:
        assert len(recent) < len(everything)  # a small window never reads the whole chat


def test_a_turn_reads_a_window_not_the_chat(
    store: ChatStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.append_messages(
        "ann",
        "long",
        [("human" if n % 2 == 0 else "ai", f"m{n} " + "y " * 40) for n in range(3000)],
    )
    rows_read: list[int] = []
    read_back = store.load_conversation_before

    def counting(*args, **kwargs):
        rows = read_back(*args, **kwargs)
        rows_read.append(len(rows))
        return rows

    def whole_history(*args, **kwargs):
        raise AssertionError("a turn must not read the whole conversation")

    monkeypatch.setattr(store, "load_conversation_before", counting)
    monkeypatch.setattr(store, "load_conversation", whole_history)
    monkeypatch.setattr(store, "load_messages", whole_history)
    chain = build_chain(RecordingChatModel(replies=["ok"], prompts=[]), store, context_tokens=2_000)
    chain.invoke(
        {"ability": "Java", "input": "next?"},
        config={"configurable": {"user_id": "ann", "session_id": "long"}},
    )
    monkeypatch.undo()

    # A 2,000-token window of ~25-token messages is one page from the end, not 3,000 rows.
    assert rows_read == [TAIL_PAGE_MESSAGES]
    assert store.load_messages("ann", "long")[-1].content == "ok"


def test_the_chain_sends_the_newest_turns_that_fit_in_a_long_chat(store: ChatStore) -> None:
    uneven_conversation(store, "long", turns=300, seed=7)
    everything = [to_langchain(m) for m in store.load_messages("ann", "long")]
    model = RecordingChatModel(replies=["fine"], prompts=[])
    chain = build_chain(model, store, context_tokens=3_000)

    chain.invoke(
        {"ability": "Java", "input": "and now?"},
        config={"configurable": {"user_id": "ann", "session_id": "long"}},
    )

    expected = fit_history(everything, ability="Java", question="and now?", context_tokens=3_000)
    sent = model.prompts[0][1:-1]  # between the system line and the question
    assert [m.content for m in sent] == [m.content for m in expected.messages]
    assert sent[0].type == "human"


def test_the_page_says_how_many_stored_messages_the_model_does_not_see(store: ChatStore) -> None:
    uneven_conversation(store, "long", turns=TAIL_PAGE_MESSAGES, seed=3)
    everything = [to_langchain(m) for m in store.load_messages("ann", "long")]

    window = session_window(store, "ann", "long", ability="Java", context_tokens=2_500)

    whole = fit_history(everything, ability="Java", question="", context_tokens=2_500)
    assert window.omitted == whole.omitted > 0
    assert [m.id for m in window.messages] == [m.id for m in whole.messages]


messages_of_any_length = st.lists(
    st.tuples(
        st.sampled_from(["human", "ai"]),
        st.text(alphabet="ab é東😀", max_size=120),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(pairs=messages_of_any_length, context_tokens=st.integers(min_value=0, max_value=2_000))
def test_the_window_is_the_one_langchains_trim_messages_keeps(
    pairs: list[tuple[str, str]], context_tokens: int
) -> None:
    history = [
        (HumanMessage if role == "human" else AIMessage)(content=text, id=str(number))
        for number, (role, text) in enumerate(pairs)
    ]
    window = fit_history(history, ability="Java", question="q?", context_tokens=context_tokens)

    budget = (
        context_tokens
        - count_tokens_approximately(
            [SystemMessage(SYSTEM_PROMPT.format(ability="Java")), ("human", "q?")]
        )
        - ANSWER_RESERVE_TOKENS
    )
    expected = (
        trim_messages(
            history,
            max_tokens=budget,
            token_counter=count_tokens_approximately,
            strategy="last",
            start_on="human",
            allow_partial=False,
        )
        if budget > 0 and history
        else []
    )
    assert [m.id for m in window.messages] == [m.id for m in expected]
    assert window.omitted == len(history) - len(expected)
