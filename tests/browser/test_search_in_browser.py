"""Search in Chromium: the sidebar finds the user's own chats by a word of a message, shows an
escaped snippet with the match in bold, opens the chat; hostile queries (FTS syntax, a tab, a
query too long) give results or a sentence, never Streamlit's error box."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from memory.store import new_session_id
from tests.browser.conftest import (
    CspWatch,
    RunningApp,
    screenshot,
    settle,
    sign_up,
    store_of,
    user_id_of,
)
from tests.browser.test_long_chats_in_browser import LONG


def search(page: Page, text: str) -> None:
    box = page.get_by_test_id("stSidebar").get_by_label("Search chats")
    box.fill(text)
    box.press("Enter")
    settle(page)


def test_search_finds_a_word_shows_a_marked_escaped_snippet_and_opens_the_chat(
    page: Page, app: RunningApp
) -> None:
    watched = CspWatch(page)
    sign_up(page, app.url, "searcher")
    sign_up_other = page.context.browser.new_context().new_page()
    sign_up(sign_up_other, app.url, "neighbour")
    sign_up_other.context.close()
    store = store_of(app)
    mine, theirs = new_session_id(), new_session_id()
    store.create_session(user_id_of(app, "searcher"), session_id=mine, title="Birds")
    store.append_messages(
        user_id_of(app, "searcher"),
        mine,
        [
            ("human", "Tell me about birds"),
            ("ai", "Ornithology is the study of birds; see ![x](http://evil.example/p.png) *now*"),
        ],
    )
    store.create_session(user_id_of(app, "neighbour"), session_id=theirs, title="Theirs")
    store.append_messages(user_id_of(app, "neighbour"), theirs, [("human", "ornithology too")])
    page.reload()
    settle(page)

    search(page, "ornith")

    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_role("button", name="Birds")).to_be_visible(timeout=LONG)
    expect(sidebar.get_by_role("button", name="Theirs")).to_have_count(0)
    snippet = sidebar.get_by_test_id("stCaptionContainer").filter(has_text="study of birds")
    expect(snippet).to_have_count(1)
    assert snippet.locator("strong").inner_text() == "Ornithology"
    # Shown as typed (a word joiner after "http:" keeps the renderer from linking it).
    assert "![x](http://evil.example/p.png) *now*" in snippet.inner_text().replace("\u2060", "")
    assert snippet.locator("img, a, em").count() == 0
    screenshot(page, "search-01-snippet")

    sidebar.get_by_role("button", name="Birds").click()
    settle(page)
    expect(page).to_have_url(f"{app.url}/?session={mine}", timeout=LONG)
    expect(page.get_by_test_id("stChatMessage")).to_have_count(2)
    assert watched.violations() == []


def test_hostile_queries_give_results_or_a_sentence_never_an_error_box(
    page: Page, app: RunningApp
) -> None:
    sign_up(page, app.url, "hostile")
    store = store_of(app)
    session = new_session_id()
    store.create_session(user_id_of(app, "hostile"), session_id=session, title="Plain")
    store.append_messages(user_id_of(app, "hostile"), session, [("human", "alpha beta gamma")])
    page.reload()
    settle(page)
    sidebar = page.get_by_test_id("stSidebar")

    for query in [
        '"alpha',
        "alpha*",
        "-alpha",
        "NEAR(alpha beta)",
        "alpha:beta",
        "^alpha",
        "(alpha",
        "alpha AND",
        "OR",
        "alpha\tbeta",
        "' OR 1=1 --",
    ]:
        search(page, query)
        expect(page.get_by_test_id("stException")).to_have_count(0)
        expect(page.get_by_test_id("stAlert").filter(has_text="error")).to_have_count(0)
    search(page, "alpha\tbeta")
    expect(sidebar.get_by_role("button", name="Plain")).to_be_visible(timeout=LONG)

    search(page, "word " * 60)
    expect(sidebar.get_by_text("Search not run")).to_be_visible(timeout=LONG)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stChatInput")).to_be_visible()
