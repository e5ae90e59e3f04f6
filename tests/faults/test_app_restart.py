"""The app process is killed while an answer streams, or PostgreSQL restarts under the running
app: the user's question is kept exactly once, the chat comes back, Retry answers it once, the
outage is explained in words, and the app recovers by itself. Recovery times are printed
(pytest -s shows them)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from database.engine import dispose_engine
from memory import open_store
from memory.store import COMPLETE, INTERRUPTED
from tests.browser.conftest import (
    RunningApp,
    act_and_settle,
    click_and_settle,
    messages,
    screenshot,
    send,
    settle,
    sign_up,
    wait_until_quiet,
)
from tests.scale.conftest import (
    StubServer,
    chat_app_env,
    kill,
    port_of,
    session_id_of,
    start_app_process,
    stored_messages,
    warm_up,
)
from tests.support.postgres import PostgresCluster

pytestmark = pytest.mark.browser

# Answered word by word SLOW_DELAY apart: about six seconds in which to kill the app.
LONG_QUESTION = "please explain in some detail how a process differs from a thread"
SLOW_DELAY = 0.5
FAST_DELAY = 0.02


@pytest.fixture(autouse=True)
def fast_answers(stub: StubServer) -> Iterator[None]:
    stub.set_delay(FAST_DELAY)
    yield
    stub.set_delay(FAST_DELAY)


@pytest.fixture
def own_cluster() -> Iterator[PostgresCluster]:
    """A cluster of this test's own, since the test restarts it."""
    cluster = PostgresCluster().start()
    yield cluster
    cluster.destroy()


@pytest.fixture
def processes() -> Iterator[list[RunningApp]]:
    """App processes a test starts; stopped (if still alive) afterwards."""
    started: list[RunningApp] = []
    yield started
    for app in started:
        if app.process.poll() is None:
            app.stop()


def app_on(database_url: str, stub: StubServer, data_dir: Path) -> dict[str, str]:
    """The environment of an app process on `database_url`, migrated here beforehand so that
    the app's first page run (timed by the sign-up helper) does not include the migrations."""
    open_store(database_url)
    dispose_engine(database_url)
    return chat_app_env(
        data_dir,
        model_url=stub.url,
        cookie_key=secrets.token_urlsafe(48),
        database_url=database_url,
    )


def turns(*questions: str) -> list[str]:
    return [text for question in questions for text in (question, f"Echo: {question}")]


def test_killing_the_app_mid_answer_keeps_the_question_once_and_retry_answers_it_once(
    postgres_cluster: PostgresCluster,
    stub: StubServer,
    browser: Browser,
    page: Page,
    processes: list[RunningApp],
    tmp_path: Path,
) -> None:
    database_url = postgres_cluster.create_app_database()
    env = app_on(database_url, stub, tmp_path / "data")
    app = start_app_process(env, tmp_path / "app.log")
    processes.append(app)
    warm_up(browser, app)
    sign_up(page, app.url, "kim")
    send(page, "warm up question")
    chat = session_id_of(page)

    stub.set_delay(SLOW_DELAY)
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(LONG_QUESTION)
    box.press("Enter")
    # Part of the answer is on the screen, most of it still to come.
    expect(page.get_by_test_id("stChatMessageContent").nth(3)).to_contain_text(
        "Echo: please explain", timeout=30_000
    )
    killed = time.perf_counter()
    kill(app)

    rows = stored_messages(database_url, "kim")
    assert [row for row in rows if row[3] == LONG_QUESTION] == [
        (chat, 2, "human", LONG_QUESTION, COMPLETE)
    ]
    partial = [row for row in rows if row[1] == 2 and row[2] == "ai"]
    full_answer = f"Echo: {LONG_QUESTION}"
    # Whatever part of the answer reached the database is kept, marked interrupted.
    assert all(
        status == INTERRUPTED and full_answer.startswith(content) and content != full_answer
        for _, _, _, content, status in partial
    ), partial
    assert len(partial) <= 1

    stub.set_delay(FAST_DELAY)
    restarted = start_app_process(env, tmp_path / "app-restarted.log", port=port_of(app))
    processes.append(restarted)
    healthy = time.perf_counter()
    # The user reloads the tab: the cookie signs them back in, on the same chat.
    page.reload()
    if partial:
        expect(page.get_by_text("This answer was interrupted.")).to_be_visible(timeout=60_000)
    else:
        expect(page.get_by_text("This message has no answer yet")).to_be_visible(timeout=60_000)
    back = time.perf_counter()
    settle(page)
    assert session_id_of(page) == chat
    assert messages(page)[:3] == ["warm up question", "Echo: warm up question", LONG_QUESTION]
    screenshot(page, "faults-01-after-app-kill")

    page.get_by_role("button", name="Retry").click()
    expect(page.get_by_test_id("stChatMessageContent").nth(3)).to_have_text(full_answer)
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)
    settle(page)
    assert messages(page) == turns("warm up question", LONG_QUESTION)
    assert stored_messages(database_url, "kim") == [
        (chat, 1, "human", "warm up question", COMPLETE),
        (chat, 1, "ai", "Echo: warm up question", COMPLETE),
        (chat, 2, "human", LONG_QUESTION, COMPLETE),
        (chat, 2, "ai", full_answer, COMPLETE),
    ]
    # The retried request carried the question once, after the earlier turn.
    asked = [m["content"] for m in stub.prompts()[-1] if m["role"] == "user"]
    assert asked == ["warm up question", LONG_QUESTION]
    print(
        f"\napp SIGKILLed mid-answer ({len(partial)} partial answer row kept): restarted process "
        f"healthy {healthy - killed:.2f}s after the kill; the open tab showed the chat again "
        f"{back - killed:.2f}s after the kill ({back - healthy:.2f}s after the restart)"
    )


@pytest.fixture
def restarted_tab(
    postgres_cluster: PostgresCluster,
    stub: StubServer,
    browser: Browser,
    page: Page,
    processes: list[RunningApp],
    tmp_path: Path,
) -> Page:
    """`page` after max signed up and chatted, and the app was SIGKILLed and started again on
    the same port while the tab stayed open, once the tab has reconnected."""
    env = app_on(postgres_cluster.create_app_database(), stub, tmp_path / "data")
    app = start_app_process(env, tmp_path / "app.log")
    processes.append(app)
    warm_up(browser, app)
    sign_up(page, app.url, "max")
    send(page, "asked before the crash")
    kill(app)
    page.wait_for_selector(".stApp:not([data-test-connection-state=CONNECTED])")
    processes.append(start_app_process(env, tmp_path / "app-restarted.log", port=port_of(app)))
    # Streamlit's frontend reconnects by itself; an idle page is not rerun (by Streamlit's
    # design), so the chat stays on screen until the user's next action.
    settle(page)
    expect(page.get_by_test_id("stChatMessageContent").first).to_have_text("asked before the crash")
    return page


def expect_the_apps_own_navigation(page: Page) -> None:
    """app.py's navigation (max, the first account, is the administrator), not Streamlit's
    listing of pages/ with app.py in it."""
    links = page.get_by_test_id("stSidebarNav").get_by_role("link")
    expect(links).to_have_count(4)
    expect(links).to_contain_text(["Chat", "My data", "Account", "Admin"])


def test_a_tab_left_open_keeps_its_chat_and_a_reload_goes_on_with_the_restarted_app(
    restarted_tab: Page,
) -> None:
    page = restarted_tab
    page.reload()
    settle(page)
    expect(page.get_by_test_id("stChatMessageContent").first).to_have_text("asked before the crash")
    send(page, "asked after the restart")
    assert messages(page) == turns("asked before the crash", "asked after the restart")
    screenshot(page, "faults-02-open-tab-after-restart")


def test_a_question_sent_first_thing_after_an_app_restart_is_answered(restarted_tab: Page) -> None:
    page = restarted_tab
    send(page, "asked after the restart")
    assert messages(page) == turns("asked before the crash", "asked after the restart")
    # The run after the answer went through app.py.
    expect_the_apps_own_navigation(page)
    screenshot(page, "faults-02b-question-first-after-restart")


# Every address the page's scripts give the tab from now on (Streamlit sets the page's URL with
# history.replaceState / pushState when its navigation changes).
RECORD_ADDRESSES_JS = """() => {
  window.__addresses = [];
  for (const name of ['pushState', 'replaceState']) {
    const original = history[name].bind(history);
    history[name] = (state, title, url) => {
      if (url !== undefined && url !== null) {
        window.__addresses.push(new URL(url, location.href).pathname);
      }
      return original(state, title, url);
    };
  }
}"""


def test_the_first_run_after_an_app_restart_keeps_the_tab_on_the_apps_own_address(
    restarted_tab: Page,
) -> None:
    """The restarted process's first run is app.py's, not Streamlit's listing of pages/: that
    listing once moved the tab to /chat, and a reload of /chat said "Page not found"."""
    page = restarted_tab
    page.evaluate(RECORD_ADDRESSES_JS)
    send(page, "asked after the restart")
    assert messages(page) == turns("asked before the crash", "asked after the restart")
    addresses = page.evaluate("() => window.__addresses")
    assert set(addresses) <= {"/"}, addresses
    page.reload()
    settle(page)
    expect(page.get_by_test_id("stChatMessageContent").first).to_have_text("asked before the crash")
    expect(page.get_by_text("Page not found")).to_have_count(0)
    assert urlsplit(page.url).path == "/"


def test_the_first_click_after_an_app_restart_opens_the_page_with_the_apps_own_sidebar(
    restarted_tab: Page,
) -> None:
    """That click's run is the page alone (no answer follows to redraw the page), so the page
    itself must have had app.py's navigation and account menu drawn."""
    page = restarted_tab
    sidebar = page.get_by_test_id("stSidebar")
    click_and_settle(page, sidebar.get_by_role("link", name="My data"))

    expect(page.get_by_role("heading", name="My data")).to_be_visible()
    expect_the_apps_own_navigation(page)
    expect(sidebar.get_by_text("Signed in as")).to_be_visible()
    expect(sidebar.get_by_role("button", name="Sign out")).to_be_visible()
    screenshot(page, "faults-02c-first-click-after-restart")


def signed_up_app_on_own_cluster(
    cluster: PostgresCluster,
    stub: StubServer,
    browser: Browser,
    page: Page,
    processes: list[RunningApp],
    data_dir: Path,
    username: str,
) -> str:
    """Start the app on a fresh database of `cluster`, sign `username` up and ask one question;
    return the database URL."""
    database_url = cluster.create_app_database()
    app = start_app_process(app_on(database_url, stub, data_dir), data_dir / "app.log")
    processes.append(app)
    warm_up(browser, app)
    sign_up(page, app.url, username)
    send(page, "asked before the outage")
    # No run of the page is still going or about to: the next is the one the test causes.
    wait_until_quiet(page)
    return database_url


def submit(page: Page, text: str) -> None:
    """Send a message and wait for the page run it causes to end, however it ends."""
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(text)
    act_and_settle(page, lambda: box.press("Enter"))


def expect_database_down_explained(page: Page) -> None:
    expect(page.get_by_text("The database is not reachable right now")).to_be_visible()
    settle(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_a_page_run_while_postgres_is_down_shows_a_clear_message_not_a_traceback(
    own_cluster: PostgresCluster,
    stub: StubServer,
    browser: Browser,
    page: Page,
    processes: list[RunningApp],
    tmp_path: Path,
) -> None:
    signed_up_app_on_own_cluster(
        own_cluster, stub, browser, page, processes, tmp_path / "data", "lea"
    )
    own_cluster.stop()
    # A run of the open session (the user sends a message) ...
    submit(page, "asked during the outage")
    screenshot(page, "faults-03-postgres-down")
    expect_database_down_explained(page)
    # ... and a new session (a reload: the cookie must be checked against the database).
    page.reload()
    expect_database_down_explained(page)
    screenshot(page, "faults-04-postgres-down-reload")


def test_a_question_sent_while_postgres_is_down_is_given_back_to_send_again(
    own_cluster: PostgresCluster,
    stub: StubServer,
    browser: Browser,
    page: Page,
    processes: list[RunningApp],
    tmp_path: Path,
) -> None:
    signed_up_app_on_own_cluster(
        own_cluster, stub, browser, page, processes, tmp_path / "data", "liz"
    )
    own_cluster.stop()
    submit(page, "a question typed during the outage")
    expect_database_down_explained(page)
    expect(page.get_by_text("a question typed during the outage")).to_be_visible()


def test_after_a_postgres_restart_the_running_app_works_again_and_keeps_every_message(
    own_cluster: PostgresCluster,
    stub: StubServer,
    browser: Browser,
    page: Page,
    processes: list[RunningApp],
    tmp_path: Path,
) -> None:
    database_url = signed_up_app_on_own_cluster(
        own_cluster, stub, browser, page, processes, tmp_path / "data", "lee"
    )
    chat = session_id_of(page)
    down = time.perf_counter()
    own_cluster.stop()
    submit(page, "asked during the outage")  # a page run during the outage
    own_cluster.start()
    up = time.perf_counter()

    # The same app process, not restarted: the next page run works and shows the history.
    page.reload()
    expect(page.get_by_test_id("stChatMessageContent").first).to_have_text(
        "asked before the outage", timeout=60_000
    )
    settle(page)
    recovered = time.perf_counter()
    assert session_id_of(page) == chat
    send(page, "asked after the outage")
    shown = messages(page)
    stored = [row[3] for row in stored_messages(database_url, "lee")]
    assert stored == shown
    # Nothing stored before the outage is lost, nothing is doubled; the message sent while the
    # database was down could not be stored, and is not half-stored either.
    assert stored == turns("asked before the outage", "asked after the outage")
    print(
        f"\npostgres down for {up - down:.2f}s; the running app served the chat again "
        f"{recovered - up:.2f}s after postgres was back, without an app restart"
    )
