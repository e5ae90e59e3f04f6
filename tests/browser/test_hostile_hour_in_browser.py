"""Issue 18 in Chromium, one test per point whose symptom was on screen, against the real app
answered by the stub model:

1. Admin → Stored histories lists a user's chats by an opaque handle, dates and counts only:
   no specialty, no title, no session id, until a reason opens one (and the audit log has it).
2. A reason of invisible characters opens nothing; one with a visible reason is recorded, and
   the audit log shows its invisible characters as ⟨U+XXXX⟩.
5. A model server that dies mid-answer (no finish_reason, no [DONE]; over HTTP/1.0 the body
   ends as it closes, or a chunked body ends cleanly) gives a "cut off" sentence and the
   partial answer, kept marked interrupted; Retry answers it in full.
9. A chat title shows exactly its characters in the page title and the sidebar: no icon,
   no entity, no emphasis, no link.

The owner's chat in 1 and 2 is seeded through memory's ChatStore on the app's own SQLite file,
as the other browser tests seed theirs. Every test checks that the page saw no CSP violation.
Nothing is timed; the waits are generous for a loaded two-core machine."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

import audit
from memory.store import COMPLETE, INTERRUPTED
from tests.browser.conftest import (
    CspWatch,
    RunningApp,
    click_and_settle,
    screenshot,
    settle,
    sign_in,
    sign_up,
    store_of,
    stub_control,
    user_id_of,
    wait_until_quiet,
)
from tests.support.openai_stub import CUT_CHUNKED, CUT_HTTP10, NORMAL

pytestmark = pytest.mark.browser

LONG = 60_000  # ms
ADMIN = "root"  # the first account: the administrator
OWNER = "olga"
# The owner's chat: every part an admin must not see before giving a reason holds a secret.
SECRET_SESSION_ID = "imported-secret-SESSIONID-olga"
SECRET_ABILITY = "oncology, my HIV status secret-ABILITY"
SECRET_QUESTION = "Should I tell my boss about secret-QUESTION?"  # under 60: the title as is
SECRET_ANSWER = f"Echo: {SECRET_QUESTION}"
SECRETS = ("secret-", "SESSIONID", "oncology", "HIV", "boss")
REASON = "support ticket 9021: the owner asked us to check a lost answer"
VISIBLE_REASON = "\u200bsupport call"
INVISIBLE_REASONS = ("\u200b", "\u3164\u3164")  # a zero-width space; two Hangul fillers

CUT_QUESTION = "what is a jvm and how does it run java code"
FULL_ANSWER = f"Echo: {CUT_QUESTION}"
PARTIAL_ANSWER = "Echo: what is a jvm and"  # the stub's first half of the answer's words

HOSTILE_TITLE = ":material/warning: &lt;b&gt;x&lt;/b&gt; **bold** [link](http://example.com)"

# Streamlit draws a dataframe's cells on a canvas; the grid mirrors them in an accessible table
# (as read in test_admin_in_browser.py): null until every drawn cell has its header.
READ_GRID = """table => {
    const index = cell => cell.getAttribute('aria-colindex');
    const headers = new Map([...table.querySelectorAll('thead th')].map(th => [index(th), th.textContent]));
    const rows = [...table.querySelectorAll('tbody tr')].map(row => [...row.querySelectorAll('td')]);
    if (headers.size === 0 || rows.some(cells => cells.some(cell => !headers.has(index(cell))))) return null;
    return rows.map(cells => Object.fromEntries(cells.map(cell => [headers.get(index(cell)), cell.textContent])));
}"""

# Markup inside a label that its own text made: emphasis, HTML, links and Streamlit's icons.
# A heading's own anchor (Streamlit's link to it, in its action elements) is not the label's.
LABEL_MARKUP = (
    "b, strong, em, i, a:not([data-testid=stHeaderActionElements] a), img, "
    "[data-testid=stIconMaterial]"
)


def watched_page(page: Page) -> CspWatch:
    """The page with its CSP violations recorded and this module's generous timeout."""
    page.set_default_timeout(LONG)
    return CspWatch(page)


def check_no_csp_violation(*watched: CspWatch) -> None:
    for one in watched:
        found = one.violations()
        assert found == [], found


@pytest.fixture(scope="module", autouse=True)
def _generous_expect_timeout() -> Iterator[None]:
    """Playwright's expect waits 5 s by default: too short on a loaded two-core machine."""
    expect.set_options(timeout=LONG)
    yield
    expect.set_options(timeout=5_000)


@pytest.fixture(scope="module")
def owner_chat(app: RunningApp, browser: Browser) -> str:
    """The administrator (the first account) and a user whose one chat has a secret specialty,
    title and session id, seeded through ChatStore: that chat's handle."""
    for username in (ADMIN, OWNER):
        context = browser.new_context()
        try:
            sign_up(context.new_page(), app.url, username)
        finally:
            context.close()
    store = store_of(app)
    owner_id = user_id_of(app, OWNER)
    store.create_session(owner_id, session_id=SECRET_SESSION_ID, ability=SECRET_ABILITY)
    turn = store.begin_turn(owner_id, SECRET_SESSION_ID, SECRET_QUESTION, ability=SECRET_ABILITY)
    store.finish_turn(turn, SECRET_ANSWER)
    summary = store.get_session(owner_id, SECRET_SESSION_ID)
    assert summary is not None
    assert (summary.title, summary.ability, summary.message_count) == (
        SECRET_QUESTION,
        SECRET_ABILITY,
        2,
    )
    return audit.chat_handle(owner_id, SECRET_SESSION_ID)


def table_rows(frame: Locator) -> list[dict[str, str]]:
    """The visible rows of an st.dataframe, each as {column: text} for the columns in view."""
    grid = frame.locator("table[role=grid]")
    expect(grid).to_have_count(1)
    return frame.page.wait_for_function(READ_GRID, arg=grid.element_handle()).json_value()


def open_stored_histories(page: Page, app: RunningApp) -> Locator:
    """As the administrator: Admin → Stored histories, the owner's username typed; the tab."""
    sign_in(page, app.url, ADMIN)
    page.get_by_test_id("stSidebar").get_by_role("link", name="Admin").click()
    expect(page).to_have_url(re.compile(r"://[^/]+/admin(\?|$)"))
    settle(page)
    page.get_by_role("tab", name="Stored histories").click()
    histories = page.get_by_role("tabpanel", name="Stored histories")
    owner_box = histories.get_by_role("textbox", name="Owner's username")
    owner_box.fill(OWNER)
    owner_box.press("Enter")
    expect(histories.get_by_role("button", name="Open read-only")).to_be_visible()
    settle(page)
    return histories


def open_with_reason(page: Page, histories: Locator, reason: str) -> None:
    histories.get_by_role("textbox", name="Reason for opening it").fill(reason)
    click_and_settle(page, histories.get_by_role("button", name="Open read-only"))


def check_no_secret_anywhere(page: Page) -> None:
    """Nothing of the owner's chat in the page: not in its text, not in its markup."""
    expect(page.get_by_test_id("stText")).to_have_count(0)
    text, markup = page.locator("body").inner_text(), page.content()
    for secret in SECRETS:
        assert secret not in text, secret
        assert secret not in markup, secret


def history_views(page: Page) -> list[dict[str, str]]:
    """The audit log tab's history_viewed rows, on a screen wide enough for every column."""
    page.set_viewport_size({"width": 1920, "height": 860})
    page.get_by_role("tab", name="Audit log").click()
    audit_tab = page.get_by_role("tabpanel", name="Audit log")
    rows = table_rows(audit_tab.get_by_test_id("stDataFrame"))
    return [row for row in rows if row["Action"] == "Opened a chat"]


# 1 -----------------------------------------------------------------------------------------


def test_stored_histories_show_only_a_handle_dates_and_counts_until_a_reason_opens_one(
    app: RunningApp, owner_chat: str, page: Page
) -> None:
    watched = watched_page(page)
    histories = open_stored_histories(page, app)

    [listed] = table_rows(histories.get_by_test_id("stDataFrame"))
    assert set(listed) == {"chat", "started", "last message", "messages", "place"}, listed
    assert listed["place"] == "listed"
    assert listed["chat"] == owner_chat
    assert re.fullmatch(r"chat-[0-9a-f]{10}", listed["chat"])
    # The grid's accessible mirror holds the times as stored; the canvas draws them formatted.
    for column in ("started", "last message"):
        assert re.search(r"\d{4}-\d{2}-\d{2}", listed[column]), listed
    assert listed["messages"] == "2"
    # The picker names the chat by its dates and size, in the admin's words.
    expect(histories.get_by_role("combobox", name="Chat")).to_have_value(
        re.compile(
            r"^Started \d{1,2} \w{3} \d{4}, \d{2}:\d{2} · last message "
            r"\d{1,2} \w{3} \d{4}, \d{2}:\d{2} · 2 messages$"
        )
    )
    check_no_secret_anywhere(page)
    screenshot(page, "hostile-01-stored-histories-before-a-reason")

    open_with_reason(page, histories, REASON)
    expect(histories.get_by_role("heading", name=SECRET_QUESTION)).to_be_visible()
    expect(
        histories.get_by_text(f"Assistant specialized in {SECRET_ABILITY}", exact=True)
    ).to_be_visible()
    expect(page.get_by_test_id("stText")).to_have_text([SECRET_QUESTION, SECRET_ANSWER])
    screenshot(page, "hostile-02-stored-history-opened-with-a-reason")

    [view] = [row for row in history_views(page) if row["Reason"] == REASON]
    assert (view["Admin"], view["Owner"], view["Chat"]) == (ADMIN, OWNER, owner_chat)
    check_no_csp_violation(watched)


# 2 -----------------------------------------------------------------------------------------


def test_a_reason_of_invisible_characters_opens_nothing_and_the_log_shows_them(
    app: RunningApp, owner_chat: str, page: Page
) -> None:
    watched = watched_page(page)
    histories = open_stored_histories(page, app)
    errors = histories.get_by_test_id("stAlertContentError")
    for reason in INVISIBLE_REASONS:
        open_with_reason(page, histories, reason)
        expect(errors).to_have_count(1)
        expect(errors).to_have_text(re.compile(r"^Nothing is shown"))
        check_no_secret_anywhere(page)
    screenshot(page, "hostile-03-invisible-reason-refused")

    open_with_reason(page, histories, VISIBLE_REASON)
    expect(errors).to_have_count(0)
    expect(histories.get_by_role("heading", name=SECRET_QUESTION)).to_be_visible()
    expect(page.get_by_test_id("stText")).to_have_text([SECRET_QUESTION, SECRET_ANSWER])

    reasons = [row["Reason"] for row in history_views(page)]
    assert reasons.count("⟨U+200B⟩support call") == 1, reasons
    # The refused attempts recorded nothing.
    assert not any(reason in ("", "⟨U+200B⟩", "⟨U+3164⟩⟨U+3164⟩") for reason in reasons), reasons
    screenshot(page, "hostile-04-audit-log-shows-invisible-characters")
    check_no_csp_violation(watched)


# 5 -----------------------------------------------------------------------------------------


def answer_text(page: Page, index: int) -> str:
    """The answer's own text in the index-th chat message (its caption and buttons left out)."""
    content = page.get_by_test_id("stChatMessageContent").nth(index)
    return content.get_by_test_id("stMarkdown").first.inner_text().strip()


def stored(app: RunningApp, username: str, page: Page) -> list[tuple[str, str, str]]:
    """(role, content, status) of what the database holds for the chat open in `page`."""
    session_id = re.search(r"session=([^&]+)", page.url).group(1)
    messages = store_of(app).load_messages(user_id_of(app, username), session_id)
    return [(m.role, m.content, m.status) for m in messages]


@pytest.mark.parametrize("cut", [CUT_HTTP10, CUT_CHUNKED])
def test_an_answer_cut_off_by_a_dying_model_server_is_kept_interrupted_and_retry_completes_it(
    app: RunningApp, model_stub: str, page: Page, cut: str
) -> None:
    watched = watched_page(page)
    username = {CUT_HTTP10: "cutclose", CUT_CHUNKED: "cutchunk"}[cut]
    sign_up(page, app.url, username)
    wait_until_quiet(page)
    stub_control(model_stub, "mode", {"mode": cut})
    try:
        box = page.get_by_test_id("stChatInputTextArea")
        box.fill(CUT_QUESTION)
        box.press("Enter")
        error = page.get_by_test_id("stAlertContentError")
        expect(error).to_contain_text("cut off")
        settle(page)
        contents = page.get_by_test_id("stChatMessageContent")
        expect(contents).to_have_count(2)
        expect(contents.nth(0)).to_have_text(CUT_QUESTION)
        screenshot(page, f"hostile-05-{cut}-cut-off")
        # What arrived is stored, marked interrupted, before the sentence is drawn...
        assert stored(app, username, page) == [
            ("human", CUT_QUESTION, COMPLETE),
            ("ai", PARTIAL_ANSWER, INTERRUPTED),
        ]
        # ...and it is on the page beside the sentence, all of it.
        expect(contents.nth(1)).to_contain_text(PARTIAL_ANSWER)
        assert answer_text(page, 1) == PARTIAL_ANSWER, answer_text(page, 1)
        assert FULL_ANSWER not in page.locator("body").inner_text()
    finally:
        stub_control(model_stub, "mode", {"mode": NORMAL})

    # The next run draws the chat as stored: the partial answer, marked, and Retry.
    page.reload()
    settle(page)
    expect(page.get_by_text("This answer was interrupted.")).to_be_visible()
    retry = page.get_by_role("button", name="Retry")
    expect(retry).to_be_visible()
    assert answer_text(page, 1) == PARTIAL_ANSWER
    expect(page.get_by_text("cut off")).to_have_count(0)

    retry.click()
    expect(page.get_by_text("This answer was interrupted.")).to_have_count(0)
    expect(page.get_by_test_id("stChatMessageContent").nth(1)).to_have_text(FULL_ANSWER)
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)
    expect(page.get_by_role("button", name="Retry")).to_be_visible()
    settle(page)
    expect(page.get_by_test_id("stChatMessageContent")).to_have_text([CUT_QUESTION, FULL_ANSWER])
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    assert stored(app, username, page) == [
        ("human", CUT_QUESTION, COMPLETE),
        ("ai", FULL_ANSWER, COMPLETE),
    ]
    check_no_csp_violation(watched)


# 9 -----------------------------------------------------------------------------------------


def check_label_shows_exactly(label: Locator, text: str) -> None:
    """The label's visible text is `text`, character for character, with no markup of its own.

    The one difference allowed is the invisible WORD JOINER (U+2060) that ui/safe_markdown.py
    puts inside `http:` + `//` on purpose, so that remark-gfm makes no link of a bare URL: it
    takes no room and shows nothing, but it is in the text (and in what a reader copies)."""
    expect(label).to_have_count(1)
    shown = label.inner_text().strip()
    assert shown.replace("\u2060", "") == text, repr(shown)
    assert set(shown) - set(text) <= {"\u2060"}, repr(shown)
    markup = label.locator(LABEL_MARKUP)
    assert markup.count() == 0, label.inner_html()


def test_a_renamed_chat_title_shows_exactly_its_characters_in_the_header_and_the_sidebar(
    app: RunningApp, page: Page
) -> None:
    watched = watched_page(page)
    sign_up(page, app.url, "labeller")
    wait_until_quiet(page)
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill("How do labels work?")
    box.press("Enter")
    expect(page.get_by_role("button", name="Retry")).to_be_visible()
    expect(page.get_by_role("heading", name="How do labels work?")).to_be_visible()
    settle(page)

    page.get_by_role("button", name="Rename", exact=True).click()
    popover = page.get_by_test_id("stPopoverBody")
    popover.get_by_role("textbox", name="New title").fill(HOSTILE_TITLE)
    popover.get_by_role("button", name="Save").click()
    title = page.get_by_role("main").locator("h1")
    expect(title).not_to_have_text("How do labels work?")
    settle(page)
    sidebar_chat = page.get_by_test_id("stSidebar").get_by_test_id("stBaseButton-primary")
    for _ in range(2):  # as drawn after the rename, then as drawn anew from the database
        check_label_shows_exactly(title, HOSTILE_TITLE)
        check_label_shows_exactly(sidebar_chat, HOSTILE_TITLE)
        screenshot(page, "hostile-06-title-shown-exactly")
        page.reload()
        settle(page)
    check_no_csp_violation(watched)
