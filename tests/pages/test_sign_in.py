"""app.py's gate, driven through its real forms: a visitor reaches nothing but the sign-in
page; the first account made is the administrator; every run checks the user again, so a
sign-out elsewhere ends this session on its next click."""

from __future__ import annotations

from types import SimpleNamespace

import jwt
import pytest
import streamlit.runtime.context
import streamlit.testing.v1.app_test as app_test_module
from extra_streamlit_components.CookieManager import CookieManager
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
from tests.scale.conftest import mint_cookie


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


def cookie_value(script: str) -> str:
    """The value the cookie script `script` writes."""
    return script.split("chat_auth=", 1)[1].split(";", 1)[0]


def signed_in_username(script: str) -> str:
    """Whose sign-in the cookie set by `script` carries (checking its signature)."""
    return jwt.decode(cookie_value(script), settings.auth_cookie_key(), algorithms=["HS256"])[
        "username"
    ]


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


def test_signing_in_with_the_form_never_has_the_cookie_manager_component_set_a_cookie(
    monkeypatch: pytest.MonkeyPatch, bob: Account
) -> None:
    """The authenticator would set its own cookie through that component right after a good
    password, and the component's report back would rerun the page: only the script sets it."""
    calls: list[tuple[object, ...]] = []
    real_set = CookieManager.set

    def recording_set(self: CookieManager, *args: object, **kwargs: object) -> None:
        calls.append(args)
        real_set(self, *args, **kwargs)

    monkeypatch.setattr(CookieManager, "set", recording_set)

    at = signed_in("bob")

    assert calls == []
    [script] = cookie_scripts(at)
    assert signed_in_username(script) == "bob"


def test_signing_out_deletes_the_cookie_this_session_set_and_no_other(bob: Account) -> None:
    at = signed_in("bob")
    [setter] = cookie_scripts(at)
    token = cookie_value(setter)

    at = button(at.sidebar, "Sign out").click().run()

    [deleter] = cookie_scripts(at)
    assert "chat_auth=deleted; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT" in deleter
    # Only while the browser still holds this session's cookie: another tab may have signed in
    # since, and its cookie stays.
    assert f'includes("chat_auth={token}")' in deleter


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
        client = SimpleNamespace(cookies={"chat_auth": cookie})
        monkeypatch.setattr(streamlit.runtime.context, "_get_client_context", lambda: client)
    at = AppTest.from_file(str(APP), default_timeout=RUN_SECONDS)
    return at.switch_page(page).run()


def test_a_user_whose_first_request_in_a_new_process_is_the_admin_page_is_gated_by_app_py(
    monkeypatch: pytest.MonkeyPatch, ada: Account, bob: Account
) -> None:
    """Signed in by cookie, in the run of the page alone: app.py runs in its place, so a
    non-admin gets app.py's pages (the admin page is not one of them), an admin the admin page."""
    at = first_run_in_a_new_process(
        monkeypatch, ADMIN_PAGE, cookie=mint_cookie("bob", settings.auth_cookie_key())
    )

    assert not at.exception
    assert at.session_state["account"].username == "bob"
    assert "Admin" not in [title.value for title in at.title]
    assert list(at.tabs) == [] and list(at.dataframe) == []
    assert "ada" not in page_text(at)
    assert len(at.chat_input) == 1  # app.py's default page, the chat
    assert "Signed in as **bob**" in [caption.value for caption in at.sidebar.caption]

    at = first_run_in_a_new_process(
        monkeypatch, ADMIN_PAGE, cookie=mint_cookie("ada", settings.auth_cookie_key())
    )
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
