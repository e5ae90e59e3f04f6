"""Helpers for tests that run the real app as processes (several at once, killed, restarted)
on a shared database, answered by the stub model as a process of its own, driven in Chromium.

They build on tests/browser/conftest.py (start_app, app_env, the page helpers) and are imported
by tests/faults/test_app_restart.py and tests/security/test_forged_cookies.py too."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import jwt
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tests.browser import conftest as browser_support
from tests.browser.conftest import (
    PROJECT_DIR,
    RunningApp,
    app_env,
    open_app,
    settle,
    start_app,
    visible_form,
    wait_until_healthy,
)
from tests.support.databases import OWNER
from tests.support.postgres import free_port

COOKIE_NAME = "chat_auth"
SECONDS_PER_DAY = 86_400
COOKIE_DAYS = 7  # the app's default AUTH_COOKIE_DAYS


@dataclass
class StubServer:
    """tests/support/openai_stub.py as a process, for app processes to call."""

    url: str
    process: subprocess.Popen

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url.removesuffix("/v1") + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)

    def set_delay(self, seconds: float) -> None:
        """Seconds between the streamed words of every answer from now on."""
        self._post("/_stub/mode", {"mode": "normal", "delay": seconds})

    def prompts(self) -> list[list[dict[str, Any]]]:
        """The messages of every chat request received so far, oldest first."""
        with urllib.request.urlopen(self.url.removesuffix("/v1") + "/_stub/prompts") as response:
            return json.load(response)["prompts"]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def start_stub(log: Path, *, delay: float = 0.02) -> StubServer:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.openai_stub",
            "--port",
            str(port),
            "--delay",
            str(delay),
        ],
        cwd=PROJECT_DIR,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    wait_until_healthy(f"http://127.0.0.1:{port}/v1/models", process, log, 30)
    return StubServer(f"http://127.0.0.1:{port}/v1", process)


@contextmanager
def running_stub(log: Path, *, delay: float = 0.02) -> Iterator[StubServer]:
    stub = start_stub(log, delay=delay)
    try:
        yield stub
    finally:
        stub.stop()


def chat_app_env(
    data_dir: Path, *, model_url: str, cookie_key: str, database_url: str | None = None
) -> dict[str, str]:
    """The environment of an app process answered by the stub at `model_url`."""
    extra = {
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": model_url,
        "CHAT_MODEL": "stub-echo",
        "AUTH_COOKIE_KEY": cookie_key,
    }
    if database_url is not None:
        extra["DATABASE_URL"] = database_url
    data_dir.mkdir(parents=True, exist_ok=True)
    return app_env(data_dir, **extra)


def start_app_process(env: dict[str, str], log: Path, *, port: int | None = None) -> RunningApp:
    """`streamlit run app.py` with `env`; on `port` if given (to restart a killed process where
    the user's browser tab is still pointing), else on a free one."""
    if port is None:
        return start_app(env, log)
    # start_app picks its port with the free_port it imported; hand it this one instead.
    with mock.patch.object(browser_support, "free_port", return_value=port):
        return start_app(env, log)


def warm_up(browser: Browser, app: RunningApp) -> None:
    """Visit a freshly started process once and leave. Its very first page run imports the
    app and loads the cookie manager cold; a late rerun from that can reset the sign-in tabs
    under a test that is already clicking them (seen under load as a sign-up that never finds
    its form)."""
    context = browser.new_context()
    try:
        page = context.new_page()
        open_app(page, app.url)
        username = visible_form(page, "Sign in").get_by_role("textbox", name="Username").first
        expect(username).to_be_visible(timeout=60_000)
        page.wait_for_timeout(1000)
        settle(page)
    finally:
        context.close()


def port_of(app: RunningApp) -> int:
    return int(app.url.rsplit(":", 1)[1])


def kill(app: RunningApp) -> None:
    """SIGKILL: the process gets no chance to clean up, as in a crash or an OOM kill."""
    app.process.send_signal(signal.SIGKILL)
    app.process.wait(timeout=10)


def expect_signed_out(page: Page) -> None:
    """The sign-in form, and still no way in a moment later. The form itself is the sign: a
    cookie that is honoured never draws it (the sign-in tab alone may flash by while a cookie
    sign-in reruns the page)."""
    # While a rerun replaces the page, the old form and the new one can both be on it.
    username = visible_form(page, "Sign in").get_by_role("textbox", name="Username").first
    expect(username).to_be_visible()
    page.wait_for_timeout(1000)
    settle(page)
    expect(username).to_be_visible()
    expect(page.get_by_test_id("stChatInputTextArea")).to_have_count(0)
    expect(page.get_by_test_id("stSidebar")).to_have_count(0)


def session_id_of(page: Page) -> str:
    """The chat open in `page`, from its `?session=` parameter."""
    found = re.search(r"[?&]session=([^&#]+)", page.url)
    assert found, f"no session in {page.url}"
    return found.group(1)


def sign_in_cookie(page: Page) -> dict[str, Any]:
    """The sign-in cookie as the browser holds it."""
    found = [cookie for cookie in page.context.cookies() if cookie["name"] == COOKIE_NAME]
    assert found, "the browser holds no sign-in cookie"
    return found[0]


def cookie_for(url: str, value: str) -> dict[str, str]:
    """A sign-in cookie carrying `value`, for BrowserContext.add_cookies, valid on `url`."""
    return {"name": COOKIE_NAME, "value": value, "url": url}


def mint_cookie(
    username: str, key: str, *, exp_date: float | None = None, algorithm: str = "HS256"
) -> str:
    """A sign-in cookie as streamlit-authenticator 0.4.2 makes one: the JWT
    {"username", "exp_date": POSIX seconds as a float} signed HS256 with `key`. By default it
    expires AUTH_COOKIE_DAYS from now, i.e. it looks issued just now."""
    if exp_date is None:
        exp_date = time.time() + COOKIE_DAYS * SECONDS_PER_DAY
    return jwt.encode({"username": username, "exp_date": exp_date}, key, algorithm=algorithm)


def sql(database_url: str, query: str, **params: Any) -> list[tuple[Any, ...]]:
    """Rows of a raw SQL query, on a connection of its own (no pool kept open); on
    PostgreSQL as the tables' owner, which sees every user's rows past row security."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        url = url.set(username=OWNER)
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(query), params)]
    finally:
        engine.dispose()


def stored_messages(database_url: str, username: str) -> list[tuple[str, int, str, str, str]]:
    """(session_id, turn, role, content, status) of every stored message of `username`, each
    session's in conversation order, read straight from the tables."""
    return sql(
        database_url,
        "SELECT m.session_id, m.turn, m.role, m.content, m.status "
        "FROM chat_messages m JOIN users u ON u.id = m.user_id "
        "WHERE u.username = :username ORDER BY m.session_id, m.turn, m.id",
        username=username,
    )


@contextmanager
def cheap_hashes() -> Iterator[None]:
    """bcrypt at its lowest cost for accounts this test process creates."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PASSWORD_HASH_ROUNDS", "4")
        yield
