"""app.py's gate, driven through its real forms: a visitor reaches nothing but the sign-in
page; the first account made is the administrator; every run checks the user again, so a
sign-out elsewhere ends this session on its next click."""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import streamlit.runtime.context
import streamlit.testing.v1.app_test as app_test_module
from extra_streamlit_components.CookieManager import CookieManager
from sqlalchemy import Engine
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

import accounts
import ui.auth
from accounts import Account
from tests.pages.app_driver import (
    ACCOUNT_PAGE,
    ADMIN_PAGE,
    APP,
    CHAT_PAGE,
    MY_DATA_PAGE,
    PASSWORD,
    RUN_SECONDS,
    button,
    cookie_for,
    errors,
    go_to,
    open_app,
    page_text,
    sign_in,
    sign_up,
    signed_in,
)
from web.routes import HANDOVER_PATH, SIGNED_OUT_PATH


def test_a_visitor_sees_only_the_sign_in_page() -> None:
    at = open_app()

    assert not at.exception
    assert [tab.label for tab in at.tabs] == ["Sign in", "Create account"]
    assert list(at.chat_input) == []
    for page in (CHAT_PAGE, MY_DATA_PAGE, ACCOUNT_PAGE, ADMIN_PAGE):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(page)


def test_the_first_account_created_is_the_administrator_and_is_signed_in(db: Engine) -> None:
    at = sign_up("ada")

    assert not at.exception
    account = at.session_state["account"]
    assert account.username == "ada" and account.is_admin
    assert len(at.chat_input) == 1
    assert "Signed in as **ada** · admin" in [c.value for c in at.sidebar.caption]
    assert [t.value for t in go_to(at, ADMIN_PAGE).title] == ["Admin"]


def test_a_later_sign_up_is_an_ordinary_user(ada: Account) -> None:
    at = sign_up("dora")

    account = at.session_state["account"]
    assert account.username == "dora" and not account.is_admin
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(ADMIN_PAGE)


def test_sign_up_with_two_different_passwords_is_refused(db: Engine) -> None:
    at = sign_up("ada", repeat="another horse battery")

    assert errors(at) == ["The two passwords differ."]
    assert "account" not in at.session_state
    assert accounts.count_accounts(db) == 0


@pytest.mark.parametrize(
    ("username", "password"), [("bob", "wrong password"), ("nobody", PASSWORD)]
)
def test_a_wrong_password_or_unknown_name_is_refused_with_the_same_words(
    bob: Account, username: str, password: str
) -> None:
    at = sign_in(username, password)

    assert errors(at) == ["Wrong username or password."]
    assert "account" not in at.session_state
    assert list(at.chat_input) == []


def test_signing_out_returns_to_the_sign_in_page_and_stays_there(db: Engine, bob: Account) -> None:
    at = signed_in("bob")

    at = button(at.sidebar, "Sign out").click().run()

    assert "account" not in at.session_state
    assert [info.value for info in at.info] == ["You are signed out."]
    assert list(at.chat_input) == []
    at = at.run()
    assert "account" not in at.session_state
    assert list(at.chat_input) == []
    assert "bob" not in page_text(at)
    # The notice outlives reruns (the sign-in page's cookie manager causes one at once) until
    # the next sign-in.
    assert [info.value for info in at.info] == ["You are signed out."]
    at = sign_in("bob", at=at)
    assert "account" in at.session_state
    assert list(at.info) == []


BROWSER = "b" * 32  # the browser cookie, as the server gave it to this browser


def browser_client(**cookies: str) -> SimpleNamespace:
    """What a real browser's connection tells the script: its cookies, headers and address."""
    return SimpleNamespace(
        cookies=cookies,
        headers=[("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0.0.0 Safari/537.36")],
        remote_ip="127.0.0.1",
    )


def in_a_browser(monkeypatch: pytest.MonkeyPatch, **cookies: str) -> list[str]:
    """Have every run see a real browser holding `cookies`; the URLs the page sends it to."""
    client = browser_client(**cookies)
    monkeypatch.setattr(streamlit.runtime.context, "_get_client_context", lambda: client)
    redirects: list[str] = []
    monkeypatch.setattr(ui.auth, "_redirect_browser", redirects.append)
    return redirects


def test_a_sign_in_reaches_the_browser_through_the_apps_route_never_a_script(
    monkeypatch: pytest.MonkeyPatch, db: Engine, ada: Account
) -> None:
    """No script in the page writes a credential: the page sends the browser to the app's own
    handover route with a one-time ticket, which that browser alone can exchange."""
    redirects = in_a_browser(monkeypatch, chat_auth_browser=BROWSER)

    at = sign_in("ada")

    assert not at.exception
    [url] = redirects
    assert url.startswith(HANDOVER_PATH + "?ticket=")
    assert [info.value for info in at.info] == ["Signing you in…"]
    assert not [html for html in at.get("html") if html.proto.unsafe_allow_javascript]
    ticket = parse_qs(urlsplit(url).query)["ticket"][0]
    # Another browser cannot use it; this one can, once.
    assert accounts.complete_handover(db, ticket=ticket, browser="c" * 32) is None
    handover = accounts.complete_handover(db, ticket=ticket, browser=BROWSER)
    assert handover is not None and handover.next_path == "/"
    found = accounts.find_sign_in(db, token=handover.token)
    assert found is not None and found[0].username == "ada"
    assert accounts.complete_handover(db, ticket=ticket, browser=BROWSER) is None
    # The device is recorded from the browser's User-Agent.
    assert [s.device for s in accounts.list_sign_ins(db, user_id=ada.id)] == ["Chrome 156 on Linux"]


def test_the_handover_is_sent_again_on_each_run_until_the_browser_has_used_it(
    monkeypatch: pytest.MonkeyPatch, db: Engine, ada: Account
) -> None:
    """A rerun (the cookie manager's, just after the sign-in page loads) can clear the
    redirect from the queue before it reached the browser: the next run sends it again."""
    redirects = in_a_browser(monkeypatch, chat_auth_browser=BROWSER)
    at = sign_in("ada")
    [url] = redirects

    at = at.run()
    assert redirects == [url, url]
    assert at.session_state["account"].username == "ada"  # signed in here meanwhile

    ticket = parse_qs(urlsplit(url).query)["ticket"][0]
    assert accounts.complete_handover(db, ticket=ticket, browser=BROWSER) is not None
    at.run()
    assert redirects == [url, url]  # used: not sent again


def test_the_form_checks_the_password_through_accounts_authenticate_with_the_client_address(
    monkeypatch: pytest.MonkeyPatch, bob: Account
) -> None:
    """The guess limit counts before the password is checked, per name and client address:
    the form must go through exactly that code, not the authenticator's own check."""
    calls: list[dict[str, object]] = []
    real = accounts.authenticate

    def recording(*args: object, **kwargs: object) -> accounts.SignInResult:
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(accounts, "authenticate", recording)

    at = sign_in("bob", "wrong password")
    assert errors(at) == ["Wrong username or password."]
    at = sign_in("bob", at=at)

    assert [(c["username"], c["client"]) for c in calls] == [("bob", "local"), ("bob", "local")]
    assert at.session_state["account"].username == "bob"


def test_signing_in_with_the_form_never_has_the_cookie_manager_component_set_a_cookie(
    monkeypatch: pytest.MonkeyPatch, bob: Account
) -> None:
    """The authenticator would set its own, script-readable cookie through that component
    right after a good password: the app's route sets the only sign-in cookie."""
    calls: list[tuple[object, ...]] = []
    real_set = CookieManager.set

    def recording_set(self: CookieManager, *args: object, **kwargs: object) -> None:
        calls.append(args)
        real_set(self, *args, **kwargs)

    monkeypatch.setattr(CookieManager, "set", recording_set)

    at = signed_in("bob")

    assert calls == []
    assert at.session_state["account"].username == "bob"


def test_signing_out_ends_this_sign_in_and_sends_the_browser_to_remove_its_cookie(
    monkeypatch: pytest.MonkeyPatch, db: Engine, bob: Account
) -> None:
    token = cookie_for(db, bob)
    other_device = cookie_for(db, bob)
    redirects = in_a_browser(monkeypatch, chat_auth=token, chat_auth_browser=BROWSER)
    at = open_app()
    assert at.session_state["account"].username == "bob"

    at = button(at.sidebar, "Sign out").click().run()

    assert redirects == [f"{SIGNED_OUT_PATH}?notice=signed-out&user={bob.id}"]
    assert accounts.find_sign_in(db, token=token) is None
    # This device only: the other one stays signed in.
    assert accounts.find_sign_in(db, token=other_device) is not None


def test_a_sign_out_everywhere_from_another_session_ends_this_one_on_its_next_click(
    db: Engine, bob: Account
) -> None:
    here = signed_in("bob")
    elsewhere = go_to(signed_in("bob"), ACCOUNT_PAGE)

    button(elsewhere, "Sign out everywhere").click().run()
    here = here.run()

    assert "account" not in here.session_state
    assert [info.value for info in here.info] == ["You were signed out. Please sign in again."]
    assert list(here.chat_input) == []
    signed_in("bob")  # a new sign-in counts again


def test_a_page_url_asked_for_first_in_a_new_server_process_still_goes_through_the_gate(
    monkeypatch: pytest.MonkeyPatch, ada: Account
) -> None:
    """Until app.py first calls st.navigation in a server process, Streamlit serves pages/ as a
    classic multipage app: a first request for /admin (every open tab reconnecting after a
    restart) runs pages/admin.py alone. The page runs app.py in its place, whose gate shows
    the sign-in form and nothing of the admin page."""
    at = first_run_in_a_new_process(monkeypatch, ADMIN_PAGE)

    assert not at.exception
    assert [tab.label for tab in at.tabs] == ["Sign in", "Create account"]
    assert "This page is for administrators." not in errors(at)
    assert "Please sign in." not in errors(at)


def first_run_in_a_new_process(
    monkeypatch: pytest.MonkeyPatch, page: str, *, cookie: str | None = None
) -> AppTest:
    """The first run a new server process gives a tab that asks for `page`, holding the sign-in
    cookie `cookie` if given: no st.navigation call has been seen yet in the process."""
    monkeypatch.setattr(app_test_module, "PagesManager", PagesManager)
    if cookie is not None:
        # What the browser sent with the request that opened this session.
        in_a_browser(monkeypatch, chat_auth=cookie, chat_auth_browser=BROWSER)
    at = AppTest.from_file(str(APP), default_timeout=RUN_SECONDS)
    return at.switch_page(page).run()


def test_a_user_whose_first_request_in_a_new_process_is_the_admin_page_is_gated_by_app_py(
    monkeypatch: pytest.MonkeyPatch, db: Engine, ada: Account, bob: Account
) -> None:
    """Signed in by cookie, in the run of the page alone: app.py runs in its place, so a
    non-admin gets app.py's pages (the admin page is not one of them), an admin the admin page."""
    at = first_run_in_a_new_process(monkeypatch, ADMIN_PAGE, cookie=cookie_for(db, bob))

    assert not at.exception
    assert at.session_state["account"].username == "bob"
    assert "Admin" not in [title.value for title in at.title]
    assert list(at.tabs) == [] and list(at.dataframe) == []
    assert "ada" not in page_text(at)
    assert len(at.chat_input) == 1  # app.py's default page, the chat
    assert "Signed in as **bob**" in [caption.value for caption in at.sidebar.caption]

    at = first_run_in_a_new_process(monkeypatch, ADMIN_PAGE, cookie=cookie_for(db, ada))
    assert not at.exception
    assert [title.value for title in at.title] == ["Admin"]
    assert "Signed in as **ada** · admin" in [caption.value for caption in at.sidebar.caption]


def test_a_cookie_name_a_browser_cannot_keep_stops_the_app_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, db: Engine
) -> None:
    monkeypatch.setenv("AUTH_COOKIE_NAME", "chat auth")

    at = open_app()

    assert not at.exception
    [error] = errors(at)
    assert "The app is not configured safely" in error and "AUTH_COOKIE_NAME" in error
    assert list(at.tabs) == []
