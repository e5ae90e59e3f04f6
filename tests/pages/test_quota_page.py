"""Quotas on the chat page, through app.py with AppTest: a question over the user's limit is
refused before the model is called, says when the quota resets and goes back into the chat box;
Retry, Edit and the temporary chat are counted too; the sidebar shows what is left; a turn
counts its prompt and answer; a model that fails before its first word costs nothing."""

from __future__ import annotations

from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from accounts import Account
from memory import ChatStore
from quotas import Limits, admit_question, set_default_limits, set_own_limits, todays_use
from tests.pages.app_driver import button, errors, send, signed_in, transcript
from tests.support.openai_stub import NORMAL, SERVER_ERROR, OpenAIStub
from ui.answering import QUESTION_KEY
from ui.quota import PENDING_KEY


def box_value(at: AppTest) -> str:
    """What the chat box was given to show (st.chat_input's value set from Session State)."""
    [box] = at.chat_input
    return box.proto.value if box.proto.set_value else ""


def refusals(at: AppTest) -> list[str]:
    return [error for error in errors(at) if "quota" in error]


def used(db: Engine, user: Account) -> tuple[int, int]:
    status = todays_use(db, [user.id])[user.id]
    return status.messages_used, status.tokens_used


def test_the_question_over_the_limit_is_refused_unsent_and_put_back_in_the_box(
    store: ChatStore, db: Engine, model: OpenAIStub, bob: Account
) -> None:
    set_own_limits(db, bob.id, Limits(messages_per_day=1))
    at = send(signed_in("bob"), "What is jvm?")
    session_id = at.query_params["session"]
    assert used(db, bob)[0] == 1

    at = send(at, "And what is the heap?")

    assert not at.exception
    [refusal] = refusals(at)
    assert "today's quota of 1 message" in refusal
    # AppTest's browser reports no time zone: UTC, where the quota ends at the next midnight.
    assert "It resets at 00:00 tomorrow (UTC)" in refusal
    assert "back in the box" in refusal
    assert box_value(at) == "And what is the heap?"
    assert len(model.prompts) == 1  # the model never heard the refused question
    assert [m.content for m in store.load_messages(bob.id, session_id)] == [
        "What is jvm?",
        "Echo: What is jvm?",
    ]
    assert transcript(at) == [("user", "What is jvm?"), ("assistant", "Echo: What is jvm?")]
    assert used(db, bob)[0] == 1
    # The refusal is said once: the next click shows the chat as it is.
    at = at.run()
    assert refusals(at) == [] and at.session_state[QUESTION_KEY] is None


def test_the_sidebar_shows_what_is_left_and_nothing_without_limits(
    db: Engine, model: OpenAIStub, bob: Account
) -> None:
    at = signed_in("bob")
    assert not [c for c in at.sidebar.caption if c.value.startswith("Left today")]

    set_default_limits(db, Limits(messages_per_day=3, tokens_per_day=5000))
    at = send(at, "What is jvm?")

    [left] = [c.value for c in at.sidebar.caption if c.value.startswith("Left today")]
    tokens = used(db, bob)[1]
    assert left == (
        f"Left today: 2 of 3 messages and about {5000 - tokens:,} of 5,000 tokens. "
        "Resets at 00:00 tomorrow (UTC)."
    )


def test_a_turn_counts_its_prompt_and_answer_tokens_and_the_next_is_refused_over_them(
    db: Engine, model: OpenAIStub, bob: Account
) -> None:
    set_own_limits(db, bob.id, Limits(tokens_per_day=60))
    at = send(signed_in("bob"), "What is jvm?")
    messages, tokens = used(db, bob)
    # The system line and the question, then the echoed answer: well over the question alone.
    assert messages == 1 and 30 < tokens <= 60

    at = send(at, "Tell me about the heap, the stack and the garbage collector, please.")

    [refusal] = refusals(at)
    assert "today's quota of 60 tokens (approximately)" in refusal
    assert len(model.prompts) == 1


def test_a_model_that_fails_before_its_first_word_gives_the_question_back(
    store: ChatStore, db: Engine, model: OpenAIStub, bob: Account
) -> None:
    set_own_limits(db, bob.id, Limits(messages_per_day=1))
    model.mode = SERVER_ERROR
    at = send(signed_in("bob"), "What is jvm?")
    assert any("Your message is saved" in error for error in errors(at))
    assert used(db, bob) == (0, 0)

    model.mode = NORMAL
    at = button(at.run(), "Retry").click().run()

    assert refusals(at) == []
    assert transcript(at) == [("user", "What is jvm?"), ("assistant", "Echo: What is jvm?")]
    assert used(db, bob)[0] == 1


def test_retry_over_the_limit_is_refused_and_keeps_the_answer_it_would_replace(
    store: ChatStore, db: Engine, model: OpenAIStub, bob: Account
) -> None:
    set_own_limits(db, bob.id, Limits(messages_per_day=1))
    at = send(signed_in("bob"), "What is jvm?")
    session_id = at.query_params["session"]

    at = button(at, "Retry").click().run()

    [refusal] = refusals(at)
    assert "back in the box" not in refusal  # nothing was typed: the box stays empty
    assert box_value(at) == ""
    assert len(model.prompts) == 1
    assert store.get_session(bob.id, session_id).message_count == 2  # no new version


def test_an_edit_over_the_limit_is_refused_and_shown_back_to_send_later(
    store: ChatStore, db: Engine, model: OpenAIStub, bob: Account
) -> None:
    set_own_limits(db, bob.id, Limits(messages_per_day=1))
    at = send(signed_in("bob"), "What is jvm?")
    session_id = at.query_params["session"]
    [question] = [m.id for m in store.load_messages(bob.id, session_id) if m.role == "human"]
    at = at.button(key=f"edit-{question}").click().run()
    at.text_area[0].set_value("What is jdk?")

    at = button(at, "Send").click().run()

    [error] = [e for e in errors(at) if "The edited message was not sent" in e]
    assert "today's quota of 1 message" in error
    assert "What is jdk?" in [code.value for code in at.code]
    assert store.get_session(bob.id, session_id).message_count == 2
    assert len(model.prompts) == 1


def test_a_temporary_chat_is_counted_and_refused_like_a_stored_one(
    db: Engine, model: OpenAIStub, bob: Account
) -> None:
    set_own_limits(db, bob.id, Limits(messages_per_day=1))
    at = button(signed_in("bob"), "Temporary chat").click().run()
    at = send(at, "My locker code is 4711")
    assert used(db, bob)[0] == 1

    at = send(at, "And my bike lock?")

    [refusal] = refusals(at)
    assert "back in the box" in refusal
    assert box_value(at) == "And my bike lock?"
    assert at.query_params.get("temporary") == "1"
    assert transcript(at) == [
        ("user", "My locker code is 4711"),
        ("assistant", "Echo: My locker code is 4711"),
    ]
    assert len(model.prompts) == 1


def test_one_users_quota_does_not_touch_anothers(
    db: Engine, model: OpenAIStub, bob: Account, cleo: Account
) -> None:
    set_own_limits(db, bob.id, Limits(messages_per_day=0))
    at = send(signed_in("cleo"), "What is jvm?")
    assert refusals(at) == []
    assert used(db, cleo) == (0, 0)  # no limit: nothing is counted
    assert refusals(send(signed_in("bob"), "What is jvm?"))


def test_a_message_longer_than_the_whole_token_quota_says_so(
    db: Engine, model: OpenAIStub, bob: Account
) -> None:
    set_own_limits(db, bob.id, Limits(tokens_per_day=40))

    at = send(signed_in("bob"), "Please explain " + "in great detail " * 20)

    [refusal] = refusals(at)
    assert refusal.startswith("This message alone is more than today's whole quota of 40 tokens")
    assert "Shorten it" in refusal
    assert model.prompts == []


def test_a_question_counted_by_a_run_stopped_before_the_model_is_given_back(
    db: Engine, model: OpenAIStub, bob: Account
) -> None:
    set_own_limits(db, bob.id, Limits(messages_per_day=1))
    at = signed_in("bob")
    # As a run leaves it when a click stopped it between counting the question and calling
    # the model: counted, and pending in the browser session.
    at.session_state[PENDING_KEY] = admit_question(db, bob.id, tokens=30)
    assert used(db, bob)[0] == 1

    at = at.run()

    assert used(db, bob) == (0, 0)
    assert PENDING_KEY not in at.session_state
    at = send(at, "What is jvm?")
    assert transcript(at)[-1] == ("assistant", "Echo: What is jvm?")
