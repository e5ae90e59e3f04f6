"""The admin page in Chromium: a non-admin reaches none of it, however they ask for it; the
admin opens a user's stored history only with a reason, the audit log records that reason, and
the owner's "My data" page tells them who opened their chat, when and why."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

import audit
from accounts import find_account
from database import get_engine
from database.engine import dispose_engine
from tests.browser.conftest import (
    RunningApp,
    app_database_url,
    click_and_settle,
    open_app,
    screenshot,
    send,
    settle,
    sign_in,
    sign_up,
)

pytestmark = pytest.mark.browser

ADMIN = "root"  # the first account: the administrator
OWNER = "uma"
QUESTIONS = ("What is a river delta?", "Which is the longest river?")
REASON = "support ticket 4711: the user asked why an answer was cut off"
PATHS = {"Chat": "/", "My data": "/my_data", "Admin": "/admin"}  # of the sidebar's entries
# Ways a signed-in user might ask for the admin page by address.
ADMIN_ADDRESSES = (
    "/admin",
    "/admin?session=anything",
    "/?page=admin",
    "/?page=pages/admin.py",
    "/?page=Admin&admin=true",
    "/chat?page=admin",
)

# Streamlit draws a dataframe's cells on a canvas; the grid mirrors them in an accessible table,
# filled in as the grid draws (null until every header and cell is there).
# The grid draws only the columns in view (a wide table scrolls sideways), so cells are matched
# to headers by column index; null until every drawn cell has its header.
READ_GRID = """table => {
    const index = cell => cell.getAttribute('aria-colindex');
    const headers = new Map([...table.querySelectorAll('thead th')].map(th => [index(th), th.textContent]));
    const rows = [...table.querySelectorAll('tbody tr')].map(row => [...row.querySelectorAll('td')]);
    if (headers.size === 0 || rows.some(cells => cells.some(cell => !headers.has(index(cell))))) return null;
    return rows.map(cells => Object.fromEntries(cells.map(cell => [headers.get(index(cell)), cell.textContent])));
}"""
# What the browser's back and forward buttons do: change the address without reloading.
GO_TO_PATH = """path => {
    history.pushState({}, '', path);
    window.dispatchEvent(new PopStateEvent('popstate'));
}"""


@pytest.fixture(scope="module")
def people(app: RunningApp, browser: Browser) -> None:
    """The administrator (the first account) and a user with one chat of two questions."""
    admin_context, owner_context = browser.new_context(), browser.new_context()
    try:
        sign_up(admin_context.new_page(), app.url, ADMIN)
        owner = owner_context.new_page()
        sign_up(owner, app.url, OWNER)
        for question in QUESTIONS:
            send(owner, question)
    finally:
        admin_context.close()
        owner_context.close()


def table_rows(frame: Locator) -> list[dict[str, str]]:
    """The visible rows of an st.dataframe, each as {column: text} for the columns in view."""
    grid = frame.locator("table[role=grid]")
    expect(grid).to_have_count(1)
    return frame.page.wait_for_function(READ_GRID, arg=grid.element_handle()).json_value()


def go_to(page: Page, menu_entry: str) -> None:
    """Open a page from the sidebar's menu and wait until it has run."""
    page.get_by_test_id("stSidebar").get_by_role("link", name=menu_entry).click()
    expect(page).to_have_url(re.compile(rf"://[^/]+{PATHS[menu_entry]}(\?|$)"))
    settle(page)


def nothing_of_the_admin_page(page: Page) -> None:
    expect(page.get_by_role("heading", name="Admin")).to_have_count(0)
    for tab in ("Users", "Stored histories", "Audit log", "Usage", "Retention"):
        expect(page.get_by_role("tab", name=tab)).to_have_count(0)
    expect(page.get_by_role("textbox", name="Owner's username")).to_have_count(0)
    expect(page.get_by_role("button", name="Open read-only")).to_have_count(0)
    expect(page.get_by_text("This page is for administrators.")).to_have_count(0)


def test_a_non_admin_reaches_nothing_of_the_admin_page_by_url_or_query_parameter(
    app: RunningApp, people: None, browser: Browser, page: Page
) -> None:
    sign_in(page, app.url, OWNER)
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_role("link", name="My data")).to_be_visible()
    expect(sidebar.get_by_role("link", name="Admin")).to_have_count(0)

    for address in ADMIN_ADDRESSES:
        open_app(page, app.url + address)
        # Still signed in, on their own chat: the address was read, and led nowhere.
        expect(page.get_by_test_id("stChatInputTextArea")).to_be_visible()
        nothing_of_the_admin_page(page)

    # Within a running session too, as the back and forward buttons navigate.
    page.evaluate(GO_TO_PATH, "/admin")
    page.wait_for_timeout(500)
    settle(page)
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_visible()
    nothing_of_the_admin_page(page)

    # The same in-session navigation does open the page for the administrator, so the
    # refusal above is the user's role at work, not a way of asking that never works.
    admin_context = browser.new_context()
    try:
        admin = admin_context.new_page()
        sign_in(admin, app.url, ADMIN)
        admin.evaluate(GO_TO_PATH, "/admin")
        expect(admin.get_by_role("heading", name="Admin")).to_be_visible()
        expect(admin.get_by_role("tab", name="Stored histories")).to_be_visible()
    finally:
        admin_context.close()


def test_the_admin_reaches_the_admin_page_by_its_url(
    app: RunningApp, people: None, page: Page
) -> None:
    # The same fresh page load that leads a user nowhere (a bookmark, a reload) opens the page
    # for the administrator: the cookie signs them in before the pages are registered.
    sign_in(page, app.url, ADMIN)
    open_app(page, f"{app.url}/admin")
    expect(page.get_by_role("heading", name="Admin")).to_be_visible()
    expect(page.get_by_role("tab", name="Stored histories")).to_be_visible()
    page.reload()
    settle(page)
    expect(page.get_by_role("heading", name="Admin")).to_be_visible()


def owner_id(app: RunningApp) -> str:
    url = app_database_url(app)
    try:
        account = find_account(get_engine(url), username=OWNER)
    finally:
        dispose_engine(url)
    assert account is not None
    return account.id


def test_an_opened_history_needs_a_reason_is_audited_and_is_shown_to_its_owner(
    app: RunningApp, people: None, browser: Browser, page: Page
) -> None:
    answers = [f"Echo: {question}" for question in QUESTIONS]
    owner_context = browser.new_context(viewport={"width": 1280, "height": 860})
    try:
        owner = owner_context.new_page()
        sign_in(owner, app.url, OWNER)
        owner.get_by_test_id("stSidebar").get_by_role("button", name=QUESTIONS[0]).click()
        expect(owner.get_by_role("heading", name=QUESTIONS[0])).to_be_visible()
        settle(owner)
        owner_session = owner.url.split("session=")[1]
        go_to(owner, "My data")
        expect(owner.get_by_text("No administrator has opened your chats.")).to_be_visible()

        sign_in(page, app.url, ADMIN)
        go_to(page, "Admin")
        page.get_by_role("tab", name="Stored histories").click()
        owner_box = page.get_by_role("textbox", name="Owner's username")
        owner_box.fill(OWNER)
        owner_box.press("Enter")
        settle(page)
        histories = page.get_by_role("tabpanel", name="Stored histories")
        # The chat is listed by an opaque handle and its size; not by its title (the user's
        # first question), its specialty or its id.
        handle = audit.chat_handle(owner_id(app), owner_session)
        [listed] = table_rows(histories.get_by_test_id("stDataFrame"))
        assert listed["chat"] == handle
        assert listed["messages"] == "4"
        assert not any(QUESTIONS[0] in value for value in listed.values())
        assert not any(owner_session in value for value in listed.values())

        # Without a reason: an error, and not a word of the chat anywhere on the page.
        click_and_settle(page, histories.get_by_role("button", name="Open read-only"))
        expect(histories.get_by_text("Nothing is shown. Give a reason")).to_be_visible()
        expect(page.get_by_test_id("stText")).to_have_count(0)
        for text in (*QUESTIONS, *answers):
            expect(page.get_by_text(text)).to_have_count(0)

        # With a reason: the whole conversation, in order, read-only.
        histories.get_by_role("textbox", name="Reason for opening it").fill(REASON)
        opened_from = dt.datetime.now(dt.UTC).replace(microsecond=0)
        click_and_settle(page, histories.get_by_role("button", name="Open read-only"))
        opened_until = dt.datetime.now(dt.UTC)
        expect(page.get_by_test_id("stText")).to_have_count(4)
        conversation = [text.strip() for text in page.get_by_test_id("stText").all_inner_texts()]
        assert conversation == [QUESTIONS[0], answers[0], QUESTIONS[1], answers[1]]
        expect(histories.get_by_text("Nothing is shown")).to_have_count(0)
        page.set_viewport_size({"width": 1280, "height": 1500})  # the app scrolls inside itself
        screenshot(page, "admin-01-history-opened-with-reason")
        page.set_viewport_size({"width": 1280, "height": 860})

        page.get_by_role("tab", name="Audit log").click()
        audit_tab = page.get_by_role("tabpanel", name="Audit log")
        screenshot(page, "admin-02-audit-log")
        # Every column in view at 1280 px (a long reason is cut short on screen, not hidden).
        scroller = audit_tab.get_by_test_id("stDataFrame").locator(".dvn-scroller").first
        assert scroller.evaluate("e => e.scrollWidth <= e.clientWidth + 1")
        page.set_viewport_size({"width": 1920, "height": 860})
        views = [
            row
            for row in table_rows(audit_tab.get_by_test_id("stDataFrame"))
            if row["Action"] == "Opened a chat"
        ]
        # One access, the one with the reason: the refused attempt showed and logged nothing.
        assert len(views) == 1
        assert views[0]["Admin"] == ADMIN
        assert views[0]["Owner"] == OWNER
        assert views[0]["Chat"] == handle
        assert views[0]["Reason"] == REASON
        page.set_viewport_size({"width": 1280, "height": 860})

        # The owner's own page now says who opened which chat, when and why.
        go_to(owner, "Chat")
        go_to(owner, "My data")
        expect(owner.get_by_text("No administrator has opened your chats.")).to_have_count(0)
        [seen] = table_rows(owner.get_by_test_id("stDataFrame"))
        assert seen["administrator"] == ADMIN
        assert seen["chat"] == QUESTIONS[0]
        assert seen["reason"] == REASON
        when = dt.datetime.fromisoformat(seen["when (UTC)"])
        assert opened_from <= when <= opened_until
        screenshot(owner, "admin-03-my-data-who-opened-my-chats")
    finally:
        owner_context.close()


def pick_row(frame: Locator, number: int) -> None:
    """Tick the row marker of row `number` (0: the first under the header) of a dataframe;
    the grid is a canvas, so the click goes by position (35 px rows, header included)."""
    box = frame.locator("canvas").first.bounding_box()
    assert box is not None
    frame.page.mouse.click(box["x"] + 18, box["y"] + 35 * (number + 1) + 17)


def test_an_account_is_picked_by_its_row_and_disabling_asks_first_naming_it(
    app: RunningApp, people: None, page: Page
) -> None:
    sign_in(page, app.url, ADMIN)
    open_app(page, f"{app.url}/admin")
    users = page.get_by_test_id("stDataFrame").first
    rows = table_rows(users)
    # Every column in view at 1280 px: no sideways scroll to find a user's state or quota.
    scroller = users.locator(".dvn-scroller").first
    assert scroller.evaluate("e => e.scrollWidth <= e.clientWidth + 1"), scroller.evaluate(
        "e => [e.scrollWidth, e.clientWidth]"
    )
    number = next(i for i, row in enumerate(rows) if row.get("username") == OWNER)
    pick_row(users, number)
    settle(page)
    expect(page.get_by_text(f"{OWNER} · user")).to_be_visible()
    click_and_settle(page, page.get_by_role("button", name="Disable", exact=True))
    expect(
        page.get_by_text(f"Disable {OWNER}? They are signed out on every device")
    ).to_be_visible()
    screenshot(page, "admin-confirm-disable")
    engine = get_engine(app_database_url(app))
    try:
        owner = find_account(engine, username=OWNER)
        assert owner is not None and not owner.disabled
        click_and_settle(page, page.get_by_role("button", name=f"Disable: {OWNER}"))
        expect(page.get_by_text(f"Disable: {OWNER}")).to_be_visible()
        assert find_account(engine, username=OWNER).disabled
        # Still picked after the rerun: Enable undoes it at once, no question asked.
        click_and_settle(page, page.get_by_role("button", name="Enable", exact=True))
        assert not find_account(engine, username=OWNER).disabled
        actions = [e.action for e in audit.list_events(engine, subject_user_id=owner.id)]
        assert actions[:2] == [audit.USER_ENABLED, audit.USER_DISABLED]
    finally:
        dispose_engine(app_database_url(app))


def test_each_page_has_a_title_that_names_it(app: RunningApp, people: None, page: Page) -> None:
    open_app(page, app.url)
    expect(page).to_have_title("Sign in · Chat")
    sign_in(page, app.url, ADMIN)
    expect(page).to_have_title("Chat")
    for entry in ("My data", "Admin"):
        go_to(page, entry)
        expect(page).to_have_title(f"{entry} · Chat")
    go_to(page, "Chat")
    expect(page).to_have_title("Chat")
