"""Forged, stolen and stale sign-in cookies against the running app. The cookie is an opaque
random token whose hash is a row in the database: a token that is not such a row signs nobody
in, whatever it looks like. The old format (streamlit-authenticator's JWT {"username",
"exp_date"}, signed with the cookie key) is refused even when signed with the app's own key;
so are guessed tokens, a disabled user's, an expired one and an ended one, which stays ended
when AUTH_COOKIE_DAYS changes. An app configured with a default or unsafe key refuses to run."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import Engine

import accounts
from database.engine import dispose_engine
from memory import open_store
from settings import MIN_COOKIE_KEY_CHARS
from tests.browser.conftest import PASSWORD, RunningApp, open_app, sign_up
from tests.scale.conftest import (
    StubServer,
    chat_app_env,
    cheap_hashes,
    cookie_for,
    expect_signed_out,
    mint_cookie,
    sign_in_cookie,
    start_app_process,
    warm_up,
)

pytestmark = [
    pytest.mark.browser,
    # Signing with the short published keys is the point here.
    pytest.mark.filterwarnings("ignore:The HMAC key is .* below the minimum"),
]

REFUSAL = "The app is not configured safely, so it will not start"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("app-data")


@pytest.fixture(scope="module")
def engine(data_dir: Path) -> Iterator[Engine]:
    """The app's own database (the embedded SQLite file), opened by this test process."""
    url = f"sqlite:///{data_dir / 'chat.db'}"
    yield open_store(url).engine
    dispose_engine(url)


@pytest.fixture(scope="module")
def victim(engine: Engine) -> accounts.Account:
    """An existing user (the first account, so an administrator: the prize for a forger)."""
    with cheap_hashes():
        return accounts.create_account(engine, username="ursula", password=PASSWORD)


@pytest.fixture(scope="module")
def cookie_key() -> str:
    return secrets.token_urlsafe(48)


@pytest.fixture(scope="module")
def app(
    data_dir: Path, stub: StubServer, cookie_key: str, victim: accounts.Account, browser: Browser
) -> Iterator[RunningApp]:
    env = chat_app_env(data_dir, model_url=stub.url, cookie_key=cookie_key)
    running = start_app_process(env, data_dir / "app.log")
    warm_up(browser, running)
    yield running
    running.stop()


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        context.close()


def visit_with_cookie(
    browser: Browser, contexts: list[BrowserContext], url: str, token: str | None
) -> Page:
    """A fresh browser profile holding only `token` as its sign-in cookie, opened on `url`."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    contexts.append(context)
    if token is not None:
        context.add_cookies([cookie_for(url, token)])
    page = context.new_page()
    page.set_default_timeout(20_000)
    open_app(page, url)
    return page


def expect_signed_in_as(page: Page, username: str) -> None:
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_visible()
    expect(page.get_by_test_id("stSidebar")).to_contain_text(f"Signed in as {username}")


def expect_refused(page: Page, *, again: bool = True) -> None:
    """The sign-in screen and nothing behind it, on this visit and (`again`) on the next."""
    for visit in ("first", "reload") if again else ("first",):
        if visit == "reload":
            # A new browser session presents the cookie again (if still there) from scratch.
            page.reload()
        expect_signed_out(page)


def issue(engine: Engine, username: str, *, lifetime: timedelta = timedelta(days=1)) -> str:
    """A genuine sign-in cookie for `username`, as the handover route hands it out."""
    account = accounts.find_account(engine, username=username)
    assert account is not None
    browser = secrets.token_urlsafe(24)
    _, ticket = accounts.start_sign_in(
        engine, user_id=account.id, device="test", browser=browser, lifetime=lifetime
    )
    assert ticket is not None
    handover = accounts.complete_handover(engine, ticket=ticket, browser=browser)
    assert handover is not None
    return handover.token


def test_a_cookie_the_app_handed_out_signs_its_user_in(
    app: RunningApp, browser: Browser, contexts: list[BrowserContext], engine: Engine
) -> None:
    """The control for the tests below: a token whose hash is a sign-in row is accepted."""
    page = visit_with_cookie(browser, contexts, app.url, issue(engine, "ursula"))
    expect_signed_in_as(page, "ursula")


def test_an_old_format_cookie_is_refused_even_signed_with_the_apps_own_key(
    app: RunningApp, browser: Browser, contexts: list[BrowserContext], cookie_key: str
) -> None:
    page = visit_with_cookie(browser, contexts, app.url, mint_cookie("ursula", cookie_key))
    expect_refused(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(secrets.token_urlsafe(32), id="random-token-of-the-right-shape"),
        pytest.param("A" * 43, id="all-one-letter"),
        pytest.param("not a token at all", id="garbage"),
        pytest.param("x" * 4000, id="huge"),
        pytest.param(
            jwt.encode({"username": "ursula", "exp_date": time.time() + 60}, None, "none"),
            id="unsigned-jwt",
        ),
    ],
)
def test_a_guessed_or_malformed_cookie_is_refused(
    app: RunningApp, browser: Browser, contexts: list[BrowserContext], token: str
) -> None:
    expect_refused(visit_with_cookie(browser, contexts, app.url, token))


def test_an_expired_sign_in_is_refused(
    app: RunningApp, browser: Browser, contexts: list[BrowserContext], engine: Engine
) -> None:
    token = issue(engine, "ursula", lifetime=timedelta(seconds=1))
    time.sleep(1.5)
    expect_refused(visit_with_cookie(browser, contexts, app.url, token))


def test_the_cookie_of_a_disabled_user_is_refused(
    app: RunningApp, browser: Browser, contexts: list[BrowserContext], engine: Engine
) -> None:
    owner = visit_with_cookie(browser, contexts, app.url, None)
    sign_up(owner, app.url, "victor")
    issued = sign_in_cookie(owner)["value"]
    account = accounts.find_account(engine, username="victor")
    assert account is not None

    accounts.set_disabled(engine, user_id=account.id, disabled=True)
    expect_refused(visit_with_cookie(browser, contexts, app.url, issued))

    accounts.set_disabled(engine, user_id=account.id, disabled=False)
    # Re-enabled, a new sign-in works; the one from before the disabling stays ended.
    expect_signed_in_as(
        visit_with_cookie(browser, contexts, app.url, issue(engine, "victor")), "victor"
    )
    expect_refused(visit_with_cookie(browser, contexts, app.url, issued))


def test_a_signed_out_cookie_stays_refused_when_the_sign_in_lifetime_is_lowered(
    stub: StubServer,
    browser: Browser,
    contexts: list[BrowserContext],
    engine: Engine,
    data_dir: Path,
    cookie_key: str,
) -> None:
    """Earlier, a cookie's issue time was worked out from its expiry minus AUTH_COOKIE_DAYS: a
    cookie signed out 31 s after it was issued opened the app again once the setting went from
    7 to 6.999. A sign-in now is a row, and signing out deletes it."""
    token = issue(engine, "ursula")
    found = accounts.find_sign_in(engine, token=token)
    assert found is not None
    account, sign_in = found
    assert accounts.end_sign_in(engine, user_id=account.id, sign_in_id=sign_in.id)
    for days in ("6.999", "30"):
        env = chat_app_env(data_dir, model_url=stub.url, cookie_key=cookie_key)
        env["AUTH_COOKIE_DAYS"] = days
        running = start_app_process(env, data_dir / f"app-{days}.log")
        try:
            expect_refused(visit_with_cookie(browser, contexts, running.url, token), again=False)
        finally:
            running.stop()


@pytest.mark.parametrize(
    "unsafe",
    [
        pytest.param({"AUTH_COOKIE_KEY": "some_signature_key"}, id="published-default-key"),
        pytest.param({"AUTH_COOKIE_KEY": "x" * (MIN_COOKIE_KEY_CHARS - 1)}, id="short-key"),
        pytest.param({"DATABASE_URL": "shared"}, id="shared-database-without-a-key"),
    ],
)
def test_an_app_configured_with_an_unsafe_cookie_key_refuses_to_run(
    unsafe: dict[str, str],
    stub: StubServer,
    browser: Browser,
    contexts: list[BrowserContext],
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    database_url = f"sqlite:///{data_dir / 'chat.db'}"
    with cheap_hashes():
        accounts.create_account(
            open_store(database_url).engine, username="ursula", password=PASSWORD
        )
    dispose_engine(database_url)
    env = chat_app_env(data_dir, model_url=stub.url, cookie_key=unsafe.get("AUTH_COOKIE_KEY", ""))
    if "DATABASE_URL" in unsafe:
        env["DATABASE_URL"] = database_url
    running = start_app_process(env, data_dir / "app.log")
    try:
        # Even holding a cookie that such an app would have signed itself, nobody gets in.
        key = unsafe.get("AUTH_COOKIE_KEY", "some_signature_key")
        page = visit_with_cookie(browser, contexts, running.url, mint_cookie("ursula", key))
        expect(page.get_by_text(REFUSAL)).to_be_visible()
        expect(page.get_by_test_id("stException")).to_have_count(0)
        expect(page.get_by_role("tab", name="Sign in")).to_have_count(0)
        expect(page.get_by_test_id("stChatInputTextArea")).to_have_count(0)
        assert "refusing to start" in running.log.read_text()
    finally:
        running.stop()
