"""Routes of the app's own, beside Streamlit's: the sign-in cookie's handover and removal, and
the files a user downloads (served here, to their owner only, never from /media/).

Every route is a plain function: Starlette runs it in a worker thread, so the database calls
of the cores do not block the event loop."""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import UTC, date, datetime, time
from functools import lru_cache

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

import accounts
import audit
import settings
import sso
from accounts import Account
from accounts.users import MAX_PAGE
from audit.log import safe_cell
from memory import ChatStore, open_store
from memory.export import export_user_json, export_user_markdown
from memory.stats import user_usage
from web.sign_in_cookies import (
    auth_cookie_name,
    browser_cookie_name,
    cookie_header,
    is_https,
)

log = logging.getLogger("app")

HANDOVER_PATH = "/auth/handover"
SIGNED_OUT_PATH = "/auth/signed-out"
MY_CHATS_JSON_PATH = "/files/my-chats.json"
MY_CHATS_MARKDOWN_PATH = "/files/my-chats.md"
AUDIT_CSV_PATH = "/files/audit-log.csv"
USERS_CSV_PATH = "/files/users.csv"
USERS_CSV_COLUMNS = (
    "username",
    "display_name",
    "email",
    "role",
    "state",
    "created_at",
    "last_active_at",
    "sessions",
    "messages",
    "approx_tokens",
)
# The notices the sign-in page may be sent back with; anything else in the URL is ignored.
NOTICES = {
    "signed-out": "You are signed out.",
    "signed-out-everywhere": "You are signed out on every device.",
    "password-changed": "Password changed. Sign in with the new password.",
    "password-chosen": "Your password is set. Sign in with it.",
    "account-deleted": "Your account and all your chats are deleted.",
    "handover-failed": "That sign-in link has expired. Please sign in again.",
    # Single sign-on refused (sso/errors.py names them): one sentence each, nothing stored.
    "sso-unreachable": "The sign-in provider cannot be reached just now. Please try again soon.",
    "sso-wrong-issuer": (
        "Sign-in refused: the answer came from a provider other than the one this app trusts."
    ),
    "sso-bad-signature": "Sign-in refused: the provider's token does not carry its signature.",
    "sso-expired": "Sign-in refused: the provider's token had expired. Check the clocks.",
    "sso-not-yet-valid": "Sign-in refused: the provider's token is dated in the future.",
    "sso-state": (
        "That sign-in was already used, took too long, or began in another browser. "
        "Please sign in again."
    ),
    "sso-nonce": "Sign-in refused: the provider's token belongs to another sign-in.",
    "sso-declined": "The sign-in provider did not sign you in. Please try again.",
    "sso-signup-closed": (
        "You have no account here yet, and new accounts are closed. Ask your administrator."
    ),
    "sso-disabled": "This account is disabled. Ask your administrator.",
    "sso-off": "Single sign-on is not enabled here.",
    "sso-linked": "Linked: you can now sign in with your organisation's provider too.",
    "sso-linked-elsewhere": (
        "That provider account already belongs to another account here: nothing was linked."
    ),
    "sso-database": "The database is not reachable right now. Wait a moment and sign in again.",
    "sso-refused": "Sign-in refused.",
}
# Shown as errors, the rest as information.
ERROR_NOTICES = frozenset(key for key in NOTICES if key.startswith("sso-") and key != "sso-linked")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _store() -> ChatStore:
    return _store_on(settings.database_url())


@lru_cache(maxsize=4)
def _store_on(url: str) -> ChatStore:
    # The same Engine as the pages' (one per process and URL); migrated once.
    return open_store(url)


def _signed_in(request: Request) -> Account | None:
    token = request.cookies.get(auth_cookie_name())
    if not token:
        return None
    found = accounts.find_sign_in(_store().engine, token=token)
    # A temporary password opens the page to choose a password, and nothing else.
    return None if found is None or found[0].must_choose_password else found[0]


def _back_to(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303, headers=NO_STORE)


def handover(request: Request) -> Response:
    """Exchange a sign-in's one-time ticket for the HttpOnly sign-in cookie, then go on to the
    page the user signed in on. Only the browser the sign-in was made in can do this."""
    ticket = request.query_params.get("ticket", "")
    browser = request.cookies.get(browser_cookie_name())
    done = accounts.complete_handover(_store().engine, ticket=ticket, browser=browser)
    if done is None:
        log.info("sign-in handover refused (expired, used, or another browser)")
        return _back_to("/?notice=handover-failed")
    response = _back_to(done.next_path)
    max_age = max(0, int((done.sign_in.expires_at - datetime.now(UTC)).total_seconds()))
    response.headers.append(
        "set-cookie",
        cookie_header(
            auth_cookie_name(), done.token, max_age=max_age, secure=is_https(request.scope)
        ),
    )
    return response


def signed_out(request: Request) -> Response:
    """Remove the sign-in cookie, once the page has ended its sign-in in the database.

    The page names the user who signed out (`user`). A cookie that still signs in that same
    user (the browser signed in again in another tab since) is ended too: one click of Sign
    out leaves the browser signed out. A cookie of anyone else is left alone: a tab signing
    out one person does not sign out another who signed in since in the same browser, and a
    link from another site, which the SameSite=Strict cookie does not even reach, changes
    nothing."""
    notice = request.query_params.get("notice", "")
    target = f"/?notice={notice}" if notice in NOTICES else "/"
    response = _back_to(target)
    engine = _store().engine
    token = request.cookies.get(auth_cookie_name())
    found = accounts.find_sign_in(engine, token=token) if token else None
    if found is not None and found[0].id == request.query_params.get("user"):
        accounts.end_sign_in(engine, user_id=found[0].id, sign_in_id=found[1].id)
        found = None
    if found is None:
        response.headers.append(
            "set-cookie",
            cookie_header(auth_cookie_name(), "", max_age=0, secure=is_https(request.scope)),
        )
    return response


def _download(body: str, *, filename: str, media_type: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={**NO_STORE, "Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _refused() -> Response:
    return PlainTextResponse("Sign in to download this file.", status_code=403, headers=NO_STORE)


def my_chats_json(request: Request) -> Response:
    account = _signed_in(request)
    if account is None:
        return _refused()
    data = export_user_json(_store(), user_id=account.id)
    # What this app stores of the user besides chats: how they sign in through a provider.
    data["sign_in_identities"] = [
        {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in row.items()
        }
        for row in sso.identities_of(_store().engine, user_id=account.id)
    ]
    return _download(
        json.dumps(data, ensure_ascii=False, indent=2),
        filename="my-chats.json",
        media_type="application/json",
    )


def my_chats_markdown(request: Request) -> Response:
    account = _signed_in(request)
    if account is None:
        return _refused()
    return _download(
        export_user_markdown(_store(), user_id=account.id),
        filename="my-chats.md",
        media_type="text/markdown",
    )


def _day(text: str | None, moment: time) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.combine(date.fromisoformat(text), moment, UTC)
    except ValueError:
        return None


def audit_csv(request: Request) -> Response:
    """The audit log as CSV, for administrators, with the filters the admin page shows."""
    account = _signed_in(request)
    if account is None or not account.is_admin:
        return _refused()
    action = request.query_params.get("action") or None
    if action is not None and action not in audit.ACTIONS:
        action = None
    body = audit.events_csv(
        _store().engine,
        action=action,
        since=_day(request.query_params.get("since"), time.min),
        until=_day(request.query_params.get("until"), time.max),
    )
    return _download(body, filename="audit-log.csv", media_type="text/csv")


def _users_csv() -> str:
    """Every account with its usage, as CSV whose cells a spreadsheet shows as text."""
    store = _store()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(USERS_CSV_COLUMNS)
    offset = 0
    while page := accounts.list_accounts(store.engine, offset=offset, limit=MAX_PAGE):
        usage = user_usage(store, user_ids=[account.id for account in page])
        for account in page:
            used = usage[account.id]
            state = "disabled" if account.disabled else "enabled"
            row = (
                account.username,
                account.display_name,
                account.email,
                account.role,
                state,
                account.created_at,
                account.last_active_at,
                used.sessions,
                used.messages,
                used.approx_tokens,
            )
            writer.writerow([safe_cell(cell) for cell in row])
        offset += len(page)
    return buffer.getvalue()


def users_csv(request: Request) -> Response:
    """The users table as CSV, for administrators: display names are typed by users, so a
    formula in one is written as text (the table's own toolbar export is off, config.toml)."""
    account = _signed_in(request)
    if account is None or not account.is_admin:
        return _refused()
    return _download(_users_csv(), filename="users.csv", media_type="text/csv")


ROUTES: list[BaseRoute] = [
    Route(HANDOVER_PATH, handover, methods=["GET"]),
    Route(SIGNED_OUT_PATH, signed_out, methods=["GET"]),
    Route(MY_CHATS_JSON_PATH, my_chats_json, methods=["GET"]),
    Route(MY_CHATS_MARKDOWN_PATH, my_chats_markdown, methods=["GET"]),
    Route(AUDIT_CSV_PATH, audit_csv, methods=["GET"]),
    Route(USERS_CSV_PATH, users_csv, methods=["GET"]),
]
