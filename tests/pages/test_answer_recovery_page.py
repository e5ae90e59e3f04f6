"""After an answer fails (the model's error, its timeout, the database gone while the answer
is saved) the page at once shows the chat as stored: its real title, the notice that says
what happened, and Retry, which answers from there. Nothing needs a reload."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from accounts import Account
from database.engine import dispose_engine
from llm import stop_default_model
from memory import ChatStore, open_store
from tests.pages.app_driver import button, errors, send, signed_in, titles, transcript
from tests.support.openai_stub import HANG, NORMAL, SERVER_ERROR, OpenAIStub
from ui.resources import chat_model
from ui.sending import ANSWER_NOT_SAVED

QUESTION = "What is a jvm?"


def stored(store: ChatStore, user: Account, session_id: str) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in store.load_messages(user.id, session_id)]


def retry_buttons(at: AppTest) -> list[str]:
    return [widget.label for widget in at.main.button if widget.key == "retry"]


def infos(at: AppTest) -> list[str]:
    return [info.value for info in at.info]


def expect_the_stored_chat_with_its_notice_and_retry(at: AppTest, notice: str) -> None:
    assert titles(at) == [QUESTION], "the chat's real title, not 'New chat'"
    assert any(notice in error for error in errors(at)), errors(at)
    assert retry_buttons(at) == ["Retry"]
    assert transcript(at) == [("user", QUESTION)]
    # One notice, the one that says what happened: not the generic one beside it.
    assert infos(at) == []
    assert [widget.label for widget in at.button if widget.key == "stop"] == []


def retry_answers(at: AppTest, store: ChatStore, user: Account, model: OpenAIStub) -> None:
    session_id = at.query_params["session"]
    model.mode = NORMAL
    at = button(at, "Retry").click().run()
    assert errors(at) == []
    assert transcript(at) == [("user", QUESTION), ("assistant", f"Echo: {QUESTION}")]
    assert stored(store, user, session_id) == [("human", QUESTION), ("ai", f"Echo: {QUESTION}")]


def test_a_model_error_shows_the_title_the_notice_and_retry_at_once(
    store: ChatStore, model: OpenAIStub, bob: Account
) -> None:
    at = signed_in("bob")
    model.mode = SERVER_ERROR

    at = send(at, QUESTION)

    expect_the_stored_chat_with_its_notice_and_retry(at, "Your message is saved: Retry.")
    retry_answers(at, store, bob, model)


def test_a_model_timeout_shows_the_title_the_notice_and_retry_at_once(
    store: ChatStore, model: OpenAIStub, bob: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODEL_TIMEOUT_SECONDS", "1")
    at = signed_in("bob")
    model.mode = HANG

    at = send(at, QUESTION)

    expect_the_stored_chat_with_its_notice_and_retry(at, "took too long")
    retry_answers(at, store, bob, model)


@pytest.fixture
def lockable_store(
    app_database_url: str, store: ChatStore, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ChatStore]:
    """The app's store, on an Engine that waits 0.3 s for a lock instead of 30."""
    monkeypatch.setattr("database.engine.SQLITE_BUSY_TIMEOUT_MS", 300)
    dispose_engine(app_database_url)
    yield open_store(app_database_url)
    dispose_engine(app_database_url)


def test_the_database_gone_while_the_answer_is_saved_shows_the_title_the_notice_and_retry(
    app_database_url: str, lockable_store: ChatStore, model: OpenAIStub, bob: Account
) -> None:
    at = signed_in("bob")
    model.delay = 0.1  # the words come slowly enough to lock the database under them
    other = sqlite3.connect(
        app_database_url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False
    )
    locked = threading.Event()

    def lock_once_the_model_is_asked() -> None:
        while not model.prompts:
            threading.Event().wait(0.02)
        other.execute("BEGIN IMMEDIATE")  # another writer holds the database
        locked.set()

    locker = threading.Thread(target=lock_once_the_model_is_asked)
    locker.start()
    try:
        at = send(at, QUESTION)
    finally:
        locker.join(10)
        assert locked.is_set()
        other.execute("COMMIT")
        other.close()

    # Readers were never locked out: the page showed the chat as stored at once.
    expect_the_stored_chat_with_its_notice_and_retry(at, ANSWER_NOT_SAVED)
    retry_answers(at, lockable_store, bob, model)


def test_a_question_sent_as_the_model_becomes_unusable_goes_back_in_the_box(
    store: ChatStore, model: OpenAIStub, bob: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    import settings

    at = signed_in("bob")
    # The model's settings break while the page is open (its process restarts on them).
    monkeypatch.setenv("MODEL_TIMEOUT_SECONDS", "soon")
    settings.reload()
    chat_model.clear()
    stop_default_model()

    at.chat_input[0].set_value(QUESTION)
    at = at.run()

    assert not at.exception
    assert any("MODEL_TIMEOUT_SECONDS" in error for error in errors(at)), errors(at)
    assert any("your message was not sent" in error for error in errors(at)), errors(at)
    [box] = at.chat_input
    assert box.proto.value == QUESTION and box.proto.disabled
    assert model.prompts == []
    assert store.list_sessions(bob.id) == []
