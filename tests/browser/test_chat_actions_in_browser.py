"""What a user does to chats in Chromium, beyond asking: Stop an answer while it streams (the
question and what arrived stay, marked interrupted), Retry (one answer, never two), and rename,
delete and search their chats in the sidebar.

To press Stop in the middle of an answer, a test slows the stub's words down for a while
(`paced`), through the stub's control endpoint, and speeds them up again after."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from accounts import find_account
from database import get_engine
from memory import ChatStore
from memory.store import COMPLETE, INTERRUPTED, StoredMessage
from tests.browser.conftest import (
    RunningApp,
    messages,
    paced,
    screenshot,
    send,
    settle,
    sidebar_chats,
    sign_up,
    stub_control,
    wait_until_quiet,
)

pytestmark = pytest.mark.browser

SLOW = 0.4  # slow enough to press Stop between two words
LONG_QUESTION = (
    "Tell me slowly, one careful word at a time, everything there is to know about how "
    "glaciers carve the deep valleys of the mountains"
)


def prompts_sent(stub: str) -> list[list[dict[str, Any]]]:
    """Every conversation the app has sent to the model, oldest first."""
    return stub_control(stub, "prompts")["prompts"]


def wait_for(condition: Callable[[], bool], seconds: float = 30, what: str = "it") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def stored_messages(app: RunningApp, username: str, page: Page) -> list[StoredMessage]:
    """What the app's database holds for the chat `username` has open in `page`."""
    store = ChatStore(get_engine(f"sqlite:///{app.env['DATA_DIR']}/chat.db"))
    account = find_account(store.engine, username=username)
    assert account is not None
    session_id = re.search(r"session=([^&]+)", page.url).group(1)
    return store.load_messages(account.id, session_id)


def answer_text(page: Page, index: int) -> str:
    """The answer's own text in the index-th chat message (its caption left out)."""
    content = page.get_by_test_id("stChatMessageContent").nth(index)
    return content.get_by_test_id("stMarkdownContainer").first.inner_text().strip()


def session_buttons(page: Page) -> Locator:
    """The chats listed in the sidebar (the open one is a primary button, the rest tertiary)."""
    return sidebar_chats(page)


def new_chat(page: Page) -> None:
    page.get_by_test_id("stSidebar").get_by_role("button", name="New chat").click()
    expect(page.get_by_role("heading", name="New chat")).to_be_visible()
    settle(page)


def ask_and_stop_after_the_first_words(page: Page, question: str) -> None:
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    box.press("Enter")
    answer = page.get_by_test_id("stChatMessageContent").nth(1)
    expect(answer).to_contain_text("Echo: Tell", timeout=30_000)
    page.get_by_role("button", name="Stop").click()
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)


def test_stop_keeps_the_question_and_the_partial_answer_marked_interrupted_and_retry_completes_it(
    app: RunningApp, model_stub: str, page: Page
) -> None:
    sign_up(page, app.url, "sam")
    wait_until_quiet(page)
    full_answer = f"Echo: {LONG_QUESTION}"
    with paced(model_stub, SLOW):
        ask_and_stop_after_the_first_words(page, LONG_QUESTION)
        settle(page)
        expect(page.get_by_role("button", name="Retry")).to_be_visible()
        assert messages(page)[0] == LONG_QUESTION
        # The stopped run stores what arrived when it next hears from the model.
        wait_for(lambda: len(stored_messages(app, "sam", page)) == 2, what="the interrupted answer")

    question, partial = stored_messages(app, "sam", page)
    assert (question.role, question.content, question.status) == ("human", LONG_QUESTION, COMPLETE)
    assert (partial.role, partial.status) == ("ai", INTERRUPTED)
    assert partial.content.startswith("Echo: Tell")
    assert full_answer.startswith(partial.content) and len(partial.content) < len(full_answer)

    # What the chat shows from then on: the question, the partial answer, marked interrupted.
    page.reload()
    settle(page)
    expect(page.get_by_text("This answer was interrupted.")).to_be_visible()
    assert messages(page)[0] == LONG_QUESTION
    assert answer_text(page, 1) == partial.content
    expect(page.get_by_text("This message has no answer yet")).to_have_count(0)
    screenshot(page, "actions-01-stopped-answer")

    # Retry answers the same question again: one question, one complete answer.
    asked = len(prompts_sent(model_stub))
    page.get_by_role("button", name="Retry").click()
    expect(page.get_by_text("This answer was interrupted.")).to_have_count(0, timeout=30_000)
    expect(page.get_by_test_id("stChatMessageContent").nth(1)).to_have_text(full_answer)
    expect(page.get_by_role("button", name="Retry")).to_be_visible()
    settle(page)
    assert messages(page) == [LONG_QUESTION, full_answer]
    # The model was asked once more, with the question once and without the broken answer.
    retried = prompts_sent(model_stub)[asked:]
    assert [[m["role"] for m in prompt] for prompt in retried] == [["system", "user"]]
    assert retried[0][-1]["content"] == LONG_QUESTION
    stored = stored_messages(app, "sam", page)
    assert [(m.role, m.content, m.status) for m in stored] == [
        ("human", LONG_QUESTION, COMPLETE),
        ("ai", full_answer, COMPLETE),
    ]


def test_right_after_stop_the_chat_shows_the_partial_answer_marked_interrupted(
    app: RunningApp, model_stub: str, page: Page
) -> None:
    sign_up(page, app.url, "stan")
    wait_until_quiet(page)
    # Words far apart: the stopped run waits this long before it can store what arrived.
    with paced(model_stub, 3.0):
        ask_and_stop_after_the_first_words(page, LONG_QUESTION)
        expect(page.get_by_text("This answer was interrupted.")).to_be_visible(timeout=8_000)
        expect(page.get_by_test_id("stChatMessageContent").nth(1)).to_contain_text("Echo: Tell")
        expect(page.get_by_text("This message has no answer yet")).to_have_count(0)


def test_retry_answers_the_last_question_again_without_duplicating_anything(
    app: RunningApp, model_stub: str, page: Page
) -> None:
    sign_up(page, app.url, "rita")
    send(page, "What is a fjord?")
    send(page, "And a moraine?")
    conversation = ["What is a fjord?", "Echo: What is a fjord?", "And a moraine?"]
    conversation.append("Echo: And a moraine?")
    asked = len(prompts_sent(model_stub))

    page.get_by_role("button", name="Retry").click()
    wait_for(lambda: len(prompts_sent(model_stub)) == asked + 1, what="the retried model call")
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)
    expect(page.get_by_role("button", name="Retry")).to_be_visible()
    settle(page)
    page.reload()
    expect(page.get_by_test_id("stChatMessageContent")).to_have_text(conversation)

    # The model heard the earlier turn as history and the last question once.
    [retried] = prompts_sent(model_stub)[asked:]
    assert [(m["role"], m["content"]) for m in retried[1:]] == [
        ("user", conversation[0]),
        ("assistant", conversation[1]),
        ("user", conversation[2]),
    ]
    stored = stored_messages(app, "rita", page)
    assert [(m.turn, m.role, m.content) for m in stored] == [
        (1, "human", conversation[0]),
        (1, "ai", conversation[1]),
        (2, "human", conversation[2]),
        (2, "ai", conversation[3]),
    ]


def test_rename_changes_the_title_in_the_header_and_the_sidebar_for_good(
    app: RunningApp, page: Page
) -> None:
    sign_up(page, app.url, "rene")
    send(page, "How do tides work?")
    expect(page.get_by_role("heading", name="How do tides work?")).to_be_visible()

    page.get_by_role("button", name="Rename", exact=True).click()
    popover = page.get_by_test_id("stPopoverBody")
    popover.get_by_role("textbox", name="New title").fill("Tides and the moon")
    popover.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Tides and the moon")).to_be_visible()
    expect(session_buttons(page)).to_have_text(["Tides and the moon"])
    settle(page)

    page.reload()
    settle(page)
    expect(page.get_by_role("heading", name="Tides and the moon")).to_be_visible()
    expect(session_buttons(page)).to_have_text(["Tides and the moon"])
    # Only the title changed: the conversation is untouched.
    expect(page.get_by_test_id("stChatMessageContent")).to_have_text(
        ["How do tides work?", "Echo: How do tides work?"]
    )


def test_delete_asks_for_confirmation_then_removes_the_chat_and_its_messages(
    app: RunningApp, page: Page
) -> None:
    sign_up(page, app.url, "dina")
    send(page, "keep this chat")
    new_chat(page)
    send(page, "delete this chat")
    deleted_url = page.url
    expect(session_buttons(page)).to_have_text(["delete this chat", "keep this chat"])

    # Opening "Delete" only asks; closing the question deletes nothing.
    page.get_by_role("button", name="Delete", exact=True).click()
    popover = page.get_by_test_id("stPopoverBody")
    expect(popover.get_by_text("Delete this chat and all its messages?")).to_be_visible()
    screenshot(page, "actions-02-delete-confirmation")
    page.keyboard.press("Escape")
    expect(popover).to_be_hidden()
    expect(session_buttons(page)).to_have_text(["delete this chat", "keep this chat"])
    assert messages(page) == ["delete this chat", "Echo: delete this chat"]

    page.get_by_role("button", name="Delete", exact=True).click()
    popover.get_by_role("button", name="Delete chat").click()
    expect(page.get_by_role("heading", name="New chat")).to_be_visible()
    expect(session_buttons(page)).to_have_text(["keep this chat"])
    settle(page)
    assert messages(page) == []

    # Its address now opens an empty chat: the messages are gone, not hidden.
    page.goto(deleted_url)
    settle(page)
    expect(page.get_by_role("heading", name="New chat")).to_be_visible()
    assert messages(page) == []
    assert stored_messages(app, "dina", page) == []


def test_search_in_the_sidebar_finds_chats_by_title_and_by_words_inside_them(
    app: RunningApp, page: Page
) -> None:
    sign_up(page, app.url, "sara")
    long_question = (
        "Which animal with black and white stripes lives on the African savanna? The zebra?"
    )
    send(page, "How do volcanoes erupt?")
    new_chat(page)
    send(page, "Best bread recipe?")
    new_chat(page)
    send(page, long_question)
    titles = session_buttons(page)
    everything = [
        "Which animal with black and white stripes lives on the Afri…",
        "Best bread recipe?",
        "How do volcanoes erupt?",
    ]
    expect(titles).to_have_text(everything)
    search = page.get_by_test_id("stSidebar").get_by_role("textbox", name="Search chats")

    def look_for(text: str) -> None:
        search.fill(text)
        search.press("Enter")
        settle(page)

    look_for("BREAD")  # in a title, in other letter case
    expect(titles).to_have_text(["Best bread recipe?"])
    look_for("zebra")  # only in the message: the title stops before it
    expect(titles).to_have_text([everything[0]])
    screenshot(page, "actions-03-sidebar-search")
    look_for("erupt")
    expect(titles).to_have_text(["How do volcanoes erupt?"])
    look_for("quantum")
    expect(page.get_by_test_id("stSidebar").get_by_text("No chat matches.")).to_be_visible()
    expect(titles).to_have_count(0)
    look_for("")
    expect(titles).to_have_text(everything)


def test_a_deleted_chat_comes_back_whole_with_undo_and_the_delete_button_reads_as_destructive(
    app: RunningApp, page: Page
) -> None:
    sign_up(page, app.url, "undo")
    send(page, "bring this chat back")
    kept_url = page.url

    page.get_by_role("button", name="Delete", exact=True).click()
    delete = page.get_by_test_id("stPopoverBody").get_by_role("button", name="Delete chat")
    # Red, with white text: not one more grey button.
    colours = delete.evaluate(
        "b => [getComputedStyle(b).backgroundColor, getComputedStyle(b).color]"
    )
    assert colours == ["rgb(180, 35, 24)", "rgb(255, 255, 255)"]
    delete.click()

    expect(page.get_by_text("“bring this chat back” was deleted.")).to_be_visible()
    undo = page.get_by_role("button", name=re.compile(r"^Undo \(\d+ s\)$"))
    expect(undo).to_be_visible()
    expect(session_buttons(page)).to_have_count(0)
    screenshot(page, "actions-03-deleted-with-undo")

    undo.click()

    expect(page.get_by_role("heading", level=1)).to_have_text("bring this chat back")
    expect(page.get_by_test_id("stChatMessageContent")).to_have_text(
        ["bring this chat back", "Echo: bring this chat back"]
    )
    expect(session_buttons(page)).to_have_text(["bring this chat back"])
    expect(undo).to_have_count(0)
    assert page.url == kept_url
    assert [m.content for m in stored_messages(app, "undo", page)] == [
        "bring this chat back",
        "Echo: bring this chat back",
    ]
