"""Titles the model writes: what counts as a title, what the model is shown, and that the
first-words title stays whenever the model fails, rambles or the user named the chat."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import Engine

from memory import ChatStore
from memory.store import TITLE_BY_MODEL, TITLE_BY_QUESTION, TITLE_BY_USER
from memory.titles import TITLE_INSTRUCTION, TitleWriter, clean_title, write_title
from tests.support.fake_chat import RecordingChatModel


@pytest.fixture
def store(engine: Engine) -> ChatStore:
    return ChatStore(engine)


def model(*replies: str, fail: bool = False) -> RecordingChatModel:
    return RecordingChatModel(
        replies=list(replies), prompts=[], fail_after_words=0 if fail else None
    )


def answered(store: ChatStore, user: str = "alice", session: str = "s1") -> None:
    store.finish_turn(store.begin_turn(user, session, "What is the JVM?"), "It runs bytecode.")


@pytest.mark.parametrize(
    ("reply", "title"),
    [
        ("Java Virtual Machine basics", "Java Virtual Machine basics"),
        ('"Java Virtual Machine basics."', "Java Virtual Machine basics"),
        ("Title: JVM explained\nThis chat is about the JVM.", "JVM explained"),
        ("  The JVM and how it runs Java bytecode today  ", "The JVM and how it runs"),
        ("Café crème recipes", "Café crème recipes"),
        ("Les bases de la JVM", "Les bases de la JVM"),
    ],
)
def test_a_reply_that_reads_as_a_title_is_kept_cleaned(reply: str, title: str) -> None:
    assert clean_title(reply) == title


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "   \n  ",
        "x" * 81,
        "**Java** basics",
        "<img src=x> JVM",
        "See https://example.com",
        "[JVM](http://x)",
        "`code` title",
        "# Heading",
        "- a list item",
        "JVM\u200bbasics\u0007",
        None,
    ],
)
def test_a_reply_that_is_no_title_is_refused(reply: object) -> None:
    assert clean_title(reply) is None


def test_the_model_is_shown_the_first_turn_alone_and_the_title_is_stored(
    store: ChatStore,
) -> None:
    answered(store)
    store.finish_turn(store.begin_turn("alice", "s1", "A secret second question"), "Later.")
    fake = model("JVM basics")
    assert write_title(fake, store, "alice", "s1") == "JVM basics"
    (prompt,) = fake.prompts
    assert (prompt[0].type, prompt[0].content) == ("system", TITLE_INSTRUCTION)
    # Two worked examples, then this chat's first turn and nothing after it.
    assert [message.type for message in prompt[1:]] == ["human", "ai", "human", "ai", "human"]
    assert prompt[-1].content == (
        "Name this chat.\nUser: What is the JVM?\nAssistant: It runs bytecode."
    )
    assert "secret" not in " ".join(str(message.content) for message in prompt)
    summary = store.get_session("alice", "s1")
    assert (summary.title, summary.title_source) == ("JVM basics", TITLE_BY_MODEL)
    # A separate call: nothing of it joins the chat's history.
    assert [m.content for m in store.load_messages("alice", "s1")] == [
        "What is the JVM?",
        "It runs bytecode.",
        "A secret second question",
        "Later.",
    ]


@pytest.mark.parametrize(
    "fake", [{"fail": True}, {"replies": [""]}, {"replies": ["**bold** <b>title</b>"]}]
)
def test_a_failing_or_nonsense_model_leaves_the_first_words(store: ChatStore, fake: dict) -> None:
    answered(store)
    assert (
        write_title(
            model(*fake.get("replies", []), fail=fake.get("fail", False)), store, "alice", "s1"
        )
        is None
    )
    summary = store.get_session("alice", "s1")
    assert (summary.title, summary.title_source) == ("What is the JVM?", TITLE_BY_QUESTION)


def test_a_title_the_user_set_is_never_asked_for_nor_overwritten(store: ChatStore) -> None:
    answered(store)
    store.rename_session("alice", "s1", "My JVM notes")
    fake = model("JVM basics")
    assert write_title(fake, store, "alice", "s1") is None
    assert fake.prompts == []
    summary = store.get_session("alice", "s1")
    assert (summary.title, summary.title_source) == ("My JVM notes", TITLE_BY_USER)


def test_a_chat_without_a_complete_first_answer_gets_no_title(store: ChatStore) -> None:
    store.begin_turn("alice", "s1", "Unanswered?")
    fake = model("Some title")
    assert write_title(fake, store, "alice", "s1") is None
    assert write_title(fake, store, "bob", "s1") is None  # not bob's chat: nothing to title
    assert fake.prompts == []


def test_the_writer_titles_in_the_background_and_reports_what_it_stored(
    store: ChatStore,
) -> None:
    answered(store)
    writer = TitleWriter(model("JVM basics"), store)
    try:
        assert writer.request("alice", "s1").result(timeout=10) == "JVM basics"
        assert writer.request("alice", "s1").result(timeout=10) is None  # already titled
    finally:
        writer.close()
    assert store.get_session("alice", "s1").title == "JVM basics"


class AnswerStartsMidTitle(RecordingChatModel):
    """Streams its first title word, then an answer starts (held until `answer_done`)."""

    answer_started: Any = None
    answer_entered: Any = None

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):
        for index, chunk in enumerate(super()._stream(messages, stop, run_manager, **kwargs)):
            if index == 1 and len(self.prompts) == 1:
                self.answer_started.set()
                self.answer_entered.wait(10)  # the answer has begun before the next word
            yield chunk


def test_a_title_waits_for_a_streaming_answer_and_gives_way_to_one_that_starts(
    store: ChatStore,
) -> None:
    answered(store)
    fake = AnswerStartsMidTitle(replies=["Cut short title", "JVM basics"], prompts=[])
    writer = TitleWriter(fake, store)
    fake.answer_started, fake.answer_entered = threading.Event(), threading.Event()
    try:
        # An answer streams while the title is asked for: the model is not called.
        with writer.gate.answering():
            future = writer.request("alice", "s1")
            time.sleep(0.3)
            assert fake.prompts == []
        # Now the title streams; an answer starts after its first word: the title's stream is
        # dropped (its words never stored) and asked again once the answer is done.
        answer = writer.gate.answering()
        assert fake.answer_started.wait(10)
        answer.__enter__()
        fake.answer_entered.set()
        time.sleep(0.3)
        assert not future.done()
        answer.__exit__(None, None, None)
        assert future.result(timeout=10) == "JVM basics"
    finally:
        writer.close()
    assert len(fake.prompts) == 2
    assert store.get_session("alice", "s1").title == "JVM basics"
