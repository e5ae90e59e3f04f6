"""Temporary chats: remembered within themselves, invisible to every other chat, kept through
failures and interruptions like stored ones, forgotten with their lease, and never written to
any table or file."""

from __future__ import annotations

import gc
import os
import threading
import uuid
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableConfig
from sqlalchemy import Engine, inspect, select, table, text

import settings
from memory.chain import AnswerCutOff, TurnCost, build_chain
from memory.errors import ChatFull, InvalidContent, InvalidId, SessionNotFound
from memory.store import DEFAULT_MAX_MESSAGES_PER_CHAT, ChatStore
from memory.temporary import (
    TemporaryChat,
    TemporaryChats,
    build_temporary_chain,
    stream_temporary_reply,
)
from tests.support.databases import whole_database
from tests.support.fake_chat import RecordingChatModel

JAVA_SYSTEM_LINE = "You are an assistant specialized in Java. Answer within 30 words."


@pytest.fixture
def chats() -> TemporaryChats:
    return TemporaryChats()


@pytest.fixture
def store(engine: Engine) -> ChatStore:
    return ChatStore(engine)


def model(*replies: str, **options: Any) -> RecordingChatModel:
    return RecordingChatModel(replies=list(replies), prompts=[], **options)


def config(user_id: str, session_id: str) -> RunnableConfig:
    return {"configurable": {"user_id": user_id, "session_id": session_id}}


def ask(chain: Any, user_id: str, session_id: str, question: str) -> Any:
    return chain.invoke({"ability": "Java", "input": question}, config=config(user_id, session_id))


def ask_in(chain: Any, chat: TemporaryChat, question: str) -> Any:
    return ask(chain, chat.user_id, chat.session_id, question)


def reply(chain: Any, chats: TemporaryChats, chat: TemporaryChat, question: str) -> Any:
    return stream_temporary_reply(chain, chats, chat, question, ability="Java")


def shown(prompt: list[BaseMessage]) -> list[tuple[str, str]]:
    return [(message.type, message.content) for message in prompt]


def kept(chat: TemporaryChat) -> list[tuple[str, str, bool]]:
    """(role, text, interrupted) of every message the temporary chat holds."""
    return [
        (m.type, m.content, m.additional_kwargs.get("interrupted", False)) for m in chat.messages()
    ]


# Remembering, and nothing else --------------------------------------------------------------


def test_a_follow_up_in_the_same_temporary_chat_is_shown_the_first_question_and_answer(
    chats: TemporaryChats,
) -> None:
    fake = model("JVM is the Java Virtual Machine.", "The JVM runs Java bytecode.")
    chain = build_temporary_chain(fake, chats)
    chat = chats.open("user1")
    first = ask_in(chain, chat, "What is jvm?")
    assert "".join(reply(chain, chats, chat, "Please reanswer the question.")) == (
        "The JVM runs Java bytecode."
    )
    assert isinstance(first, AIMessage)
    assert first.content == "JVM is the Java Virtual Machine."
    assert shown(fake.prompts[0]) == [("system", JAVA_SYSTEM_LINE), ("human", "What is jvm?")]
    assert shown(fake.prompts[1]) == [
        ("system", JAVA_SYSTEM_LINE),
        ("human", "What is jvm?"),
        ("ai", "JVM is the Java Virtual Machine."),
        ("human", "Please reanswer the question."),
    ]
    # Each message once, the answers complete: neither path keeps an answer twice.
    assert kept(chat) == [
        ("human", "What is jvm?", False),
        ("ai", "JVM is the Java Virtual Machine.", False),
        ("human", "Please reanswer the question.", False),
        ("ai", "The JVM runs Java bytecode.", False),
    ]


@pytest.mark.parametrize("other", ["same user, new temporary chat", "another user, same ids"])
def test_another_temporary_chat_or_user_is_shown_no_trace_of_the_first(
    chats: TemporaryChats, other: str
) -> None:
    fake = model("JVM is the Java Virtual Machine.", "I have nothing to reanswer.")
    chain = build_temporary_chain(fake, chats)
    first = chats.open("user1")
    ask_in(chain, first, "What is jvm?")
    if other == "same user, new temporary chat":
        user_id, session_id = "user1", chats.open("user1").session_id
    else:
        user_id, session_id = "user2", first.session_id
    ask(chain, user_id, session_id, "Please reanswer the question.")
    assert shown(fake.prompts[1]) == [
        ("system", JAVA_SYSTEM_LINE),
        ("human", "Please reanswer the question."),
    ]
    assert "jvm" not in repr(fake.prompts[1]).lower()
    assert [m.content for m in chats.messages(user_id, session_id)] == [
        "Please reanswer the question.",
        "I have nothing to reanswer.",
    ]
    assert [m.content for m in first.messages()] == [
        "What is jvm?",
        "JVM is the Java Virtual Machine.",
    ]


def test_a_temporary_chat_and_a_stored_chat_with_the_same_ids_never_see_each_other(
    store: ChatStore, chats: TemporaryChats
) -> None:
    stored_model = model("Stored answer.", "Stored again.")
    temporary_model = model("Temporary answer.", "Temporary again.")
    stored_chain = build_chain(stored_model, store)
    temporary_chain = build_temporary_chain(temporary_model, chats)
    # The very same pair on both sides: only the backend tells them apart.
    ask(stored_chain, "user1", "session1", "stored question")
    ask(temporary_chain, "user1", "session1", "temporary question")
    ask(stored_chain, "user1", "session1", "stored follow-up")
    ask(temporary_chain, "user1", "session1", "temporary follow-up")
    assert shown(stored_model.prompts[1])[1:] == [
        ("human", "stored question"),
        ("ai", "Stored answer."),
        ("human", "stored follow-up"),
    ]
    assert shown(temporary_model.prompts[1])[1:] == [
        ("human", "temporary question"),
        ("ai", "Temporary answer."),
        ("human", "temporary follow-up"),
    ]
    assert [m.content for m in store.load_messages("user1", "session1")] == [
        "stored question",
        "Stored answer.",
        "stored follow-up",
        "Stored again.",
    ]
    assert [m.content for m in chats.messages("user1", "session1")] == [
        "temporary question",
        "Temporary answer.",
        "temporary follow-up",
        "Temporary again.",
    ]


# Failures and interruptions -----------------------------------------------------------------


def test_a_failing_model_keeps_the_question_and_asking_again_answers_it_once(
    chats: TemporaryChats,
) -> None:
    chat = chats.open("user1")
    with pytest.raises(ConnectionError):
        ask_in(build_temporary_chain(model(fail_after_words=0), chats), chat, "What is jvm?")
    assert kept(chat) == [("human", "What is jvm?", False)]
    fake = model("The JVM.")
    ask_in(build_temporary_chain(fake, chats), chat, "What is jvm?")
    assert shown(fake.prompts[0]) == [("system", JAVA_SYSTEM_LINE), ("human", "What is jvm?")]
    assert kept(chat) == [("human", "What is jvm?", False), ("ai", "The JVM.", False)]


def test_a_model_failing_before_any_token_of_a_stream_keeps_only_the_question(
    chats: TemporaryChats,
) -> None:
    chat = chats.open("user1")
    chain = build_temporary_chain(model(fail_after_words=0), chats)
    with pytest.raises(ConnectionError):
        "".join(reply(chain, chats, chat, "What is jvm?"))
    assert kept(chat) == [("human", "What is jvm?", False)]


def test_a_model_failing_mid_stream_keeps_the_question_and_the_partial_answer_marked(
    chats: TemporaryChats,
) -> None:
    chat = chats.open("user1")
    chain = build_temporary_chain(model("one two three four", fail_after_words=2), chats)
    received: list[str] = []
    with pytest.raises(ConnectionError):
        for piece in reply(chain, chats, chat, "Count to four"):
            received.append(piece)
    assert received == ["one", " two"]
    assert kept(chat) == [("human", "Count to four", False), ("ai", "one two", True)]
    assert chat.messages()[1].additional_kwargs == {"interrupted": True}


def test_closing_the_stream_early_keeps_the_partial_answer_marked_and_only_once(
    chats: TemporaryChats,
) -> None:
    fake = model("one two three four", "five")
    chain = build_temporary_chain(fake, chats)
    chat = chats.open("user1")
    stream = reply(chain, chats, chat, "Count to four")
    assert [next(stream), next(stream)] == ["one", " two"]
    stream.close()  # what a Streamlit rerun or Stop does to a generator it was writing out
    gc.collect()  # nothing that runs later may add the partial answer again, or complete it
    assert kept(chat) == [("human", "Count to four", False), ("ai", "one two", True)]
    "".join(reply(chain, chats, chat, "Go on"))
    assert shown(fake.prompts[1])[1:] == [
        ("human", "Count to four"),
        ("ai", "one two"),
        ("human", "Go on"),
    ]


def test_a_stream_that_ends_without_finish_reason_is_kept_marked_and_raises_answer_cut_off(
    chats: TemporaryChats,
) -> None:
    chat = chats.open("user1")
    chain = build_temporary_chain(model("half an answer", end_without_finish_reason=True), chats)
    received: list[str] = []
    with pytest.raises(AnswerCutOff):
        for piece in reply(chain, chats, chat, "Explain"):
            received.append(piece)
    assert "".join(received) == "half an answer"
    assert kept(chat) == [("human", "Explain", False), ("ai", "half an answer", True)]


def test_a_stream_never_read_keeps_the_question_and_calls_no_model(
    chats: TemporaryChats,
) -> None:
    fake = model("never said")
    chat = chats.open("user1")
    reply(build_temporary_chain(fake, chats), chats, chat, "kept, then the tab closed").close()
    assert fake.prompts == []
    assert kept(chat) == [("human", "kept, then the tab closed", False)]


def test_an_answer_arriving_after_its_chat_was_closed_is_not_kept_and_says_so(
    chats: TemporaryChats,
) -> None:
    chain = build_temporary_chain(model("one two three"), chats)
    chat = chats.open("user1")
    stream = reply(chain, chats, chat, "Count")
    next(stream)
    chat.close()
    with pytest.raises(SessionNotFound, match="closed"):
        "".join(stream)
    # The late answer did not bring the forgotten chat back.
    assert len(chats) == 0
    assert chats.messages(chat.user_id, chat.session_id) == []
    with pytest.raises(SessionNotFound, match="closed"):
        reply(chain, chats, chat, "Anyone there?")
    assert len(chats) == 0


def test_a_question_kept_in_another_chat_is_refused_before_the_model_is_called(
    chats: TemporaryChats,
) -> None:
    fake = model("never said")
    chain = build_temporary_chain(fake, chats)
    mine, theirs = chats.open("user1"), chats.open("user2")
    their_question = chats.add_question(theirs.user_id, theirs.session_id, "Theirs?")
    with pytest.raises(ValueError, match="another conversation"):
        chain.invoke(
            {"ability": "Java", "input": "Theirs?"},
            config={
                "configurable": {
                    "user_id": mine.user_id,
                    "session_id": mine.session_id,
                    "question": their_question,
                }
            },
        )
    assert fake.prompts == []
    assert kept(mine) == []


# The lease ----------------------------------------------------------------------------------


def test_closing_the_lease_forgets_the_chat(chats: TemporaryChats) -> None:
    chain = build_temporary_chain(model("an answer"), chats)
    chat = chats.open("user1")
    ask_in(chain, chat, "a question")
    assert len(chats) == 1 and chats.count("user1") == 1
    chat.close()
    chat.close()  # a second close does nothing
    assert chat.closed
    assert chat.messages() == []
    assert chats.messages("user1", chat.session_id) == []
    assert len(chats) == 0 and chats.count("user1") == 0


def test_a_question_for_a_lease_closed_a_moment_before_brings_no_chat_back(
    chats: TemporaryChats,
) -> None:
    chat = chats.open("user1")
    chats.forget("user1", chat.session_id)  # as a close landing just before the question
    with pytest.raises(SessionNotFound):
        chats.add_question("user1", chat.session_id, "still there?", opened=True)
    assert len(chats) == 0


def test_a_lease_the_browser_session_drops_is_collected_and_its_messages_with_it(
    chats: TemporaryChats,
) -> None:
    chain = build_temporary_chain(model("an answer"), chats)
    session_state: dict[str, Any] = {"temporary_chat": chats.open("user1")}
    chat = session_state["temporary_chat"]
    ask_in(chain, chat, "a question")
    user_id, session_id = chat.user_id, chat.session_id
    history = weakref.ref(chats.history(user_id, session_id))
    assert [m.content for m in chats.messages(user_id, session_id)] == ["a question", "an answer"]
    del chat
    session_state.clear()  # what Streamlit does with a browser session's state
    gc.collect()
    # The messages themselves are gone from the process, not only unreachable by their key.
    assert history() is None
    assert chats.messages(user_id, session_id) == []
    assert len(chats) == 0


def test_a_lease_collected_while_the_registry_is_busy_is_forgotten_without_a_deadlock(
    chats: TemporaryChats,
) -> None:
    chat = chats.open("user1")

    def collect_inside_a_locked_section() -> None:
        # The garbage collector may run a finalizer on a thread that holds the lock.
        with chats._lock:
            chat.close()

    # A daemon: were close() to wait for the lock, the test fails instead of hanging pytest.
    worker = threading.Thread(target=collect_inside_a_locked_section, daemon=True)
    worker.start()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert len(chats) == 0


def test_forget_user_forgets_every_temporary_chat_of_that_user_only(
    chats: TemporaryChats,
) -> None:
    chain = build_temporary_chain(model(), chats)
    first, second, other = chats.open("user1"), chats.open("user1"), chats.open("user2")
    for chat in (first, second, other):
        ask_in(chain, chat, "hello")
    assert chats.forget_user("user1") == 2
    assert first.messages() == [] and second.messages() == []
    assert [m.content for m in other.messages()] == ["hello", "answer 3"]
    assert chats.count("user1") == 0 and chats.count("user2") == 1
    assert chats.forget_user("user1") == 0


# Limits and bad input -----------------------------------------------------------------------


def test_a_full_temporary_chat_refuses_the_next_question_before_the_model_is_called() -> None:
    chats = TemporaryChats(max_messages_per_chat=4)
    fake = model()
    chain = build_temporary_chain(fake, chats)
    chat = chats.open("user1")
    ask_in(chain, chat, "one")
    ask_in(chain, chat, "two")
    with pytest.raises(ChatFull, match="4 messages"):
        ask_in(chain, chat, "three")
    with pytest.raises(ChatFull, match="Start a new chat"):
        reply(chain, chats, chat, "three")
    assert len(fake.prompts) == 2
    assert [m.content for m in chat.messages()] == ["one", "answer 1", "two", "answer 2"]


def test_the_cap_is_the_setting_stored_chats_obey(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_MESSAGES_PER_CHAT", "6")
    assert TemporaryChats().max_messages_per_chat == 6
    monkeypatch.delenv("MAX_MESSAGES_PER_CHAT")
    assert TemporaryChats().max_messages_per_chat == DEFAULT_MAX_MESSAGES_PER_CHAT


@pytest.mark.parametrize("question", ["", "   ", "nul \x00 inside", 42], ids=repr)
def test_a_blank_or_unstorable_question_is_refused_before_the_model_is_called(
    chats: TemporaryChats, question: Any
) -> None:
    fake = model("never said")
    chain = build_temporary_chain(fake, chats)
    chat = chats.open("user1")
    with pytest.raises(InvalidContent):
        ask_in(chain, chat, question)
    with pytest.raises(InvalidContent):
        reply(chain, chats, chat, question)
    assert fake.prompts == []
    assert chat.messages() == []


@pytest.mark.parametrize(
    "configurable, field",
    [
        ({"session_id": "s1"}, "user_id"),
        ({"user_id": "user1"}, "session_id"),
        ({"user_id": "", "session_id": "s1"}, "user_id"),
        ({"user_id": "user1", "session_id": "line\nbreak"}, "session_id"),
    ],
    ids=["no user_id", "no session_id", "empty user_id", "control character"],
)
def test_a_missing_or_bad_id_is_refused_by_name_and_nothing_is_kept(
    chats: TemporaryChats, configurable: dict[str, Any], field: str
) -> None:
    fake = model("never said")
    chain = build_temporary_chain(fake, chats)
    with pytest.raises(InvalidId, match=field):
        chain.invoke({"ability": "Java", "input": "What is jvm?"}, {"configurable": configurable})
    assert fake.prompts == []
    assert len(chats) == 0


def test_bad_ids_are_refused_at_every_door_of_the_registry(chats: TemporaryChats) -> None:
    with pytest.raises(InvalidId, match="user_id"):
        chats.open("")
    with pytest.raises(InvalidId, match="user_id"):
        chats.open(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidId, match="session_id"):
        chats.history("user1", "a\x07bell")
    with pytest.raises(InvalidId, match="session_id"):
        chats.add_question("user1", "x" * 256, "hello")
    with pytest.raises(InvalidId, match="user_id"):
        chats.forget_user("")
    assert len(chats) == 0


# Many at once -------------------------------------------------------------------------------


class EchoChatModel(BaseChatModel):
    """Answers with the question it was asked, so every answer names its question."""

    @property
    def _llm_type(self) -> str:
        return "echo"

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        reply = AIMessage(content=f"re: {messages[-1].content}")
        return ChatResult(generations=[ChatGeneration(message=reply)])


def test_many_users_in_temporary_chats_at_once_lose_and_misplace_nothing(
    chats: TemporaryChats,
) -> None:
    chain = build_temporary_chain(EchoChatModel(), chats)
    users, rounds = 8, 5
    leases = {n: (chats.open(f"user{n}"), chats.open(f"user{n}")) for n in range(users)}
    start = threading.Barrier(users)
    errors: list[BaseException] = []

    def user(number: int) -> None:
        try:
            start.wait()
            for turn in range(rounds):
                for place, chat in enumerate(leases[number]):
                    ask_in(chain, chat, f"user{number} chat{place} {turn}")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=user, args=(n,)) for n in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for number in range(users):
        for place, chat in enumerate(leases[number]):
            expected: list[str] = []
            for turn in range(rounds):
                question = f"user{number} chat{place} {turn}"
                expected += [question, f"re: {question}"]
            assert [m.content for m in chat.messages()] == expected


# Nothing written anywhere -------------------------------------------------------------------


def rows_holding(engine: Engine, marker: str) -> list[str]:
    """Every table of the database whose rows, as text, hold `marker`: each row of each table,
    the search index's included."""
    found = []
    with whole_database(engine).connect() as conn:
        for name in inspect(engine).get_table_names():
            for row in conn.execute(select(text("*")).select_from(table(name))):
                if marker in str(tuple(row)):
                    found.append(name)
                    break
    return found


def files_holding(folders: Iterable[Path], marker: str, *, skip: Iterable[Path] = ()) -> list[Path]:
    """Every file under `folders` whose bytes hold `marker` (database files, -wal and -shm,
    keys, logs: whatever is there), leaving out the folders in `skip`."""
    needle, skipped = marker.encode(), set(skip)
    found = []
    for folder in dict.fromkeys(folders):  # each folder once, however often it is named
        for root, dirs, files in os.walk(folder):
            dirs[:] = [name for name in dirs if Path(root, name) not in skipped]
            for name in files:
                path = Path(root, name)
                try:
                    content = path.read_bytes()
                except (FileNotFoundError, PermissionError):
                    continue  # a server file removed (or locked) between listing and reading
                if needle in content:
                    found.append(path)
    return found


def database_folders(engine: Engine, request: pytest.FixtureRequest) -> tuple[list[Path], list]:
    """Where this database keeps its files, after making it write everything out, and the
    folders of other databases of the same server (other tests' data, never this test's)."""
    if engine.dialect.name == "sqlite":
        return [Path(engine.url.database or "").parent], []
    cluster = request.getfixturevalue("postgres_cluster")
    with whole_database(engine).connect() as conn:
        # Dirty pages to their data files and the WAL to disk: fsync and synchronous_commit
        # are off in the test cluster, so without it a row could still be in memory only.
        conn.execute(text("CHECKPOINT"))
        own = conn.scalar(text("SELECT oid FROM pg_database WHERE datname = current_database()"))
    others = [path for path in (cluster.data / "base").iterdir() if path.name != str(own)]
    return [cluster.data], others


def test_a_temporary_chat_leaves_no_trace_in_any_table_or_file_while_a_stored_one_does(
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("DATA_DIR", str(data))
    assert settings.data_dir() == data
    stored_marker = f"storedmarker{uuid.uuid4().hex}"
    temporary_marker = f"temporarymarker{uuid.uuid4().hex}"
    store = ChatStore(engine)
    stored_chain = build_chain(model(f"stored echo {stored_marker}", "stored again"), store)
    chats = TemporaryChats()
    temporary_model = model(f"echo {temporary_marker}", f"again {temporary_marker}")
    temporary_chain = build_temporary_chain(temporary_model, chats)
    chat = chats.open("user1")

    # An ordinary stored chat of the same user, before and after the temporary one.
    ask(stored_chain, "user1", "stored", f"remember {stored_marker}")
    ask_in(temporary_chain, chat, f"keep {temporary_marker} to yourself")
    streamed = "".join(reply(temporary_chain, chats, chat, f"and {temporary_marker} again?"))
    ask(stored_chain, "user1", "stored", "anything else?")

    # The temporary chat really held the marker, through both of its paths.
    assert streamed == f"again {temporary_marker}"
    assert temporary_marker in repr(temporary_model.prompts[1])
    assert sum(temporary_marker in m.content for m in chat.messages()) == 4
    folders, other_databases = database_folders(engine, request)
    folders.append(tmp_path)
    # The control: the same searches find the stored chat's marker, in a table and in a file.
    assert "chat_messages" in rows_holding(engine, stored_marker)
    assert files_holding(folders, stored_marker, skip=other_databases) != []
    # And nothing of the temporary chat's, anywhere.
    assert rows_holding(engine, temporary_marker) == []
    assert files_holding(folders, temporary_marker, skip=other_databases) == []


def test_a_temporary_turn_reports_its_cost_as_a_stored_one_does(chats: TemporaryChats) -> None:
    fake = model("A first answer.", "Second.")
    chain = build_temporary_chain(fake, chats)
    chat = chats.open("user1")
    "".join(reply(chain, chats, chat, "What is jvm?"))
    cost = TurnCost()
    "".join(stream_temporary_reply(chain, chats, chat, "And the heap?", ability="Java", cost=cost))
    assert cost.prompt_tokens == count_tokens_approximately(fake.prompts[-1])
    assert cost.answer_tokens == count_tokens_approximately([AIMessage("Second.")])
