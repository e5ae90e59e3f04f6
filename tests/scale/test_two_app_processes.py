"""Two app processes (`streamlit run app.py` twice) on one PostgreSQL database with one cookie
key, as behind a load balancer: a user who moves between them keeps one history, in order and
without duplicates; sign-out, the lockout and the audit log hold across processes."""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

import accounts
import audit
from database.engine import dispose_engine
from memory import ChatStore, open_store
from tests.browser.conftest import (
    PASSWORD,
    RunningApp,
    click_and_settle,
    messages,
    open_app,
    send,
    settle,
    sign_up,
    try_sign_in,
    wait_until_quiet,
)
from tests.browser.test_chat_in_browser import sidebar_titles
from tests.scale.conftest import (
    COOKIE_NAME,
    StubServer,
    chat_app_env,
    cheap_hashes,
    cookie_for,
    expect_signed_out,
    session_id_of,
    sign_in_cookie,
    sql,
    start_app_process,
    stored_messages,
    warm_up,
)
from tests.support.postgres import PostgresCluster

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def shared_database(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """A fresh database on the throwaway cluster, for this module's two app processes."""
    url = postgres_cluster.create_app_database()
    yield url
    dispose_engine(url)


@pytest.fixture(scope="module")
def store(shared_database: str) -> ChatStore:
    """The test's own view of the shared database (migrated here; the apps find it current)."""
    return open_store(shared_database)


@pytest.fixture(scope="module")
def admin(store: ChatStore) -> accounts.Account:
    with cheap_hashes():
        # The first account of a database is its administrator.
        return accounts.create_account(store.engine, username="root", password=PASSWORD)


@pytest.fixture(scope="module")
def apps(
    tmp_path_factory: pytest.TempPathFactory,
    stub: StubServer,
    shared_database: str,
    admin: accounts.Account,
    browser: Browser,
) -> Iterator[tuple[RunningApp, RunningApp]]:
    """Processes A and B: separate data directories and ports, one database, one cookie key."""
    cookie_key = secrets.token_urlsafe(48)
    started: list[RunningApp] = []
    try:
        for name in ("a", "b"):
            data_dir = tmp_path_factory.mktemp(f"app-{name}")
            env = chat_app_env(
                data_dir, model_url=stub.url, cookie_key=cookie_key, database_url=shared_database
            )
            started.append(start_app_process(env, data_dir / "app.log"))
            warm_up(browser, started[-1])
        yield started[0], started[1]
    finally:
        for app in started:
            app.stop()


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    """Browser profiles for a test (each one a separate device); closed afterwards."""
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        context.close()


def new_page(browser: Browser, contexts: list[BrowserContext]) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    contexts.append(context)
    page = context.new_page()
    page.set_default_timeout(20_000)
    return page


def chat_input(page: Page):
    return page.get_by_test_id("stChatInputTextArea")


def open_chat(page: Page, url: str, chat: str, count: int) -> None:
    """Open a chat by its URL and wait until its `count` messages are drawn (a cookie sign-in
    takes two runs: the page may look settled in between)."""
    open_app(page, f"{url}/?session={chat}")
    expect(page.get_by_test_id("stChatMessage")).to_have_count(count)
    expect(chat_input(page)).to_be_visible()
    settle(page)


def sign_in_with_password(page: Page, url: str, username: str) -> None:
    """Sign in through the form; unlike the browser helper's sign_in, without waiting for the
    cookie, which this test does not use."""
    open_app(page, url)
    try_sign_in(page, username, PASSWORD)
    expect(chat_input(page)).to_be_visible()
    settle(page)


def go_to(page: Page, title: str) -> None:
    """Open a page through the sidebar's navigation, as a user does. (A deep link such as
    /admin is refused on a browser session's first run: see the report on app.py.)"""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", name=title)).to_be_visible()
    settle(page)


def turns(*questions: str) -> list[str]:
    """What the page shows for these questions answered by the stub, oldest first."""
    return [text for question in questions for text in (question, f"Echo: {question}")]


def test_one_user_moves_between_processes_and_keeps_one_ordered_history(
    apps: tuple[RunningApp, RunningApp],
    browser: Browser,
    contexts: list[BrowserContext],
    stub: StubServer,
    shared_database: str,
) -> None:
    a, b = apps
    page = new_page(browser, contexts)
    sign_up(page, a.url, "ada")
    send(page, "first question on A")
    send(page, "second question on A")
    chat = session_id_of(page)
    click_and_settle(page, page.get_by_test_id("stSidebar").get_by_role("button", name="New chat"))
    send(page, "another chat on A")
    other_chat = session_id_of(page)

    # The cookie A set belongs to the host, whatever the port: the browser sends it to B as
    # it would to any process behind one load-balanced address.
    assert COOKIE_NAME in {cookie["name"] for cookie in page.context.cookies(b.url)}
    open_chat(page, b.url, chat, 4)
    assert messages(page) == turns("first question on A", "second question on A")
    assert sidebar_titles(page) == ["another chat on A", "first question on A"]
    send(page, "third question on B")
    assert messages(page) == turns(
        "first question on A", "second question on A", "third question on B"
    )
    # B's model call was given the turns stored through A as this chat's history.
    asked = [m["content"] for m in stub.prompts()[-1] if m["role"] == "user"]
    assert asked == ["first question on A", "second question on A", "third question on B"]

    open_chat(page, a.url, chat, 6)
    assert messages(page) == turns(
        "first question on A", "second question on A", "third question on B"
    )
    send(page, "fourth question on A")
    everything = turns(
        "first question on A",
        "second question on A",
        "third question on B",
        "fourth question on A",
    )
    assert messages(page) == everything
    page.reload()
    expect(page.get_by_test_id("stChatMessage")).to_have_count(len(everything))
    settle(page)
    assert messages(page) == everything

    rows = stored_messages(shared_database, "ada")
    assert [row for row in rows if row[0] == chat] == [
        (chat, number // 2 + 1, "human" if number % 2 == 0 else "ai", content, "complete")
        for number, content in enumerate(everything)
    ]
    assert [row for row in rows if row[0] == other_chat] == [
        (other_chat, 1, "human", "another chat on A", "complete"),
        (other_chat, 1, "ai", "Echo: another chat on A", "complete"),
    ]
    assert len(rows) == len(everything) + 2
    assert sorted(
        sql(
            shared_database,
            "SELECT s.session_id, s.message_count, s.last_turn FROM chat_sessions s "
            "JOIN users u ON u.id = s.user_id WHERE u.username = 'ada'",
        )
    ) == sorted([(chat, 8, 4), (other_chat, 2, 1)])


def test_signing_out_on_one_process_makes_the_cookie_useless_on_the_other(
    apps: tuple[RunningApp, RunningApp], browser: Browser, contexts: list[BrowserContext]
) -> None:
    a, b = apps
    laptop = new_page(browser, contexts)
    sign_up(laptop, a.url, "bea")
    send(laptop, "asked before signing out")
    token = sign_in_cookie(laptop)["value"]

    # The same cookie carried to another device, which reaches process B: it is honoured.
    phone = new_page(browser, contexts)
    phone.context.add_cookies([cookie_for(b.url, token)])
    open_app(phone, b.url)
    expect(chat_input(phone)).to_be_visible()
    # No run of the phone's page is still going, so its next run is the click below.
    wait_until_quiet(phone)

    click_and_settle(
        laptop, laptop.get_by_test_id("stSidebar").get_by_role("button", name="Sign out")
    )
    expect_signed_out(laptop)

    # A copy of the cookie brought to B after the sign-out on A signs nobody in.
    thief = new_page(browser, contexts)
    thief.context.add_cookies([cookie_for(b.url, token)])
    open_app(thief, b.url)
    expect_signed_out(thief)
    expect(thief.get_by_text("asked before signing out")).to_have_count(0)

    # The sign-in already open on B ends at its next run.
    click_and_settle(
        phone, phone.get_by_test_id("stSidebar").get_by_role("button", name="New chat")
    )
    expect(phone.get_by_text("You were signed out. Please sign in again.")).to_be_visible()
    expect_signed_out(phone)


def test_five_wrong_passwords_on_one_process_lock_the_username_on_the_other(
    apps: tuple[RunningApp, RunningApp],
    browser: Browser,
    contexts: list[BrowserContext],
    store: ChatStore,
    shared_database: str,
) -> None:
    a, b = apps
    with cheap_hashes():
        account = accounts.create_account(store.engine, username="cyd", password=PASSWORD)
    guesser = new_page(browser, contexts)
    open_app(guesser, a.url)
    for _ in range(5):
        try_sign_in(guesser, "cyd", "wrong password!")
    expect(guesser.get_by_text("Too many failed sign-ins")).to_be_visible()
    assert sql(shared_database, "SELECT count(*) FROM login_failures WHERE username = 'cyd'") == [
        (5,)
    ]

    owner = new_page(browser, contexts)
    open_app(owner, b.url)
    try_sign_in(owner, "cyd", PASSWORD)
    expect(owner.get_by_text("Too many failed sign-ins")).to_be_visible()
    expect(chat_input(owner)).to_have_count(0)

    # It was the lock that refused the right password: lifted, the same sign-in works on B.
    accounts.unlock(store.engine, user_id=account.id)
    try_sign_in(owner, "cyd", PASSWORD)
    expect(chat_input(owner)).to_be_visible()


def test_an_admin_opening_a_history_on_one_process_is_in_the_audit_log_read_through_the_other(
    apps: tuple[RunningApp, RunningApp],
    browser: Browser,
    contexts: list[BrowserContext],
    store: ChatStore,
    admin: accounts.Account,
    shared_database: str,
) -> None:
    a, b = apps
    with cheap_hashes():
        owner = accounts.create_account(store.engine, username="dot", password=PASSWORD)
    turn = store.begin_turn(owner.id, "dots-chat", "a question only dot asked")
    store.finish_turn(turn, "the answer dot got")

    page = new_page(browser, contexts)
    sign_in_with_password(page, a.url, "root")
    go_to(page, "Admin")
    page.get_by_role("tab", name="Stored histories").click()
    owner_box = page.get_by_role("textbox", name="Owner's username")
    owner_box.fill("dot")
    owner_box.press("Enter")
    settle(page)
    page.get_by_role("textbox", name="Reason for opening it").fill("dot asked for help")
    click_and_settle(page, page.get_by_role("button", name="Open read-only"))
    # Shown read-only, only now that the reason is recorded.
    expect(page.get_by_test_id("stText").filter(has_text="the answer dot got")).to_be_visible()

    # The same admin, signed in on B (another device), reads the audit log there.
    page = new_page(browser, contexts)
    sign_in_with_password(page, b.url, "root")
    go_to(page, "Admin")
    page.get_by_role("tab", name="Audit log").click()
    # The app's own download (made by B from the database, served by its route to this
    # browser's sign-in), not the table's toolbar one.
    link = page.get_by_role("link", name="Download as CSV")
    response = page.request.get(b.url + (link.get_attribute("href") or ""))
    assert response.status == 200
    views = [
        row
        for row in csv.DictReader(io.StringIO(response.text()))
        if row["action"] == audit.HISTORY_VIEWED
    ]
    assert [
        (row["actor_id"], row["subject_user_id"], row["session_id"], row["reason"]) for row in views
    ] == [(admin.id, owner.id, "dots-chat", "dot asked for help")]
    assert sql(
        shared_database,
        "SELECT actor_id, subject_user_id, session_id, reason FROM audit_log WHERE action = :a",
        a=audit.HISTORY_VIEWED,
    ) == [(admin.id, owner.id, "dots-chat", "dot asked for help")]

    # The owner, signed in through B, is told an administrator opened one of their chats.
    dot = new_page(browser, contexts)
    sign_in_with_password(dot, b.url, "dot")
    go_to(dot, "My data")
    expect(dot.get_by_role("heading", name="Who opened my chats")).to_be_visible()
    expect(dot.get_by_text("No administrator has opened your chats.")).to_have_count(0)
    # The table is drawn on a canvas; its cells are mirrored in an accessibility table.
    expect(dot.locator("td[role=gridcell]").filter(has_text="dot asked for help")).to_have_count(1)
