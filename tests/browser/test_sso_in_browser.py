"""Single sign-on in Chromium against a real OpenID provider (node's oidc-provider, started on a
loopback port): the good path signs in with the same server-side sign-in as a password, and
each bad answer shows its one sentence with nothing stored."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func, select, update

import accounts
import audit
import sso
from accounts.models import SignInRecord, User
from sso.models import Identity, PendingLogin
from tests.browser.conftest import (
    RunningApp,
    click_and_settle,
    has_cookie,
    open_app,
    screenshot,
    settle,
    sign_up,
    store_of,
    stub_app,
    wait_for_cookie,
    wait_until_quiet,
)
from tests.support.oidc_provider import OidcProvider, log_in_at_provider, start_oidc_provider
from tests.support.postgres import free_port
from web.routes import NOTICES

CLIENT_ID, CLIENT_SECRET = "chat-app", "a-client-secret-for-the-browser-tests"
PROVIDER_NAME = "Test IdP"


@contextmanager
def app_with_provider(
    data_dir: Path, model_stub: str, cookie_key: str, mode: str = "normal", **settings: str
) -> Iterator[tuple[RunningApp, OidcProvider]]:
    """The app on a fresh database, configured for a provider that behaves as `mode` says."""
    port = free_port()
    callback = f"http://127.0.0.1:{port}/auth/sso/callback"
    with start_oidc_provider(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=callback, mode=mode
    ) as provider:
        oidc = {
            "OIDC_ISSUER": provider.issuer,
            "OIDC_CLIENT_ID": CLIENT_ID,
            "OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_PROVIDER_NAME": PROVIDER_NAME,
        }
        with stub_app(
            data_dir, model_stub, cookie_key, port=port, **{**oidc, **settings}
        ) as running:
            yield running, provider


@pytest.fixture(scope="module")
def sso_app(
    tmp_path_factory: pytest.TempPathFactory, model_stub: str, cookie_key: str
) -> Iterator[tuple[RunningApp, OidcProvider]]:
    with app_with_provider(tmp_path_factory.mktemp("sso-app"), model_stub, cookie_key) as both:
        yield both


def sso_button(page: Page):
    return page.get_by_role("button", name=f"Sign in with {PROVIDER_NAME}")


def go_to_provider(page: Page, url: str) -> None:
    open_app(page, url)
    wait_until_quiet(page, 1.0)
    sso_button(page).click()
    page.wait_for_url("**/interaction/**", timeout=30_000)


def sign_in_at_provider(page: Page, login: str) -> None:
    """The provider's own pages: its login form, then its consent page."""
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()


def sign_in_with_sso(page: Page, url: str, login: str) -> None:
    """Sign in through the provider; a browser the provider still knows comes straight back."""
    open_app(page, url)
    wait_until_quiet(page, 1.0)
    sso_button(page).click()
    chat = page.get_by_test_id("stChatInputTextArea")
    expect(page.locator("input[name=login]").or_(chat)).to_be_visible(timeout=30_000)
    if not chat.is_visible():
        sign_in_at_provider(page, login)
    expect(chat).to_be_visible(timeout=30_000)
    wait_for_cookie(page)


def count(app: RunningApp, table: type) -> int:
    with store_of(app).engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(table)) or 0


def stored_counts(app: RunningApp) -> tuple[int, int, int, int]:
    return tuple(count(app, table) for table in (User, Identity, SignInRecord, PendingLogin))  # type: ignore[return-value]


def expect_refusal(page: Page, notice: str) -> None:
    expect(page.get_by_test_id("stAlertContentError")).to_have_text(NOTICES[notice])
    expect(page.get_by_test_id("stChatInputTextArea")).to_have_count(0)
    assert not has_cookie(page)


def test_the_first_sso_account_is_the_admin_and_holds_a_server_side_sign_in(
    sso_app: tuple[RunningApp, OidcProvider], page: Page, browser: Browser
) -> None:
    app, _ = sso_app
    sign_in_with_sso(page, app.url, "ada")
    ada = accounts.find_account(store_of(app).engine, username="ada")
    assert ada is not None and ada.is_admin
    assert ada.display_name == "Test User ada"
    with store_of(app).engine.connect() as conn:
        identity = conn.execute(select(Identity)).one()
    assert identity.subject == OidcProvider.sub_for("ada") and identity.user_id == ada.id
    expect(page.get_by_text("Signed in as ada · admin")).to_be_visible()
    screenshot(page, "sso-signed-in")

    # A second device, signed in through the provider too: both are listed on Account.
    other = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    try:
        sign_in_with_sso(other, app.url, "ada")
        assert accounts.count_accounts(store_of(app).engine) == 1
        open_app(page, f"{app.url}/account")
        expect(page.get_by_text("Single sign-on at")).to_be_visible()
        expect(page.get_by_role("button", name="Sign out", exact=True)).to_have_count(3)
        # Sign out everywhere ends the other device's sign-in too: its next click signs out.
        click_and_settle(page, page.get_by_role("button", name="Sign out everywhere"))
        expect(sso_button(page)).to_be_visible()
        other.get_by_role("button", name="New chat").click()
        expect(sso_button(other)).to_be_visible(timeout=30_000)
    finally:
        other.context.close()
    assert count(app, SignInRecord) == 0


def test_an_email_links_no_accounts_and_a_taken_name_gets_a_suffix(
    sso_app: tuple[RunningApp, OidcProvider], page: Page, browser: Browser
) -> None:
    app, _ = sso_app
    engine = store_of(app).engine
    accounts.create_account(
        engine,
        username="bob",
        password="bob's own password",
        email="bob@example.test",
        via_signup=False,
    )
    # The provider says bob@example.test too: still another person's account here.
    sign_in_with_sso(page, app.url, "bob")
    expect(page.get_by_text("Signed in as bob-2")).to_be_visible()
    bob = accounts.find_account(engine, username="bob")
    assert bob is not None
    with engine.connect() as conn:
        owners = set(conn.scalars(select(Identity.user_id)))
    assert bob.id not in owners


def test_with_sso_only_the_password_form_and_sign_up_are_gone(
    sso_app: tuple[RunningApp, OidcProvider], page: Page
) -> None:
    app, _ = sso_app
    sign_in_with_sso(page, app.url, "ada")
    open_app(page, f"{app.url}/admin")
    click_and_settle(page, page.get_by_text(f"{PROVIDER_NAME} only"))
    [event] = audit.list_events(store_of(app).engine, action=audit.SIGN_IN_METHODS_CHANGED)
    assert event.detail == "both → sso"
    try:
        click_and_settle(page, page.get_by_role("button", name="Sign out"))
        expect(sso_button(page)).to_be_visible()
        wait_until_quiet(page, 1.0)
        expect(page.get_by_role("textbox", name="Username")).to_have_count(0)
        expect(page.get_by_role("tab", name="Create account")).to_have_count(0)
        screenshot(page, "sso-only-sign-in")
        sign_in_with_sso(page, app.url, "ada")
    finally:
        sso.set_sign_in_methods(store_of(app).engine, sso.BOTH)


def test_an_answer_used_again_is_refused(
    sso_app: tuple[RunningApp, OidcProvider], page: Page
) -> None:
    app, _ = sso_app
    answers: list[str] = []
    page.on(
        "request",
        lambda request: (
            answers.append(request.url) if "/auth/sso/callback" in request.url else None
        ),
    )
    sign_in_with_sso(page, app.url, "ada")
    click_and_settle(page, page.get_by_role("button", name="Sign out"))
    before = stored_counts(app)
    page.goto(answers[0])
    settle(page)
    expect_refusal(page, "sso-state")
    assert stored_counts(app) == before


def authorization_request(page: Page, app: RunningApp, provider: OidcProvider) -> str:
    """Click the sign-in button and return the URL the app sent the browser to at the
    provider (the browser then waits on the provider's login page)."""
    asked: list[str] = []
    page.on(
        "request",
        lambda request: (
            asked.append(request.url)
            if request.url.startswith(f"{provider.issuer}/auth?")
            else None
        ),
    )
    go_to_provider(page, app.url)
    assert asked
    return asked[0]


def test_an_answer_brought_to_another_browser_is_refused(
    sso_app: tuple[RunningApp, OidcProvider], page: Page, browser: Browser
) -> None:
    app, provider = sso_app
    before = stored_counts(app)
    # Someone begins a sign-in in their own browser and gets the provider's answer, without
    # their browser ever delivering it...
    url = authorization_request(page, app, provider)
    callback = f"{app.url}/auth/sso/callback"
    answer = log_in_at_provider(url, "mallory", redirect_uri=callback)
    # ...then makes another person's browser open it (a login CSRF).
    other = browser.new_context().new_page()
    try:
        open_app(other, app.url)
        other.goto(answer)
        settle(other)
        expect_refusal(other, "sso-state")
    finally:
        other.context.close()
    assert stored_counts(app)[:3] == before[:3]
    # Spent by that attempt: not even the browser that began it can use it now.
    page.goto(answer)
    settle(page)
    expect_refusal(page, "sso-state")
    assert stored_counts(app) == (*before[:3], 0)


def test_a_token_for_another_sign_in_fails_its_nonce(
    sso_app: tuple[RunningApp, OidcProvider], page: Page
) -> None:
    app, provider = sso_app
    before = stored_counts(app)
    authorization_request(page, app, provider)
    # As if this sign-in's code had been issued for another sign-in and injected here.
    with store_of(app).engine.begin() as conn:
        conn.execute(update(PendingLogin).values(nonce="the-nonce-of-another-sign-in"))
    sign_in_at_provider(page, "eve")
    page.wait_for_url("**/?notice=sso-nonce", timeout=30_000)
    settle(page)
    expect_refusal(page, "sso-nonce")
    assert stored_counts(app) == (*before[:3], 0)


@pytest.mark.parametrize(
    ("mode", "notice"),
    [
        ("bad-signature", "sso-bad-signature"),
        ("expired", "sso-expired"),
        ("not-yet-valid", "sso-not-yet-valid"),
        ("wrong-issuer", "sso-wrong-issuer"),
    ],
)
def test_a_bad_token_is_refused_with_its_sentence_and_nothing_stored(
    tmp_path: Path, model_stub: str, cookie_key: str, page: Page, mode: str, notice: str
) -> None:
    with app_with_provider(tmp_path, model_stub, cookie_key, mode=mode) as (app, _):
        go_to_provider(page, app.url)
        sign_in_at_provider(page, "ada")
        page.wait_for_url(f"{app.url}/?notice={notice}", timeout=30_000)
        settle(page)
        expect_refusal(page, notice)
        screenshot(page, f"sso-refused-{mode}")
        assert stored_counts(app) == (0, 0, 0, 0)


def test_a_provider_whose_discovery_names_another_issuer_is_refused(
    tmp_path: Path, model_stub: str, cookie_key: str, page: Page
) -> None:
    with app_with_provider(tmp_path, model_stub, cookie_key, mode="wrong-metadata-issuer") as (
        app,
        _,
    ):
        open_app(page, app.url)
        wait_until_quiet(page, 1.0)
        sso_button(page).click()
        page.wait_for_url("**/?notice=sso-wrong-issuer", timeout=30_000)
        settle(page)
        expect_refusal(page, "sso-wrong-issuer")
        assert stored_counts(app) == (0, 0, 0, 0)


def test_a_provider_that_cannot_be_reached_is_refused(
    tmp_path: Path, model_stub: str, cookie_key: str, page: Page
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    with stub_app(
        tmp_path,
        model_stub,
        cookie_key,
        OIDC_ISSUER=nowhere,
        OIDC_CLIENT_ID=CLIENT_ID,
        OIDC_CLIENT_SECRET=CLIENT_SECRET,
        OIDC_PROVIDER_NAME=PROVIDER_NAME,
        OIDC_TIMEOUT_SECONDS="3",
    ) as app:
        open_app(page, app.url)
        wait_until_quiet(page, 1.0)
        sso_button(page).click()
        page.wait_for_url("**/?notice=sso-unreachable", timeout=30_000)
        settle(page)
        expect_refusal(page, "sso-unreachable")
        # The password form is still there: the provider being down locks nobody out.
        expect(page.get_by_role("textbox", name="Username").first).to_be_visible()
        assert stored_counts(app) == (0, 0, 0, 0)
        sign_up(page, app.url, "fallback")


def test_a_password_account_links_its_provider_account_and_then_signs_in_with_it(
    sso_app: tuple[RunningApp, OidcProvider], page: Page
) -> None:
    app, _ = sso_app
    sign_up(page, app.url, "paula")
    open_app(page, f"{app.url}/account")
    page.get_by_role("button", name=f"Link to {PROVIDER_NAME}").click()
    page.wait_for_url("**/interaction/**", timeout=30_000)
    sign_in_at_provider(page, "paula-at-the-provider")
    page.wait_for_url("**/account?notice=sso-linked", timeout=30_000)
    settle(page)
    expect(page.get_by_text("Linked: you can now sign in")).to_be_visible()
    expect(page.get_by_text("Single sign-on at")).to_be_visible()
    screenshot(page, "sso-linked-account")
    paula = accounts.find_account(store_of(app).engine, username="paula")
    assert paula is not None

    click_and_settle(page, page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out"))
    sign_in_with_sso(page, app.url, "paula-at-the-provider")
    # Her own account, with its password still, not a new one made from the provider's name.
    expect(page.get_by_text("Signed in as paula")).to_be_visible()
    assert accounts.find_account(store_of(app).engine, username="paula-at-the-provider") is None

    # Another account cannot take the same provider account (the provider remembers it).
    click_and_settle(page, page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out"))
    sign_up(page, app.url, "quinn")
    open_app(page, f"{app.url}/account")
    page.get_by_role("button", name=f"Link to {PROVIDER_NAME}").click()
    page.wait_for_url("**/account?notice=sso-linked-elsewhere", timeout=30_000)
    settle(page)
    expect(page.get_by_test_id("stAlertContentError")).to_have_text(NOTICES["sso-linked-elsewhere"])
    quinn = accounts.find_account(store_of(app).engine, username="quinn")
    assert quinn is not None and sso.identities_of(store_of(app).engine, user_id=quinn.id) == []
