"""Edit and versions on the chat page, and the temporary chat, through app.py with AppTest: an
edited question is answered on a new branch; an edit that cannot be stored is shown back, never
lost; a temporary chat answers, remembers, and stores nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from accounts import Account
from memory import ChatStore
from memory.models import ChatMessage
from tests.pages.app_driver import button, errors, page_text, send, signed_in, transcript
from tests.support.openai_stub import OpenAIStub
from ui.conversation import EDIT_REQUEST_KEY
from ui.sending import QUEUED_KEY, QUEUED_RETRY_KEY


def question_ids(store: ChatStore, user: Account, session_id: str) -> list[int]:
    return [m.id for m in store.load_messages(user.id, session_id) if m.role == "human"]


def test_an_edited_question_is_answered_on_a_new_branch_and_the_old_one_kept(
    store: ChatStore, model: OpenAIStub, bob: Account
) -> None:
    at = send(signed_in("bob"), "What is jvm?")
    session_id = at.query_params["session"]
    [question] = question_ids(store, bob, session_id)

    at = at.button(key=f"edit-{question}").click().run()
    at.text_area[0].set_value("What is jdk?")
    at = button(at, "Send").click().run()

    assert not at.exception
    assert transcript(at) == [("user", "What is jdk?"), ("assistant", "Echo: What is jdk?")]
    assert "2 / 2" in [markdown.value for markdown in at.markdown]
    every = store.load_messages(bob.id, session_id, every_version=True)
    assert [(m.content, m.on_path) for m in every] == [
        ("What is jvm?", False),
        ("Echo: What is jvm?", False),
        ("What is jdk?", True),
        ("Echo: What is jdk?", True),
    ]
    # The model heard the edited question alone.
    assert [m["content"] for m in model.prompts[-1] if m["role"] == "user"] == ["What is jdk?"]

    at = at.button(key=f"older-{every[2].id}").click().run()
    assert transcript(at) == [("user", "What is jvm?"), ("assistant", "Echo: What is jvm?")]
    assert "1 / 2" in [markdown.value for markdown in at.markdown]


def test_an_edit_another_tab_made_impossible_is_shown_back_to_send_again(
    store: ChatStore, model: OpenAIStub, bob: Account
) -> None:
    at = send(signed_in("bob"), "What is jvm?")
    session_id = at.query_params["session"]
    [question] = question_ids(store, bob, session_id)
    at = at.button(key=f"edit-{question}").click().run()
    at.text_area[0].set_value("My carefully written question")
    # Meanwhile another tab edits the same question: this one is no longer on the path.
    store.edit_question(bob.id, session_id, question, "another tab's version")

    at = button(at, "Send").click().run()

    assert not at.exception
    assert any("The edited message was not sent" in error for error in errors(at))
    assert "My carefully written question" in [code.value for code in at.code]


def test_a_temporary_chat_answers_and_remembers_but_stores_nothing(
    store: ChatStore, model: OpenAIStub, bob: Account
) -> None:
    at = signed_in("bob")
    at = button(at, "Temporary chat").click().run()
    assert at.query_params.get("temporary") == "1"
    assert "This chat is not saved." in page_text(at)

    at = send(at, "My locker code is 4711")
    at = send(at, "What is my locker code?")

    assert not at.exception
    assert transcript(at) == [
        ("user", "My locker code is 4711"),
        ("assistant", "Echo: My locker code is 4711"),
        ("user", "What is my locker code?"),
        ("assistant", "Echo: What is my locker code?"),
    ]
    assert any("4711" in m["content"] for m in model.prompts[-1][1:-1])
    with store.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(ChatMessage)) == 0
    assert store.list_sessions(bob.id, shelf=None) == []

    # Opening a new chat forgets it; a new temporary chat starts empty.
    at = button(at.sidebar, "New chat").click().run()
    assert "temporary" not in at.query_params
    at = button(at, "Temporary chat").click().run()
    assert transcript(at) == []


def test_a_run_that_brings_an_edit_and_a_question_answers_both_and_retries_nothing(
    store: ChatStore, model: OpenAIStub, bob: Account
) -> None:
    # The state a run can meet when an edit is saved as a question arrives, with a Retry left
    # queued by an earlier run: the edit is answered, then the question; the stale Retry is
    # dropped, not sent later unasked.
    at = send(signed_in("bob"), "What is jvm?")
    session_id = at.query_params["session"]
    [question] = question_ids(store, bob, session_id)

    at.session_state[EDIT_REQUEST_KEY] = (session_id, question, "What is jdk?")
    at.session_state[QUEUED_KEY] = "And the heap?"
    at.session_state[QUEUED_RETRY_KEY] = True
    before = len(model.prompts)
    at = at.run()

    assert not at.exception
    expected = ["What is jdk?", "Echo: What is jdk?", "And the heap?", "Echo: And the heap?"]
    assert [m.content for m in store.load_messages(bob.id, session_id)] == expected
    # The model was asked the two, and no Retry of the last one.
    assert len(model.prompts) == before + 2
    at = at.run()
    assert len(model.prompts) == before + 2
    assert [m.content for m in store.load_messages(bob.id, session_id)] == expected
