"""Long chats in Chromium against the real app (answered by the stub model): the chat page draws
the newest MESSAGE_PAGE_SIZE messages and "Earlier messages" pages back through the rest; a turn
in a 2,000-message chat draws one page, stores its answer once and says truly how much the model
does not see; a 100,000-message chat open in three tabs leaves another user's turn answered; a
full chat says so and takes no more questions.

The chats are seeded straight into the app's SQLite file: up to a few thousand messages through
memory's ChatStore.append_messages, the 100,000-message one with a bulk SQLAlchemy core insert
in the store's shape (tests/browser/conftest.py, bulk_seed_chat), because the store caps a chat
at MAX_MESSAGES_PER_CHAT (10,000 by default; the app under test keeps that default, so that
chat stands for one stored before the cap). The full chat is tested on an app started with
MAX_MESSAGES_PER_CHAT=60. Nothing here is timed: the speed is bench/long_chats.py's."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from llm.provider import DEFAULT_PROVIDER_CONTEXT_TOKENS
from memory import DEFAULT_ABILITY, ChatStore, fit_history
from memory.history import to_langchain
from memory.store import MESSAGE_PAGE_SIZE, new_session_id
from tests.browser.conftest import (
    CspWatch,
    RunningApp,
    bulk_seed_chat,
    click_and_settle,
    messages,
    screenshot,
    seed_chat,
    seeded_text,
    settle,
    sign_up,
    store_of,
    stub_app,
    stub_control,
    user_id_of,
)

PAGE = MESSAGE_PAGE_SIZE
LONG = 60_000  # ms: generous, for a loaded two-core machine; nothing here is a speed check
FULL_CAP = 60


@pytest.fixture(scope="module")
def full_app(
    tmp_path_factory: pytest.TempPathFactory, model_stub: str, cookie_key: str
) -> Iterator[RunningApp]:
    """The app with a chat capped at FULL_CAP messages."""
    data_dir = tmp_path_factory.mktemp("full-chats")
    with stub_app(data_dir, model_stub, cookie_key, MAX_MESSAGES_PER_CHAT=str(FULL_CAP)) as app:
        yield app


def new_tab(browser: Browser) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    page.set_default_timeout(LONG)
    return page


def seeded(start: int, stop: int) -> list[str]:
    return [seeded_text(n) for n in range(start, stop)]


def chat_url(app: RunningApp, session_id: str) -> str:
    return f"{app.url}/?session={session_id}"


def open_chat(page: Page, app: RunningApp, session_id: str, shown: int = PAGE) -> None:
    """Navigate to the chat and wait until it shows `shown` messages."""
    page.goto(chat_url(app, session_id))
    settle(page)
    expect(page.get_by_test_id("stChatMessage")).to_have_count(shown, timeout=LONG)
    settle(page)


def earlier_button(page: Page):
    return page.get_by_role("button", name="Earlier messages")


def ask(page: Page, question: str) -> None:
    """Type a question, press Enter, and wait until its answer is drawn from the database: the
    last message is the echo, Stop gone, Retry shown, the page settled. (tests.browser's `send`
    counts two more messages; in a chat showing only its newest page the count stays at one
    page.)"""
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    box.press("Enter")
    contents = page.get_by_test_id("stChatMessageContent")
    expect(contents.last).to_have_text(f"Echo: {question}", timeout=LONG)
    expect(page.get_by_role("button", name="Stop")).to_have_count(0, timeout=LONG)
    expect(page.get_by_role("button", name="Retry")).to_be_visible(timeout=LONG)
    settle(page)


def check_stored_once(store: ChatStore, user_id: str, session_id: str, question: str) -> None:
    """The question and its echo are the chat's last two messages, in one turn, each stored
    once, and the chat's count says so."""
    stored = store.load_messages(user_id, session_id)
    contents = [message.content for message in stored]
    assert contents.count(question) == 1
    assert contents.count(f"Echo: {question}") == 1
    *_, asked, answered = stored
    assert (asked.role, asked.content) == ("human", question)
    assert (answered.role, answered.content, answered.status) == (
        "ai",
        f"Echo: {question}",
        "complete",
    )
    assert asked.turn == answered.turn
    summary = store.get_session(user_id, session_id)
    assert summary is not None and summary.message_count == len(stored)


def omitted_by_whole_history(store: ChatStore, user_id: str, session_id: str, question: str) -> int:
    """How many stored messages a prompt for `question` leaves out, trimming the WHOLE stored
    history to the stub's window: what the page's note (read from the chat's end only) must
    say."""
    history = [to_langchain(m) for m in store.load_messages(user_id, session_id)]
    return fit_history(
        history,
        ability=DEFAULT_ABILITY,
        question=question,
        context_tokens=DEFAULT_PROVIDER_CONTEXT_TOKENS,
    ).omitted


def note(page: Page):
    return page.get_by_text(re.compile(r"earlier messages are not sent to the model"))


def note_text(omitted: int) -> str:
    return (
        f"{omitted:,} earlier messages are not sent to the model: they do not fit in its "
        "context window. They stay saved here."
    )


def test_paging_back_through_a_500_message_chat_then_asking_keeps_every_page(
    app: RunningApp, browser: Browser
) -> None:
    page = new_tab(browser)
    watched = CspWatch(page)
    try:
        sign_up(page, app.url, "pager")
        store, user_id, session_id = store_of(app), user_id_of(app, "pager"), new_session_id()
        seed_chat(store, user_id, session_id, 500)

        open_chat(page, app, session_id)
        shown = messages(page)
        assert shown[0] == seeded_text(450) and shown[-1] == seeded_text(499)
        assert shown == seeded(450, 500)
        expect(earlier_button(page)).to_be_visible()
        expect(note(page)).to_have_count(0)  # 500 short messages fit the stub's window

        for clicks in range(1, 10):
            click_and_settle(page, earlier_button(page))
            expect(page.get_by_test_id("stChatMessage")).to_have_count(
                PAGE * (clicks + 1), timeout=LONG
            )
            assert messages(page) == seeded(500 - PAGE * (clicks + 1), 500), clicks
            if clicks < 9:
                expect(earlier_button(page)).to_be_visible()
        expect(earlier_button(page)).to_have_count(0)
        assert messages(page) == seeded(0, 500)
        screenshot(page, "long-chats-01-500-messages-paged-back")

        question = "A new question while every earlier page is shown"
        ask(page, question)
        expect(page.get_by_test_id("stChatMessage")).to_have_count(502, timeout=LONG)
        assert messages(page) == [*seeded(0, 500), question, f"Echo: {question}"]
        expect(earlier_button(page)).to_have_count(0)
        check_stored_once(store, user_id, session_id, question)
        assert watched.violations() == [], watched.violations()
    finally:
        page.context.close()


def test_a_turn_in_a_2000_message_chat_draws_one_page_and_counts_what_the_model_misses(
    app: RunningApp, browser: Browser, model_stub: str
) -> None:
    page = new_tab(browser)
    watched = CspWatch(page)
    try:
        sign_up(page, app.url, "longturn")
        store, user_id, session_id = store_of(app), user_id_of(app, "longturn"), new_session_id()
        seed_chat(store, user_id, session_id, 2000)

        open_chat(page, app, session_id)
        assert messages(page) == seeded(1950, 2000)
        expect(earlier_button(page)).to_be_visible()
        before = omitted_by_whole_history(store, user_id, session_id, "")
        assert 0 < before < 2000
        expect(note(page)).to_have_text(note_text(before))

        question = "What does a long chat cost the next turn?"
        ask(page, question)
        check_stored_once(store, user_id, session_id, question)
        assert store.get_session(user_id, session_id).message_count == 2002

        # The page draws the newest page, which now ends with the new turn: still one page,
        # not the chat.
        expect(page.get_by_test_id("stChatMessage")).to_have_count(PAGE, timeout=LONG)
        assert messages(page) == [*seeded(1952, 2000), question, f"Echo: {question}"]
        expect(earlier_button(page)).to_be_visible()
        after = omitted_by_whole_history(store, user_id, session_id, "")
        expect(note(page)).to_have_text(note_text(after))

        # What the model was really sent: the newest stored messages before the question, as
        # many as trimming the whole history keeps.
        [prompt] = [
            p
            for p in stub_control(model_stub, "prompts")["prompts"]
            if p and p[-1].get("content") == question
        ]
        history = [message["content"] for message in prompt[1:-1]]
        assert prompt[0]["role"] == "system"
        assert history == seeded(2000 - len(history), 2000)
        stored = [to_langchain(m) for m in store.load_messages(user_id, session_id)][:2000]
        left_out = fit_history(
            stored,
            ability=DEFAULT_ABILITY,
            question=question,
            context_tokens=DEFAULT_PROVIDER_CONTEXT_TOKENS,
        ).omitted
        assert 2000 - len(history) == left_out
        assert watched.violations() == [], watched.violations()
    finally:
        page.context.close()


def test_a_100000_message_chat_open_in_three_tabs_beside_another_users_turn(
    app: RunningApp, browser: Browser
) -> None:
    a_first, b_page = new_tab(browser), new_tab(browser)
    try:
        sign_up(a_first, app.url, "hundredk")
        store, a_id, big = store_of(app), user_id_of(app, "hundredk"), new_session_id()
        bulk_seed_chat(store.engine, a_id, big, 100_000)
        assert store.get_session(a_id, big).message_count == 100_000

        sign_up(b_page, app.url, "neighbour")
        ask(b_page, "A first small question")
        b_id = user_id_of(app, "neighbour")
        [b_chat] = store.list_sessions(b_id)

        # A's three tabs start loading the 100k chat (one browser, one sign-in cookie); while
        # they load, B asks.
        tabs = [a_first, a_first.context.new_page(), a_first.context.new_page()]
        for tab in tabs:
            tab.set_default_timeout(LONG)
            tab.goto(chat_url(app, big), wait_until="commit")
        question = "A second small question while someone opens a huge chat"
        ask(b_page, question)
        check_stored_once(store, b_id, b_chat.session_id, question)
        assert messages(b_page)[-4:] == [
            "A first small question",
            "Echo: A first small question",
            question,
            f"Echo: {question}",
        ]

        for tab in tabs:
            settle(tab)
            expect(tab.get_by_test_id("stChatMessage")).to_have_count(PAGE, timeout=LONG)
            settle(tab)
            assert messages(tab) == seeded(100_000 - PAGE, 100_000)
            expect(earlier_button(tab)).to_be_visible()
            # Past the cap (a chat from before it): it says it is full, and takes no question.
            expect(tab.get_by_text(store.full_message())).to_be_visible()
            expect(tab.get_by_test_id("stChatInputTextArea")).to_be_disabled()
        # Paging back works at that length too.
        click_and_settle(tabs[1], earlier_button(tabs[1]))
        expect(tabs[1].get_by_test_id("stChatMessage")).to_have_count(2 * PAGE, timeout=LONG)
        assert messages(tabs[1]) == seeded(100_000 - 2 * PAGE, 100_000)
        # B's chat holds its two turns only: nothing of A's reached it.
        assert len(store.load_messages(b_id, b_chat.session_id)) == 4
    finally:
        a_first.context.close()
        b_page.context.close()


def test_a_chat_at_the_cap_says_it_is_full_and_its_chat_box_is_disabled(
    full_app: RunningApp, browser: Browser
) -> None:
    page = new_tab(browser)
    try:
        sign_up(page, full_app.url, "fuller")
        store, user_id, session_id = (
            store_of(full_app),
            user_id_of(full_app, "fuller"),
            new_session_id(),
        )
        assert store.max_messages_per_chat == FULL_CAP
        seed_chat(store, user_id, session_id, FULL_CAP)

        open_chat(page, full_app, session_id)
        assert messages(page) == seeded(FULL_CAP - PAGE, FULL_CAP)
        full = page.get_by_text(store.full_message())
        expect(full).to_be_visible()
        expect(page.get_by_test_id("stChatInputTextArea")).to_be_disabled()
        full.scroll_into_view_if_needed()
        screenshot(page, "long-chats-02-full-chat")
    finally:
        page.context.close()


def test_the_turn_that_fills_a_chat_leaves_it_full_and_its_chat_box_disabled(
    full_app: RunningApp, browser: Browser
) -> None:
    page = new_tab(browser)
    try:
        sign_up(page, full_app.url, "filler")
        store, user_id, session_id = (
            store_of(full_app),
            user_id_of(full_app, "filler"),
            new_session_id(),
        )
        seed_chat(store, user_id, session_id, FULL_CAP - 2)

        open_chat(page, full_app, session_id)
        expect(page.get_by_text(store.full_message())).to_have_count(0)
        expect(page.get_by_test_id("stChatInputTextArea")).to_be_enabled()
        question = "The question that takes the last two places"
        ask(page, question)
        check_stored_once(store, user_id, session_id, question)
        assert store.get_session(user_id, session_id).message_count == FULL_CAP
        expect(page.get_by_text(store.full_message())).to_be_visible()
        expect(page.get_by_test_id("stChatInputTextArea")).to_be_disabled()
    finally:
        page.context.close()
