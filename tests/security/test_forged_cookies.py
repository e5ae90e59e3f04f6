"""Forged sign-in cookies against the running app. streamlit-authenticator 0.4.2's cookie is a
JWT {"username", "exp_date": POSIX seconds} signed HS256 with the cookie key, so whoever knows
the key can mint one for any user: one signed with a published default key, one for a disabled
user and one that claims to last for years all meet the sign-in screen, and an app configured
with a default or unsafe key refuses to run at all."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import Engine

import accounts
from database.engine import dispose_engine
from memory import open_store
from settings import KNOWN_DEFAULT_COOKIE_KEYS, MIN_COOKIE_KEY_CHARS
from tests.browser.conftest import PASSWORD, RunningApp, open_app, sign_up
from tests.scale.conftest import (
    SECONDS_PER_DAY,
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


def test_a_cookie_minted_with_the_apps_own_key_signs_its_user_in(
    app: RunningApp, browser: Browser, contexts: list[BrowserContext], cookie_key: str
) -> None:
    """The control for the tests below: a cookie made this way is what the app accepts."""
    page = visit_with_cookie(browser, contexts, app.url, mint_cookie("ursula", cookie_key))
    expect_signed_in_as(page, "ursula")


@pytest.mark.parametrize("default_key", sorted(KNOWN_DEFAULT_COOKIE_KEYS))
def test_a_cookie_signed_with_a_published_default_key_is_refused(
    app: RunningApp, browser: Browser, contexts: list[BrowserContext], default_key: str
) -> None:
    page = visit_with_cookie(browser, contexts, app.url, mint_cookie("ursula", default_key))
    expect_refused(page, again=False)  # the same path as any other bad signature, below


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(
            lambda key: jwt.encode(
                {"username": "ursula", "exp_date": time.time() + SECONDS_PER_DAY},
                None,
                algorithm="none",
            ),
            id="unsigned-alg-none",
        ),
        pytest.param(
            lambda key: mint_cookie("ursula", key, algorithm="HS512"), id="hs512-with-the-key"
        ),
        pytest.param(
            lambda key: jwt.encode(
                {"username": "ursula", "exp_date": "2999-01-01"}, key, algorithm="HS256"
            ),
            id="exp-date-not-a-number",
        ),
        pytest.param(
            lambda key: jwt.encode({"exp_date": time.time() + 60}, key, algorithm="HS256"),
            id="no-username",
        ),
        pytest.param(lambda key: "not-a-jwt-at-all", id="garbage"),
    ],
)
def test_a_malformed_or_wrongly_signed_cookie_is_refused(
    app: RunningApp, browser: Browser, contexts: list[BrowserContext], cookie_key: str, make_token
) -> None:
    page = visit_with_cookie(browser, contexts, app.url, make_token(cookie_key))
    expect_refused(page)


def test_a_cookie_claiming_a_far_future_expiry_is_refused(
    app: RunningApp, browser: Browser, contexts: list[BrowserContext], cookie_key: str
) -> None:
    # Genuinely signed, but no cookie this app issues lasts ten years.
    token = mint_cookie("ursula", cookie_key, exp_date=time.time() + 3650 * SECONDS_PER_DAY)
    expect_refused(visit_with_cookie(browser, contexts, app.url, token))


def test_an_expired_cookie_is_refused(
    app: RunningApp, browser: Browser, contexts: list[BrowserContext], cookie_key: str
) -> None:
    token = mint_cookie("ursula", cookie_key, exp_date=time.time() - 60)
    expect_refused(visit_with_cookie(browser, contexts, app.url, token))


def test_the_cookie_of_a_disabled_user_is_refused(
    app: RunningApp,
    browser: Browser,
    contexts: list[BrowserContext],
    engine: Engine,
    cookie_key: str,
) -> None:
    owner = visit_with_cookie(browser, contexts, app.url, None)
    sign_up(owner, app.url, "victor")
    issued = sign_in_cookie(owner)["value"]
    account = accounts.find_account(engine, username="victor")
    assert account is not None

    accounts.set_disabled(engine, user_id=account.id, disabled=True)
    expect_refused(visit_with_cookie(browser, contexts, app.url, issued))
    # Minted after the disabling, so not merely revoked by it: refused for being disabled.
    fresh = mint_cookie("victor", cookie_key)
    expect_refused(visit_with_cookie(browser, contexts, app.url, fresh))

    accounts.set_disabled(engine, user_id=account.id, disabled=False)
    # Re-enabled, a cookie issued since works; the one issued before the disabling stays void.
    expect_signed_in_as(
        visit_with_cookie(browser, contexts, app.url, mint_cookie("victor", cookie_key)), "victor"
    )
    expect_refused(visit_with_cookie(browser, contexts, app.url, issued))


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
