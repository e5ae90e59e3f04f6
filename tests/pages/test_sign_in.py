"""app.py's gate, driven through its real forms: a visitor reaches nothing but the sign-in
page; the first account made is the administrator; every run checks the user again, so a
sign-out elsewhere ends this session on its next click."""

from __future__ import annotations

import pytest
import streamlit.testing.v1.app_test as app_test_module
from sqlalchemy import Engine
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

import accounts
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
    # The notice outlives reruns (the cookie manager causes one at once) until the next sign-in.
    assert [info.value for info in at.info] == ["You are signed out."]
    at = sign_in("bob", at=at)
    assert "account" in at.session_state
    assert list(at.info) == []


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
