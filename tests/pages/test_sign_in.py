"""app.py's gate, driven through its real forms: a visitor reaches nothing but the sign-in
page; the first account made is the administrator; every run checks the user again, so a
sign-out elsewhere ends this session on its next click."""

from __future__ import annotations

import jwt
import pytest
import streamlit.testing.v1.app_test as app_test_module
from sqlalchemy import Engine
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

import accounts
import settings
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
    components,
    cookie_scripts,
    errors,
    go_to,
    open_app,
    page_text,
    sign_in,
    sign_up,
    signed_in,
)


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


def signed_in_username(script: str) -> str:
    """Whose sign-in the cookie set by `script` carries (checking its signature)."""
    token = script.split("chat_auth=", 1)[1].split(";", 1)[0]
    return jwt.decode(token, settings.auth_cookie_key(), algorithms=["HS256"])["username"]


def test_signing_in_sets_the_cookie_by_a_script_and_draws_no_component_that_could_rerun(
    ada: Account,
) -> None:
    """A component reports back, and its report reruns the page: right after a sign-in, that
    rerun cut the first answer short. The signed-in pages set the cookie by a script instead."""
    # The sign-in page itself draws the authenticator's cookie manager, with its form.
    assert components(open_app()) != []

    at = signed_in("ada")

    [script] = cookie_scripts(at)
    assert signed_in_username(script) == "ada"
    assert "SameSite=Strict" in script and "path=/" in script
    assert components(at) == []
    # Every signed-in run draws the same script, so no run can end before one has set it.
    assert cookie_scripts(at.run()) == [script]
    assert components(at) == []


def test_signing_out_deletes_the_cookie_by_a_script(bob: Account) -> None:
    at = signed_in("bob")

    at = button(at.sidebar, "Sign out").click().run()

    [script] = cookie_scripts(at)
    assert "expires=Thu, 01 Jan 1970 00:00:00 GMT" in script
    assert "bob" not in script


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
    restart) runs pages/admin.py alone. The page sends it through app.py's gate, which shows
    the sign-in form and nothing of the admin page."""
    # As in a new server process: no st.navigation call has been seen yet.
    monkeypatch.setattr(app_test_module, "PagesManager", PagesManager)
    at = AppTest.from_file(str(APP), default_timeout=RUN_SECONDS)

    at = at.switch_page(ADMIN_PAGE).run()

    assert [tab.label for tab in at.tabs] == ["Sign in", "Create account"]
    assert "This page is for administrators." not in errors(at)
    assert "Please sign in." not in errors(at)


def test_a_cookie_name_a_browser_cannot_keep_stops_the_app_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, db: Engine
) -> None:
    monkeypatch.setenv("AUTH_COOKIE_NAME", "chat auth")

    at = open_app()

    assert not at.exception
    [error] = errors(at)
    assert "The app is not configured safely" in error and "AUTH_COOKIE_NAME" in error
    assert list(at.tabs) == []
