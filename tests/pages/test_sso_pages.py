"""The pages' side of single sign-on: the sign-in page offers the provider's button (and with
single sign-on only, nothing else), shows a refusal as an error, the admin chooses the ways in
(audited), and an account of the provider has no password to change."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

import audit
import settings
import sso
from accounts import Account
from tests.pages.app_driver import (
    ACCOUNT_PAGE,
    ADMIN_PAGE,
    MY_DATA_PAGE,
    Downloads,
    button,
    cookie_for,
    errors,
    go_to,
    open_app,
    page_text,
    signed_in,
)
from tests.pages.test_sign_in import in_a_browser
from web.routes import ERROR_NOTICES, NOTICES
from web.sso_routes import SSO_START_PATH

PROVIDER = "Northwind ID"
BROWSER = "b" * 32
ADA_LOGIN = sso.VerifiedLogin(
    issuer="https://id.northwind.example",
    subject="subject-of-ada",
    claims={"sub": "subject-of-ada", "preferred_username": "ada", "name": "Ada"},
    next_path="/",
)


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> None:
    """Single sign-on configured (no provider is contacted by drawing the pages)."""
    monkeypatch.setenv("OIDC_ISSUER", "https://id.northwind.example")
    monkeypatch.setenv("OIDC_CLIENT_ID", "chat")
    monkeypatch.setenv("OIDC_CLIENT_SECRET", "a-secret")
    monkeypatch.setenv("OIDC_PROVIDER_NAME", PROVIDER)
    settings.reload()


def provider_button_labels(at: AppTest) -> list[str]:
    return [b.label for b in at.button if b.label == f"Sign in with {PROVIDER}"]


def test_without_configuration_there_is_no_provider_button(db: Engine) -> None:
    at = open_app()
    assert provider_button_labels(at) == []
    assert [tab.label for tab in at.tabs] == ["Sign in", "Create account"]


def test_configured_the_sign_in_page_offers_the_provider_beside_passwords(
    db: Engine, configured: None
) -> None:
    at = open_app()
    assert not at.exception
    assert provider_button_labels(at) == [f"Sign in with {PROVIDER}"]
    assert [tab.label for tab in at.tabs] == ["Sign in", "Create account"]


def test_the_provider_button_sends_the_browser_to_the_start_route(
    db: Engine, configured: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    redirects = in_a_browser(monkeypatch, chat_auth_browser=BROWSER)
    at = open_app()
    button(at, f"Sign in with {PROVIDER}").click().run()
    assert redirects == [f"{SSO_START_PATH}?next=%2F"]
    assert f"Taking you to {PROVIDER}…" in page_text(at)


def test_with_single_sign_on_only_the_password_form_and_sign_up_are_gone(
    db: Engine, configured: None
) -> None:
    sso.set_sign_in_methods(db, sso.SSO)
    at = open_app()
    assert provider_button_labels(at) == [f"Sign in with {PROVIDER}"]
    assert list(at.tabs) == [] and list(at.text_input) == []


def test_single_sign_on_only_falls_back_to_passwords_once_its_settings_are_gone(
    db: Engine,
) -> None:
    sso.set_sign_in_methods(db, sso.SSO)
    at = open_app()
    assert provider_button_labels(at) == []
    assert [tab.label for tab in at.tabs] == ["Sign in", "Create account"]


@pytest.mark.parametrize("notice", sorted(ERROR_NOTICES))
def test_a_refusal_is_shown_as_one_error_sentence(
    db: Engine, configured: None, notice: str
) -> None:
    at = open_app({"notice": notice})
    assert errors(at) == [NOTICES[notice]]


def test_a_half_configured_provider_stops_the_app_naming_the_setting(
    db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OIDC_CLIENT_ID", "chat")
    monkeypatch.setenv("OIDC_ISSUER", "https://id.northwind.example")
    settings.reload()
    at = open_app()
    [error] = errors(at)
    assert "OIDC_CLIENT_SECRET" in error


def ways_in(at: AppTest):
    [choice] = [radio for radio in at.radio if radio.label == "How people sign in"]
    return choice


def test_the_admin_chooses_the_ways_in_and_the_choice_is_audited(
    db: Engine, ada: Account, configured: None
) -> None:
    sso.link_identity(db, ADA_LOGIN, user_id=ada.id)
    at = go_to(signed_in("ada"), ADMIN_PAGE)
    assert ways_in(at).value == sso.BOTH
    ways_in(at).set_value(sso.SSO).run()
    assert sso.stored_choice(db) == sso.SSO
    [event] = audit.list_events(db, action=audit.SIGN_IN_METHODS_CHANGED)
    assert event.detail == "both → sso"


def test_an_admin_without_a_linked_identity_cannot_close_passwords(
    db: Engine, ada: Account, configured: None
) -> None:
    at = go_to(signed_in("ada"), ADMIN_PAGE)
    at = ways_in(at).set_value(sso.SSO).run()
    assert any(
        error.startswith(f"First link your own account to {PROVIDER}") for error in errors(at)
    )
    assert sso.stored_choice(db) == sso.BOTH
    assert audit.list_events(db, action=audit.SIGN_IN_METHODS_CHANGED) == []
    # Password only needs no link.
    ways_in(at).set_value(sso.PASSWORD).run()
    assert sso.stored_choice(db) == sso.PASSWORD


def test_a_password_account_is_offered_to_link_its_provider_account(
    db: Engine, ada: Account, configured: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    redirects = in_a_browser(monkeypatch, chat_auth=cookie_for(db, ada), chat_auth_browser=BROWSER)
    at = go_to(open_app(), ACCOUNT_PAGE)
    assert "Change password" in page_text(at)
    button(at, f"Link to {PROVIDER}").click().run()
    assert redirects[-1] == f"{SSO_START_PATH}?link=1"


def test_a_linked_password_account_shows_both_ways_in(
    db: Engine, ada: Account, configured: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    sso.link_identity(db, ADA_LOGIN, user_id=ada.id)
    in_a_browser(monkeypatch, chat_auth=cookie_for(db, ada), chat_auth_browser=BROWSER)
    at = go_to(open_app({"notice": "sso-linked"}), ACCOUNT_PAGE)
    text = page_text(at)
    assert "Single sign-on at https://id.northwind.example" in text
    assert "Change password" in text
    assert [b.label for b in at.button if b.label.startswith("Link to")] == []


def test_without_configuration_the_admin_is_not_offered_the_choice(
    db: Engine, ada: Account
) -> None:
    at = go_to(signed_in("ada"), ADMIN_PAGE)
    assert [radio for radio in at.radio if radio.label == "How people sign in"] == []


def test_an_account_of_the_provider_has_no_password_to_change(
    db: Engine, configured: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = sso.account_for_login(db, ADA_LOGIN, username_claim="preferred_username")

    in_a_browser(monkeypatch, chat_auth=cookie_for(db, account), chat_auth_browser=BROWSER)
    at = go_to(open_app(), ACCOUNT_PAGE)
    text = page_text(at)
    assert "Single sign-on at https://id.northwind.example" in text
    assert "Change password" not in text


def test_the_json_download_tells_how_the_account_signs_in(
    db: Engine, configured: None, downloads: Downloads, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = sso.account_for_login(db, ADA_LOGIN, username_claim="preferred_username")
    in_a_browser(monkeypatch, chat_auth=cookie_for(db, account), chat_auth_browser=BROWSER)
    at = go_to(open_app(), MY_DATA_PAGE)
    exported = json.loads(downloads.content(at, "All chats as JSON", account))
    [identity] = exported["sign_in_identities"]
    assert identity["issuer"] == ADA_LOGIN.issuer and identity["subject"] == ADA_LOGIN.subject
