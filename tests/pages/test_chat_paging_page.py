"""A long chat on the chat page: the newest page is drawn, "Earlier messages" loads the one
before it, a turn keeps the widened view, and a full chat says so and takes no new question."""

from __future__ import annotations

import pytest

from accounts import Account
from memory import ChatStore
from memory.store import MESSAGE_PAGE_SIZE
from tests.pages.app_driver import button, errors, page_text, send, signed_in, transcript
from tests.support.openai_stub import OpenAIStub


def long_chat(store: ChatStore, user: Account, turns: int) -> str:
    session_id = store.create_session(user.id, title="A long chat").session_id
    pairs: list[tuple[str, str]] = []
    for number in range(1, turns + 1):
        pairs += [("human", f"question {number}"), ("ai", f"answer {number}")]
    store.append_messages(user.id, session_id, pairs)
    return session_id


def opened(user: str, session_id: str):
    at = signed_in(user)
    at.query_params["session"] = session_id
    return at.run()


def earlier_buttons(at) -> list:
    return [widget for widget in at.button if widget.label == "Earlier messages"]


def test_a_long_chat_opens_on_its_newest_page(
    store: ChatStore, model: OpenAIStub, bob: Account
) -> None:
    session_id = long_chat(store, bob, turns=100)  # 200 messages

    at = opened("bob", session_id)

    shown = transcript(at)
    assert len(shown) == MESSAGE_PAGE_SIZE
    assert shown[0] == ("user", "question 76") and shown[-1] == ("assistant", "answer 100")
    assert len(earlier_buttons(at)) == 1


def test_earlier_messages_loads_the_page_before_until_the_first_message(
    store: ChatStore, model: OpenAIStub, bob: Account
) -> None:
    session_id = long_chat(store, bob, turns=60)  # 120 messages: three pages
    at = opened("bob", session_id)

    at = button(at, "Earlier messages").click().run()
    assert len(transcript(at)) == 2 * MESSAGE_PAGE_SIZE
    assert transcript(at)[0] == ("user", "question 11")

    at = button(at, "Earlier messages").click().run()
    expected = [
        ("user" if m.role == "human" else "assistant", m.content)
        for m in store.load_messages(bob.id, session_id)
    ]
    assert transcript(at) == expected
    assert earlier_buttons(at) == []


def test_a_turn_keeps_the_earlier_pages_shown_and_adds_the_answer(
    store: ChatStore, model: OpenAIStub, bob: Account
) -> None:
    session_id = long_chat(store, bob, turns=60)
    at = button(opened("bob", session_id), "Earlier messages").click().run()

    at = send(at, "one more question")

    assert not at.exception and errors(at) == []
    shown = transcript(at)
    assert len(shown) == 2 * MESSAGE_PAGE_SIZE + 2
    assert shown[-2:] == [("user", "one more question"), ("assistant", "Echo: one more question")]
    assert [m.content for m in store.load_messages(bob.id, session_id)][-2:] == [
        "one more question",
        "Echo: one more question",
    ]


def test_a_new_chat_of_another_user_shows_none_of_a_long_chat(
    store: ChatStore, model: OpenAIStub, ada: Account, bob: Account
) -> None:
    session_id = long_chat(store, bob, turns=60)

    at = opened("ada", session_id)  # ada names bob's chat id in her URL

    assert transcript(at) == []
    assert earlier_buttons(at) == []


def test_a_full_chat_says_so_and_disables_the_chat_box(
    store: ChatStore, model: OpenAIStub, bob: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_MESSAGES_PER_CHAT", "6")
    session_id = long_chat(ChatStore(store.engine, max_messages_per_chat=100), bob, turns=3)

    at = opened("bob", session_id)

    assert "the most one chat may hold" in page_text(at)
    assert at.chat_input[0].disabled
    assert len(transcript(at)) == 6
