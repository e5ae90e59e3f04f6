"""The seed chain over the store: what the model is shown, what is stored when it succeeds,
fails, streams or is cut off, and how a long history is trimmed for the prompt."""

from __future__ import annotations

import asyncio
import gc
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableConfig
from sqlalchemy import Engine, func, select

from memory import (
    MAX_CONTENT_CHARS,
    SYSTEM_PROMPT,
    ChatStore,
    InvalidContent,
    InvalidId,
    build_chain,
    fit_history,
    stream_reply,
)
from memory.chain import ANSWER_RESERVE_TOKENS, TurnCost, question_tokens
from memory.models import ChatMessage, ChatSession
from tests.support.databases import whole_database
from tests.support.fake_chat import RecordingChatModel

JAVA_SYSTEM_LINE = "You are an assistant specialized in Java. Answer within 30 words."


@pytest.fixture
def store(engine: Engine) -> ChatStore:
    return ChatStore(engine)


def model(*replies: str, fail_after_words: int | None = None) -> RecordingChatModel:
    return RecordingChatModel(replies=list(replies), prompts=[], fail_after_words=fail_after_words)


def config(user_id: str, session_id: str) -> RunnableConfig:
    return {"configurable": {"user_id": user_id, "session_id": session_id}}


def ask(chain: Any, user_id: str, session_id: str, question: str, ability: str = "Java") -> Any:
    return chain.invoke({"ability": ability, "input": question}, config=config(user_id, session_id))


def shown(prompt: list[BaseMessage]) -> list[tuple[str, str]]:
    return [(message.type, message.content) for message in prompt]


def stored(store: ChatStore, user: str, session: str) -> list[tuple[str, str, str]]:
    return [(m.role, m.content, m.status) for m in store.load_messages(user, session)]


def row_counts(engine: Engine) -> tuple[int, int]:
    with whole_database(engine).connect() as conn:
        sessions = conn.scalar(select(func.count()).select_from(ChatSession))
        messages = conn.scalar(select(func.count()).select_from(ChatMessage))
    return int(sessions or 0), int(messages or 0)


def consume(stream: Any) -> str:
    return "".join(stream)


# The seed scenario ----------------------------------------------------------------------------


def test_a_follow_up_in_the_same_session_is_shown_the_first_question_and_answer(
    store: ChatStore,
) -> None:
    fake = model("JVM is the Java Virtual Machine.", "The JVM runs Java bytecode.")
    chain = build_chain(fake, store)
    first = ask(chain, "user1", "session1", "What is jvm?")
    ask(chain, "user1", "session1", "Please reanswer the question.")
    assert isinstance(first, AIMessage)
    assert first.content == "JVM is the Java Virtual Machine."
    assert shown(fake.prompts[0]) == [("system", JAVA_SYSTEM_LINE), ("human", "What is jvm?")]
    assert shown(fake.prompts[1]) == [
        ("system", JAVA_SYSTEM_LINE),
        ("human", "What is jvm?"),
        ("ai", "JVM is the Java Virtual Machine."),
        ("human", "Please reanswer the question."),
    ]


@pytest.mark.parametrize(
    "user_id, session_id", [("user1", "session2"), ("user2", "session1")], ids=str
)
def test_another_session_or_user_is_shown_no_trace_of_the_first_conversation(
    store: ChatStore, user_id: str, session_id: str
) -> None:
    fake = model("JVM is the Java Virtual Machine.", "I have nothing to reanswer.")
    chain = build_chain(fake, store)
    ask(chain, "user1", "session1", "What is jvm?")
    ask(chain, user_id, session_id, "Please reanswer the question.")
    assert shown(fake.prompts[1]) == [
        ("system", JAVA_SYSTEM_LINE),
        ("human", "Please reanswer the question."),
    ]
    assert "jvm" not in repr(fake.prompts[1]).lower()
    assert stored(store, user_id, session_id) == [
        ("human", "Please reanswer the question.", "complete"),
        ("ai", "I have nothing to reanswer.", "complete"),
    ]
    assert stored(store, "user1", "session1") == [
        ("human", "What is jvm?", "complete"),
        ("ai", "JVM is the Java Virtual Machine.", "complete"),
    ]


def test_an_async_invoke_keeps_the_same_isolation(store: ChatStore) -> None:
    fake = model("first answer", "second answer", "third answer")
    chain = build_chain(fake, store)

    async def conversation() -> None:
        await chain.ainvoke({"ability": "Java", "input": "q1"}, config=config("user1", "s1"))
        await chain.ainvoke({"ability": "Java", "input": "q2"}, config=config("user1", "s1"))
        await chain.ainvoke({"ability": "Java", "input": "q3"}, config=config("user2", "s1"))

    # A thread of its own: Playwright's sync API, used by the browser tests in this same pytest
    # process, keeps an event loop running on the main thread, where asyncio.run refuses.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, conversation()).result()
    assert shown(fake.prompts[1])[1:] == [("human", "q1"), ("ai", "first answer"), ("human", "q2")]
    assert shown(fake.prompts[2]) == [("system", JAVA_SYSTEM_LINE), ("human", "q3")]
    assert [content for _, content, _ in stored(store, "user1", "s1")] == [
        "q1",
        "first answer",
        "q2",
        "second answer",
    ]


def test_the_ability_names_the_specialty_in_the_system_line(store: ChatStore) -> None:
    fake = model("ok")
    ask(build_chain(fake, store), "user1", "s1", "Why?", ability="Python")
    assert fake.prompts[0][0] == SystemMessage(SYSTEM_PROMPT.format(ability="Python"))
    assert store.get_session("user1", "s1").ability == "Python"


# Missing or bad ids ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "configurable, field",
    [
        ({"session_id": "session1"}, "user_id"),
        ({"user_id": "user1"}, "session_id"),
        ({}, "user_id"),
        ({"user_id": "", "session_id": "session1"}, "user_id"),
        ({"user_id": "user1", "session_id": ""}, "session_id"),
        ({"user_id": None, "session_id": "session1"}, "user_id"),
        ({"user_id": "user1", "session_id": "line\nbreak"}, "session_id"),
    ],
    ids=["no user_id", "no session_id", "neither", "empty user_id", "empty session_id",
         "None user_id", "control character"],
)  # fmt: skip
def test_a_missing_or_empty_id_is_refused_by_name_before_anything_is_stored(
    engine: Engine, store: ChatStore, configurable: dict[str, Any], field: str
) -> None:
    fake = model("never said")
    chain = build_chain(fake, store)
    with pytest.raises(InvalidId, match=field):
        chain.invoke({"ability": "Java", "input": "What is jvm?"}, {"configurable": configurable})
    with pytest.raises(InvalidId, match=field):
        consume(chain.stream({"ability": "Java", "input": "hi"}, {"configurable": configurable}))
    assert fake.prompts == []
    assert row_counts(engine) == (0, 0)


def test_no_config_at_all_is_refused_by_name(engine: Engine, store: ChatStore) -> None:
    with pytest.raises(InvalidId, match="user_id"):
        build_chain(model("x"), store).invoke({"ability": "Java", "input": "What is jvm?"})
    assert row_counts(engine) == (0, 0)


def test_a_blank_question_is_refused_before_the_model_is_called(
    engine: Engine, store: ChatStore
) -> None:
    fake = model("never said")
    with pytest.raises(InvalidContent, match="empty"):
        ask(build_chain(fake, store), "user1", "s1", "   ")
    assert fake.prompts == []
    assert row_counts(engine) == (0, 0)


# Failures through invoke ----------------------------------------------------------------------


def test_a_failing_model_keeps_the_question_and_asking_again_answers_it_once(
    store: ChatStore,
) -> None:
    with pytest.raises(ConnectionError):
        ask(build_chain(model(fail_after_words=0), store), "user1", "s1", "What is jvm?")
    assert stored(store, "user1", "s1") == [("human", "What is jvm?", "complete")]
    fake = model("The JVM.")
    ask(build_chain(fake, store), "user1", "s1", "What is jvm?")
    assert shown(fake.prompts[0]) == [("system", JAVA_SYSTEM_LINE), ("human", "What is jvm?")]
    assert stored(store, "user1", "s1") == [
        ("human", "What is jvm?", "complete"),
        ("ai", "The JVM.", "complete"),
    ]


# Streaming ------------------------------------------------------------------------------------


def stream(
    chain: Any, store: ChatStore, session: str, question: str = "", *, retry: bool = False
) -> Any:
    """The answer streamed as the chat page streams it: the question stored first (or the last
    one reopened, for Retry), then its Turn handed to stream_reply."""
    if retry:
        turn = store.reopen_last_turn("user1", session)
    else:
        turn = store.begin_turn("user1", session, question, ability="Java")
    return iter(()) if turn is None else stream_reply(chain, store, turn, ability="Java")


def test_a_streamed_answer_is_stored_as_the_same_plain_message_invoke_stores(
    store: ChatStore,
) -> None:
    chain = build_chain(model("The JVM runs bytecode.", "The JVM runs bytecode."), store)
    pieces = list(stream(chain, store, "streamed", "What is jvm?"))
    ask(chain, "user1", "invoked", "What is jvm?")
    # The words, then one empty piece: the model has said it is done.
    assert pieces == ["The", " JVM", " runs", " bytecode.", ""]
    streamed = store.get_history("user1", "streamed").messages
    invoked = store.get_history("user1", "invoked").messages
    assert [type(m) for m in streamed] == [HumanMessage, AIMessage]
    assert [(type(m), m.content, m.additional_kwargs) for m in streamed] == [
        (type(m), m.content, m.additional_kwargs) for m in invoked
    ]
    assert store.get_session("user1", "streamed").message_count == 2


def test_the_end_of_an_answer_is_said_before_the_answer_is_stored(store: ChatStore) -> None:
    chain = build_chain(model("The JVM runs bytecode."), store)
    reply = stream(chain, store, "s1", "What is jvm?")
    pieces = []
    for piece in reply:
        pieces.append(piece)
        if piece == "":
            # Complete, and not yet stored: a page can take Stop away now.
            assert stored(store, "user1", "s1") == [("human", "What is jvm?", "complete")]
    assert pieces[-1] == "" and "".join(pieces) == "The JVM runs bytecode."
    assert stored(store, "user1", "s1") == [
        ("human", "What is jvm?", "complete"),
        ("ai", "The JVM runs bytecode.", "complete"),
    ]


def test_an_answer_closed_after_the_model_said_it_was_done_is_stored_complete(
    store: ChatStore,
) -> None:
    chain = build_chain(model("The JVM runs bytecode."), store)
    reply = stream(chain, store, "s1", "What is jvm?")
    for piece in reply:
        if piece == "":
            reply.close()  # a click's rerun stops the run right as Stop is taken away
            break
    assert stored(store, "user1", "s1") == [
        ("human", "What is jvm?", "complete"),
        ("ai", "The JVM runs bytecode.", "complete"),
    ]


def test_a_model_failing_mid_stream_keeps_the_question_and_the_partial_answer(
    store: ChatStore,
) -> None:
    chain = build_chain(model("one two three four", fail_after_words=2), store)
    received: list[str] = []
    with pytest.raises(ConnectionError):
        for piece in stream(chain, store, "s1", "Count to four"):
            received.append(piece)
    assert received == ["one", " two"]
    assert stored(store, "user1", "s1") == [
        ("human", "Count to four", "complete"),
        ("ai", "one two", "interrupted"),
    ]
    assert store.get_history("user1", "s1").messages[1].additional_kwargs == {"interrupted": True}


def test_an_answer_longer_than_a_message_may_be_is_kept_cut_at_the_limit_and_marked(
    store: ChatStore,
) -> None:
    words = MAX_CONTENT_CHARS // 5 + 10  # "word " is 5 characters: past the limit
    chain = build_chain(model(" ".join(["word"] * words)), store)
    received = "".join(stream(chain, store, "s1", "Talk forever"))
    assert len(received) == MAX_CONTENT_CHARS
    answer = store.load_messages("user1", "s1")[1]
    assert (answer.content, answer.status) == (received, "interrupted")


def test_closing_the_stream_early_keeps_the_question_and_the_partial_answer(
    store: ChatStore,
) -> None:
    chain = build_chain(model("one two three four"), store)
    reply = stream(chain, store, "s1", "Count to four")
    assert [next(reply), next(reply)] == ["one", " two"]
    reply.close()  # what a Streamlit rerun does to a generator it was writing out
    gc.collect()  # nothing that runs later may turn the partial answer into a complete one
    assert stored(store, "user1", "s1") == [
        ("human", "Count to four", "complete"),
        ("ai", "one two", "interrupted"),
    ]
    assert store.get_session("user1", "s1").message_count == 2


def test_a_stream_closed_before_it_started_stores_no_answer_and_calls_no_model(
    engine: Engine, store: ChatStore
) -> None:
    fake = model("never said")
    stream(build_chain(fake, store), store, "s1", "stored, then the tab closed").close()
    assert fake.prompts == []
    assert stored(store, "user1", "s1") == [("human", "stored, then the tab closed", "complete")]
    assert row_counts(engine) == (1, 1)


def test_retry_answers_the_interrupted_question_again_and_keeps_the_cut_answer(
    store: ChatStore,
) -> None:
    fake = model("one two three", "one two three four")
    chain = build_chain(fake, store)
    reply = stream(chain, store, "s1", "Count")
    next(reply)
    reply.close()
    assert consume(stream(chain, store, "s1", retry=True)) == "one two three four"
    assert shown(fake.prompts[1]) == [("system", JAVA_SYSTEM_LINE), ("human", "Count")]
    assert stored(store, "user1", "s1") == [
        ("human", "Count", "complete"),
        ("ai", "one two three four", "complete"),
    ]
    # The interrupted answer stays, as the other version.
    every = store.load_messages("user1", "s1", every_version=True)
    assert [(m.content, m.status) for m in every if not m.on_path] == [("one", "interrupted")]
    assert store.get_session("user1", "s1").message_count == 3


def test_retry_shows_the_model_the_question_once_and_not_the_answer_it_replaces(
    store: ChatStore,
) -> None:
    fake = model("JVM is a machine.", "cut", "The JVM runs bytecode.")
    chain = build_chain(fake, store)
    consume(stream(chain, store, "s1", "What is jvm?"))
    reply = stream(chain, store, "s1", "And the JIT?")
    next(reply)
    reply.close()
    consume(stream(chain, store, "s1", retry=True))
    assert shown(fake.prompts[2]) == [
        ("system", JAVA_SYSTEM_LINE),
        ("human", "What is jvm?"),
        ("ai", "JVM is a machine."),
        ("human", "And the JIT?"),
    ]
    assert [content for _, content, _ in stored(store, "user1", "s1")] == [
        "What is jvm?",
        "JVM is a machine.",
        "And the JIT?",
        "The JVM runs bytecode.",
    ]


def test_a_model_failing_before_any_token_keeps_the_question_and_retry_answers_it_once(
    store: ChatStore,
) -> None:
    with pytest.raises(ConnectionError):
        consume(stream(build_chain(model(fail_after_words=0), store), store, "s1", "What is jvm?"))
    assert stored(store, "user1", "s1") == [("human", "What is jvm?", "complete")]
    fake = model("The JVM.")
    assert consume(stream(build_chain(fake, store), store, "s1", retry=True)) == "The JVM."
    assert shown(fake.prompts[0]) == [("system", JAVA_SYSTEM_LINE), ("human", "What is jvm?")]
    assert stored(store, "user1", "s1") == [
        ("human", "What is jvm?", "complete"),
        ("ai", "The JVM.", "complete"),
    ]
    assert store.get_session("user1", "s1").message_count == 2


def test_retry_of_a_complete_answer_shows_the_new_one(store: ChatStore) -> None:
    chain = build_chain(model("first try", "second try"), store)
    consume(stream(chain, store, "s1", "Explain"))
    consume(stream(chain, store, "s1", retry=True))
    assert stored(store, "user1", "s1") == [
        ("human", "Explain", "complete"),
        ("ai", "second try", "complete"),
    ]


def test_retry_in_an_empty_session_does_nothing(engine: Engine, store: ChatStore) -> None:
    fake = model("never said")
    assert consume(stream(build_chain(fake, store), store, "s1", retry=True)) == ""
    assert fake.prompts == []
    assert row_counts(engine) == (0, 0)


def test_the_answer_is_stored_under_the_turn_it_was_handed_not_one_found_by_its_text(
    store: ChatStore,
) -> None:
    waiting = store.begin_turn("user1", "s1", "Same question?", ability="Java")
    store.finish_turn(store.begin_turn("user1", "s1", "Other?"), "Other answer.")
    newest = store.begin_turn("user1", "s1", "Same question?", ability="Java")
    fake = model("The first one's answer.")
    consume(stream_reply(build_chain(fake, store), store, waiting, ability="Java"))
    assert stored(store, "user1", "s1") == [
        ("human", "Same question?", "complete"),
        ("ai", "The first one's answer.", "complete"),
        ("human", "Other?", "complete"),
        ("ai", "Other answer.", "complete"),
        ("human", "Same question?", "complete"),
    ]
    # Its prompt is what came before that turn: nothing, then its own question once.
    assert shown(fake.prompts[0]) == [("system", JAVA_SYSTEM_LINE), ("human", "Same question?")]
    assert newest.number == 3 and waiting.number == 1


def test_a_turn_of_another_chat_or_question_is_refused_before_the_model_is_called(
    store: ChatStore,
) -> None:
    turn = store.begin_turn("user1", "s1", "Mine?")
    other = store.begin_turn("user2", "s1", "Theirs?")
    fake = model("never said")
    chain = build_chain(fake, store)
    with pytest.raises(ValueError, match="another conversation"):
        chain.invoke(
            {"ability": "Java", "input": "Theirs?"},
            config={"configurable": {"user_id": "user1", "session_id": "s1", "turn": other}},
        )
    with pytest.raises(ValueError, match="not the question"):
        chain.invoke(
            {"ability": "Java", "input": "Something else"},
            config={"configurable": {"user_id": "user1", "session_id": "s1", "turn": turn}},
        )
    assert fake.prompts == []
    assert stored(store, "user1", "s1") == [("human", "Mine?", "complete")]


def test_a_streamed_turn_of_one_user_is_not_shown_to_another(store: ChatStore) -> None:
    fake = model("secret answer", "fresh answer")
    chain = build_chain(fake, store)
    consume(stream(chain, store, "s1", "secret question"))
    consume(stream_reply(chain, store, store.begin_turn("user2", "s1", "hello"), ability="Java"))
    assert shown(fake.prompts[1]) == [("system", JAVA_SYSTEM_LINE), ("human", "hello")]


# Trimming -------------------------------------------------------------------------------------


def turns(count: int, words: int = 20) -> list[BaseMessage]:
    history: list[BaseMessage] = []
    for number in range(count):
        history.append(HumanMessage(f"question {number} " + "word " * words, id=f"q{number}"))
        history.append(AIMessage(f"answer {number} " + "word " * words, id=f"a{number}"))
    return history


def window_for(history: list[BaseMessage], *, ability: str, question: str) -> int:
    """The context size that holds exactly `history` beside the fixed part of the prompt."""
    fixed = count_tokens_approximately(
        [SystemMessage(SYSTEM_PROMPT.format(ability=ability)), HumanMessage(question)]
    )
    return fixed + ANSWER_RESERVE_TOKENS + count_tokens_approximately(history)


def test_a_history_that_fits_is_sent_whole(store: ChatStore) -> None:
    history = turns(5)
    window = fit_history(history, ability="Java", question="next?")
    assert window.messages == history
    assert window.omitted == 0


def test_trimming_keeps_the_newest_whole_turns_in_order(store: ChatStore) -> None:
    history = turns(6)
    size = window_for(history[-4:], ability="Java", question="next?")
    window = fit_history(history, ability="Java", question="next?", context_tokens=size)
    assert [m.id for m in window.messages] == ["q4", "a4", "q5", "a5"]
    assert window.omitted == 8
    # One token less than two turns need: half a turn is never sent, the older turn goes.
    window = fit_history(history, ability="Java", question="next?", context_tokens=size - 1)
    assert [m.id for m in window.messages] == ["q5", "a5"]
    assert window.omitted == 10


def test_the_system_line_and_question_are_counted_in_the_budget(store: ChatStore) -> None:
    history = turns(6)
    size = window_for(history[-4:], ability="Java", question="next?")
    longer_ability = fit_history(
        history, ability="Java and the whole JVM ecosystem", question="next?", context_tokens=size
    )
    longer_question = fit_history(
        history, ability="Java", question="next? " * 20, context_tokens=size
    )
    assert [m.id for m in longer_ability.messages] == ["q5", "a5"]
    assert [m.id for m in longer_question.messages] == ["q5", "a5"]


def test_a_window_too_small_for_any_turn_sends_no_history(store: ChatStore) -> None:
    history = turns(3, words=500)
    tiny = fit_history(history, ability="Java", question="next?", context_tokens=400)
    none_left = fit_history(history, ability="Java", question="next?", context_tokens=10)
    assert (tiny.messages, tiny.omitted) == ([], 6)
    assert (none_left.messages, none_left.omitted) == ([], 6)


def test_an_unanswered_question_in_the_history_is_kept_as_part_of_its_turn(
    store: ChatStore,
) -> None:
    history = [*turns(3), HumanMessage("left unanswered", id="q3")]
    size = window_for(history[-3:], ability="Java", question="next?")
    window = fit_history(history, ability="Java", question="next?", context_tokens=size)
    assert [m.id for m in window.messages] == ["q2", "a2", "q3"]
    assert window.omitted == 4


def test_the_chain_trims_the_prompt_but_the_store_keeps_the_whole_history(
    store: ChatStore,
) -> None:
    fake = model()
    long_question = "Tell me about the JVM. " * 40
    chain = build_chain(fake, store, context_tokens=ANSWER_RESERVE_TOKENS + 300)
    for number in range(6):
        ask(chain, "user1", "s1", f"{number}: {long_question}")
    last_prompt = shown(fake.prompts[-1])
    assert last_prompt[0] == ("system", JAVA_SYSTEM_LINE)
    assert last_prompt[-1] == ("human", f"5: {long_question}")
    assert len(last_prompt) < 12
    assert [role for role, _ in last_prompt[1:-1]] == ["human", "ai"] * (
        (len(last_prompt) - 2) // 2
    )
    assert len(store.load_messages("user1", "s1")) == 12


# Concurrency through the chain ----------------------------------------------------------------


class EchoChatModel(BaseChatModel):
    """Answers with the question it was asked, so every answer names its question."""

    @property
    def _llm_type(self) -> str:
        return "echo"

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        reply = AIMessage(content=f"re: {messages[-1].content}")
        return ChatResult(generations=[ChatGeneration(message=reply)])


def test_many_users_chatting_at_once_through_the_chain_lose_and_misplace_nothing(
    store: ChatStore,
) -> None:
    chain = build_chain(EchoChatModel(), store)
    users, rounds = 8, 5
    start = threading.Barrier(users)
    errors: list[BaseException] = []

    def user(number: int) -> None:
        try:
            start.wait()
            for turn in range(rounds):
                for session in ("mine", "also-mine"):
                    ask(chain, f"user{number}", session, f"user{number} {session} {turn}")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=user, args=(n,)) for n in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for number in range(users):
        for session in ("mine", "also-mine"):
            expected: list[tuple[str, str, str]] = []
            for turn in range(rounds):
                question = f"user{number} {session} {turn}"
                expected += [("human", question, "complete"), ("ai", f"re: {question}", "complete")]
            assert stored(store, f"user{number}", session) == expected


# What a turn costs, for quotas ---------------------------------------------------------------


def test_a_streamed_turn_reports_its_prompt_and_answer_in_approximate_tokens(
    store: ChatStore,
) -> None:
    fake = model("A first answer.", "The second answer, a little longer.")
    chain = build_chain(fake, store)
    consume(stream(chain, store, "s1", "What is jvm?"))
    cost = TurnCost()
    turn = store.begin_turn("user1", "s1", "And the heap?", ability="Java")
    consume(stream_reply(chain, store, turn, ability="Java", cost=cost))
    # The prompt as the model received it (system line, the kept history, the question),
    # counted as the context budget counts it; the answer as it was stored.
    assert cost.prompt_tokens == count_tokens_approximately(fake.prompts[-1])
    assert cost.answer_tokens == count_tokens_approximately(
        [AIMessage("The second answer, a little longer.")]
    )
    assert cost.tokens == cost.prompt_tokens + cost.answer_tokens
    assert question_tokens("And the heap?", ability="Java") < cost.prompt_tokens


def test_a_trimmed_prompt_is_costed_as_sent_not_as_stored(store: ChatStore) -> None:
    fake = model()
    chain = build_chain(fake, store, context_tokens=400)
    for number in range(30):
        consume(stream(chain, store, "s1", f"question {number} " + "padding " * 20))
    cost = TurnCost()
    turn = store.begin_turn("user1", "s1", "the last one", ability="Java")
    consume(stream_reply(chain, store, turn, ability="Java", cost=cost))
    assert len(fake.prompts[-1]) < 61
    assert cost.prompt_tokens == count_tokens_approximately(fake.prompts[-1])
    assert cost.prompt_tokens <= 400 - ANSWER_RESERVE_TOKENS


def test_a_model_failing_before_its_first_word_costs_no_answer_tokens(store: ChatStore) -> None:
    chain = build_chain(model(fail_after_words=0), store)
    cost = TurnCost()
    turn = store.begin_turn("user1", "s1", "hello", ability="Java")
    with pytest.raises(ConnectionError):
        consume(stream_reply(chain, store, turn, ability="Java", cost=cost))
    assert cost.answer_tokens == 0
    assert cost.prompt_tokens == question_tokens("hello", ability="Java")
