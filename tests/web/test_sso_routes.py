"""The single sign-on routes without a browser, on each engine: where they send the browser
when single sign-on is off, when the browser has no cookie, when the answer is forged, and
when the provider is down; a refusal never sets a cookie nor leaves a row behind. The good
path and the provider's own refusals: tests/browser/test_sso_in_browser.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select
from starlette.applications import Starlette
from starlette.testclient import TestClient

import accounts
import settings
from accounts.models import SignInRecord, User
from sso.models import Identity, PendingLogin
from tests.support.postgres import free_port
from web.routes import ROUTES
from web.sso_routes import SSO_CALLBACK_PATH, SSO_ROUTES, SSO_START_PATH

BROWSER = "b" * 32


@pytest.fixture
def app_database(
    database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> Iterator[Engine]:
    # As the app connects: on PostgreSQL its own role (the engine fixture's), held by RLS.
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("PASSWORD_HASH_ROUNDS", "4")
    monkeypatch.setenv("SECRETS_FILE", str(tmp_path / "none.toml"))
    for name in ("OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_METADATA_URL"):
        monkeypatch.delenv(name, raising=False)
    settings.reload()
    yield engine
    settings.reload()


@pytest.fixture
def unreachable_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """Single sign-on configured for a provider nobody listens for."""
    monkeypatch.setenv("OIDC_ISSUER", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("OIDC_CLIENT_ID", "chat")
    monkeypatch.setenv("OIDC_CLIENT_SECRET", "secret")
    monkeypatch.setenv("OIDC_TIMEOUT_SECONDS", "2")
    settings.reload()


@pytest.fixture
def client(app_database: Engine) -> TestClient:
    return TestClient(Starlette(routes=[*ROUTES, *SSO_ROUTES]), follow_redirects=False)


def stored(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return [
            conn.scalar(select(func.count()).select_from(table)) or 0
            for table in (User, Identity, SignInRecord, PendingLogin)
        ]


def refused_to(response, notice: str) -> bool:
    return (
        response.status_code == 303
        and response.headers["location"] == f"/?notice={notice}"
        and "set-cookie" not in response.headers
    )


def test_with_single_sign_on_off_both_routes_send_the_browser_back(
    client: TestClient, app_database: Engine
) -> None:
    for path in (SSO_START_PATH, f"{SSO_CALLBACK_PATH}?state=x&code=y"):
        assert refused_to(client.get(path, cookies={"chat_auth_browser": BROWSER}), "sso-off")
    assert stored(app_database) == [0, 0, 0, 0]


def test_a_browser_without_its_cookie_cannot_begin(
    client: TestClient, app_database: Engine, unreachable_provider: None
) -> None:
    assert refused_to(client.get(SSO_START_PATH), "sso-state")
    assert stored(app_database) == [0, 0, 0, 0]


def test_a_provider_that_cannot_be_reached_is_refused_before_anything_is_stored(
    client: TestClient, app_database: Engine, unreachable_provider: None
) -> None:
    response = client.get(SSO_START_PATH, cookies={"chat_auth_browser": BROWSER})
    assert refused_to(response, "sso-unreachable")
    assert stored(app_database) == [0, 0, 0, 0]


def test_a_forged_answer_is_refused_with_no_cookie_and_nothing_stored(
    client: TestClient, app_database: Engine, unreachable_provider: None
) -> None:
    response = client.get(
        f"{SSO_CALLBACK_PATH}?state=forged&code=forged&iss=x",
        cookies={"chat_auth_browser": BROWSER},
    )
    assert refused_to(response, "sso-state")
    assert stored(app_database) == [0, 0, 0, 0]


def test_linking_needs_a_signed_in_browser(
    client: TestClient, app_database: Engine, unreachable_provider: None
) -> None:
    accounts.create_account(app_database, username="ada", password="correct horse battery")
    response = client.get(f"{SSO_START_PATH}?link=1", cookies={"chat_auth_browser": BROWSER})
    assert refused_to(response, "sso-state")
    assert stored(app_database) == [1, 0, 0, 0]
