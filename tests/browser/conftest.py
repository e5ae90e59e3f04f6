"""Browser fixtures: the real app (streamlit run app.py) in a subprocess, answered by the
deterministic OpenAI-compatible stub or the real local model, driven by Debian's Chromium
through Playwright. Screenshots go to test-output/screenshots for review."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.support.postgres import free_port

PROJECT_DIR = Path(__file__).resolve().parents[2]
SCREENSHOTS = PROJECT_DIR / "test-output" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
PASSWORD = "correct horse battery"


def wait_until_healthy(url: str, process: subprocess.Popen, log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not healthy after {seconds}s:\n{log.read_text()[-3000:]}")


@dataclass
class RunningApp:
    url: str
    env: dict[str, str]
    process: subprocess.Popen
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_app(
    env: dict[str, str], log: Path, *, health_seconds: float = 90, port: int | None = None
) -> RunningApp:
    """`streamlit run server.py` with `env` on `port` (a free one unless told), once it answers
    its health check."""
    port = port or free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "server.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--server.fileWatcherType",
            "none",
        ],
        cwd=PROJECT_DIR,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_healthy(f"{url}/_stcore/health", process, log, health_seconds)
    return RunningApp(url, env, process, log)


def app_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            (
                "OPENAI_",
                "DATABASE_",
                "AUTH_",
                "CHAT_",
                "LOCAL_MODEL",
                "FORWARDED_",
                "CONTENT_SECURITY",
                "FRAME_ANCESTORS",
                "ALLOWED_ORIGINS",
                "OIDC_",
            )
        )
    }
    env.update(
        DATA_DIR=str(data_dir),
        # No proxy in front: a client's own X-Forwarded-For must not change its address.
        FORWARDED_ALLOW_IPS="",
        PASSWORD_HASH_ROUNDS="4",
        SECRETS_FILE=str(data_dir / "no-secrets.toml"),
        PYTHONUNBUFFERED="1",
        # Titles stay the first words unless a test asks for the model's: one written a moment
        # after an answer would race every test that reads a title.
        MODEL_TITLES="off",
    )
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def model_stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The deterministic OpenAI-compatible stub as a process: its base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("stub") / "stub.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.openai_stub", "--port", str(port), "--delay", "0.02"],
        cwd=PROJECT_DIR,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    wait_until_healthy(f"http://127.0.0.1:{port}/v1/models", process, log, 30)
    yield f"http://127.0.0.1:{port}/v1"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="session")
def cookie_key() -> str:
    return secrets.token_urlsafe(48)


@contextmanager
def stub_app(
    data_dir: Path, model_stub: str, cookie_key: str, *, port: int | None = None, **settings: str
) -> Iterator[RunningApp]:
    """The app on a fresh SQLite database in `data_dir`, answered by the stub, with `settings`
    added to its environment; stopped afterwards."""
    env = app_env(
        data_dir,
        OPENAI_API_KEY="test-key",
        OPENAI_BASE_URL=model_stub,
        CHAT_MODEL="stub-echo",
        AUTH_COOKIE_KEY=cookie_key,
        **settings,
    )
    running = start_app(env, data_dir / "app.log", port=port)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def app(
    tmp_path_factory: pytest.TempPathFactory, model_stub: str, cookie_key: str
) -> Iterator[RunningApp]:
    """The app on a fresh SQLite database, answered by the stub."""
    with stub_app(tmp_path_factory.mktemp("app-data"), model_stub, cookie_key) as running:
        yield running


QUICK = 0.02  # seconds between streamed words, as `model_stub` starts the stub


def stub_control(base_url: str, name: str, body: dict[str, Any] | None = None) -> Any:
    """GET (or, with a body, POST) one of the stub's /_stub/ endpoints."""
    url = base_url.removesuffix("/v1") + f"/_stub/{name}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@contextmanager
def paced(stub: str, seconds_between_words: float) -> Iterator[None]:
    stub_control(stub, "mode", {"delay": seconds_between_words})
    try:
        yield
    finally:
        stub_control(stub, "mode", {"delay": QUICK})


def settle(page: Page) -> None:
    """Wait until the app is connected and no script run is in progress."""
    page.wait_for_selector(".stApp[data-test-connection-state=CONNECTED]", timeout=30_000)
    page.wait_for_selector(".stApp[data-test-script-state=notRunning]", timeout=30_000)
    # Elements of the previous run linger, marked stale, until the new run replaces them.
    # Predicates are functions, never expressions: Playwright evaluates an expression with
    # eval, which the app's CSP refuses.
    page.wait_for_function("() => !document.querySelector('[data-stale=true]')", timeout=30_000)


# Counts the script runs this page has seen start and finish. A click's run starts only once
# the server has the click, so right after a click the page still reads "not running": the
# counts tell the click's run from the quiet before it. A click that lands during a run (one a
# component's reply started) restarts that run without a new start, so its end counts too.
RUN_COUNTS_JS = """() => {
  const state = () => {
    const app = document.querySelector('.stApp');
    return app ? app.dataset.testScriptState : 'gone';
  };
  if (window.__runs === undefined) {
    window.__runs = {started: 0, finished: 0, changes: 0, changedAt: performance.now()};
    let last = state();
    // The whole body is watched: after a reconnect the app's root element may be a new one.
    new MutationObserver(() => {
      const now = state();
      if (now === last) return;
      window.__runs.changes++;
      window.__runs.changedAt = performance.now();
      if (now === 'running') window.__runs.started++;
      if (last === 'running') window.__runs.finished++;
      last = now;
    }).observe(document.body, {
      subtree: true, childList: true, attributes: true,
      attributeFilter: ['data-test-script-state'],
    });
  }
  return {...window.__runs, running: state() === 'running'};
}"""


def click_and_settle(page: Page, target: Locator) -> None:
    """Click something that makes the app run again, and wait until that run is over."""
    act_and_settle(page, target.click)


def act_and_settle(page: Page, action: Callable[[], object], timeout_ms: int = 10_000) -> None:
    """Do something in the page that makes the app run again (a click, Enter in the chat box),
    and wait until that run is over."""
    before = page.evaluate(RUN_COUNTS_JS)
    action()
    # No counts any more: the action navigated (a sign-in goes through the handover route and
    # comes back as a new page), which is as good as a run for what follows.
    condition = f"!window.__runs || window.__runs.started > {before['started']}"
    if before["running"]:
        condition += f" || window.__runs.finished > {before['finished']}"
    # A quick run can come and go within one frame, never showing as "running" (the frontend
    # batches its messages under load): then this waits its full time, and what the test
    # expects next decides.
    with contextlib.suppress(PlaywrightTimeoutError):
        page.wait_for_function(f"() => {condition}", timeout=timeout_ms)
    settle(page)


def wait_until_quiet(page: Page, seconds: float = 2.0) -> None:
    """Wait until no script run has started or ended for `seconds`. Just after the sign-in page
    opens, its cookie manager component reruns it once; a test that needs the next run to be
    its own (choosing a tab, a Stop, a sign-out elsewhere) waits for such runs first."""
    page.evaluate(RUN_COUNTS_JS)
    page.wait_for_function(
        f"() => performance.now() - window.__runs.changedAt > {seconds * 1000}", timeout=30_000
    )
    settle(page)


def open_app(page: Page, url: str) -> None:
    page.goto(url)
    settle(page)


def visible_form(page: Page, name: str):
    return page.get_by_test_id("stForm").filter(has_text=name).filter(visible=True)


def sign_up(page: Page, url: str, username: str, password: str = PASSWORD) -> None:
    """Create an account from the sign-in page; back once its chat shows and its cookie is set."""
    submit_sign_up(page, url, username, password)
    wait_for_cookie(page)


def submit_sign_up(page: Page, url: str, username: str, password: str = PASSWORD) -> None:
    """Create an account; back as soon as the chat box shows."""
    open_app(page, url)
    # The sign-in page's cookie manager reruns it once after it loads; a tab chosen before
    # that rerun can be reset by it.
    wait_until_quiet(page, 1.0)
    page.get_by_role("tab", name="Create account").click()
    form = visible_form(page, "Create account")
    form.get_by_role("textbox", name="Username").fill(username)
    form.get_by_role("textbox", name="New password").fill(password)
    form.get_by_role("textbox", name="Repeat the password").fill(password)
    form.get_by_role("button", name="Create account").click()
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_visible(timeout=30_000)


def has_cookie(page: Page, name: str = "chat_auth") -> bool:
    return any(cookie["name"] == name for cookie in page.context.cookies())


def wait_for_cookie(
    page: Page, name: str = "chat_auth", *, present: bool = True, seconds: float = 15
) -> None:
    """Wait until the sign-in cookie is in the browser (set by a script the first signed-in
    run draws), or with `present=False` until it is gone."""
    deadline = time.monotonic() + seconds
    while has_cookie(page, name) != present:
        if time.monotonic() > deadline:
            raise AssertionError(f"cookie {name} was never {'set' if present else 'deleted'}")
        page.wait_for_timeout(100)
    settle(page)


def sign_in(page: Page, url: str, username: str, password: str = PASSWORD) -> None:
    open_app(page, url)
    wait_until_quiet(page, 1.0)
    try_sign_in(page, username, password)
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_visible(timeout=30_000)
    wait_for_cookie(page)


def try_sign_in(page: Page, username: str, password: str) -> None:
    form = visible_form(page, "Sign in")
    form.get_by_role("textbox", name="Username").fill(username)
    form.get_by_role("textbox", name="Password", exact=True).fill(password)
    click_and_settle(page, form.get_by_role("button", name="Sign in"))


def send(page: Page, text: str) -> None:
    """Type a message, press Enter, wait for the answer to finish and the page to settle."""
    before = page.get_by_test_id("stChatMessage").count()
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(text)
    box.press("Enter")
    expect(page.get_by_test_id("stChatMessage")).to_have_count(before + 2, timeout=60_000)
    # The answered page is redrawn once more from the database: Retry appears, Stop goes.
    expect(page.get_by_role("button", name="Stop")).to_have_count(0, timeout=60_000)
    expect(page.get_by_role("button", name="Retry")).to_be_visible(timeout=60_000)
    settle(page)


def sidebar_chats(page: Page) -> Locator:
    """The chats listed in the sidebar, in order (the open one a primary button, the rest
    tertiary); the sidebar's other buttons are not in the list."""
    chat_list = page.get_by_test_id("stSidebar").locator(".st-key-chat-list")
    return chat_list.get_by_test_id(re.compile(r"stBaseButton-(primary|tertiary)"))


def messages(page: Page) -> list[str]:
    """The text of each chat message on the page, oldest first (avatars left out)."""
    contents = page.get_by_test_id("stChatMessageContent")
    return [text.strip() for text in contents.all_inner_texts()]


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# Long chats, seeded straight into the app's database ------------------------------------------


def app_database_url(app: RunningApp) -> str:
    """The app's own SQLite file (which the app has migrated)."""
    return f"sqlite:///{app.env['DATA_DIR']}/chat.db"


# The test process's own engines on the apps' database files, closed after each module.
_opened_urls: set[str] = set()


@pytest.fixture(scope="module", autouse=True)
def _app_engines_closed() -> Iterator[None]:
    yield
    from database.engine import dispose_engine

    for url in _opened_urls:
        dispose_engine(url)
    _opened_urls.clear()


def store_of(app: RunningApp) -> Any:
    """A ChatStore on the app's own database file, capped as the app caps it."""
    from database import get_engine
    from memory import ChatStore

    url = app_database_url(app)
    _opened_urls.add(url)
    cap = app.env.get("MAX_MESSAGES_PER_CHAT")
    return ChatStore(get_engine(url), max_messages_per_chat=int(cap) if cap else None)


def user_id_of(app: RunningApp, username: str) -> str:
    from accounts import find_account

    account = find_account(store_of(app).engine, username=username)
    assert account is not None
    return account.id


def seeded_text(number: int) -> str:
    """The content of a seeded chat's message `number` (from 0): even numbers are questions,
    odd ones their answers. About 17 tokens each, so 2,000 of them overflow a 16k window."""
    kind = "question" if number % 2 == 0 else "answer"
    return f"Seeded {kind} {number:06d} of a long chat, about nothing much"


def seeded_pairs(start: int, stop: int) -> list[tuple[str, str]]:
    """(role, content) of seeded messages start..stop-1, as ChatStore.append_messages takes."""
    return [("human" if n % 2 == 0 else "ai", seeded_text(n)) for n in range(start, stop)]


def seed_chat(store: Any, user_id: str, session_id: str, count: int, batch: int = 500) -> None:
    """Give the user a chat of `count` seeded messages through ChatStore.append_messages, in
    batches (each one transaction), as an import would."""
    for start in range(0, count, batch):
        store.append_messages(user_id, session_id, seeded_pairs(start, min(count, start + batch)))


def bulk_seed_chat(engine: Any, user_id: str, session_id: str, count: int) -> None:
    """A chat of `count` seeded messages written with SQLAlchemy core in the shape the store
    writes (session row with its count and last turn, messages by turn, search index entries),
    past the store's MAX_MESSAGES_PER_CHAT: a chat from before the cap."""
    from database import utcnow, write_transaction
    from memory.models import ChatMessage, ChatSession
    from memory.search import index_messages
    from memory.store import COMPLETE, DEFAULT_ABILITY

    messages_table, sessions_table = ChatMessage.__table__, ChatSession.__table__
    now = utcnow()
    with write_transaction(engine) as conn:
        conn.execute(
            sessions_table.insert().values(
                user_id=user_id,
                session_id=session_id,
                title=seeded_text(0),  # under 60 characters: the store's title as is
                ability=DEFAULT_ABILITY,
                created_at=now,
                updated_at=now,
                message_count=count,
                last_turn=(count + 1) // 2,
            )
        )
    for start in range(0, count, 5_000):
        pairs = seeded_pairs(start, min(count, start + 5_000))
        rows = [
            {
                "user_id": user_id,
                "session_id": session_id,
                "turn": n // 2 + 1,  # a question opens a turn, its answer joins it
                "role": role,
                "content": content,
                "status": COMPLETE,
                "created_at": now,
            }
            for n, (role, content) in enumerate(pairs, start)
        ]
        with write_transaction(engine) as conn:
            ids = conn.execute(
                messages_table.insert().returning(
                    messages_table.c.id, sort_by_parameter_order=True
                ),
                rows,
            ).scalars()
            index_messages(
                conn, [(i, user_id, row["content"]) for i, row in zip(ids, rows, strict=True)]
            )


# Records every CSP violation the page sees, from its very first script.
WATCH_CSP_JS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation',
  e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
"""


class CspWatch:
    """A page whose CSP violations are recorded, from the securitypolicyviolation events and
    from the console (where Chromium also reports what the policy refused)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console: list[str] = []
        page.add_init_script(WATCH_CSP_JS)
        page.on("console", self._on_console)

    def _on_console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            self.console.append(message.text)

    def violations(self) -> list[str]:
        return self.page.evaluate("() => window.__violations || []") + self.console
