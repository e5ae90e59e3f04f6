"""The two routes of single sign-on: /auth/sso/start sends the browser to the provider, and
/auth/sso/callback takes its answer, signs the account in with the same server-side sign-in
as a password (accounts/sign_ins.py), sets the sign-in cookie and goes on to the page the
user started from. A refusal goes back to the sign-in page with its one sentence (NOTICES)
and leaves nothing behind: no account, no identity, no sign-in."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

import accounts
import sso
from accounts import AccountError
from database import utcnow
from database.outages import DatabaseUnavailable
from settings import ConfigurationError
from web.routes import NO_STORE, _back_to, _signed_in, _store
from web.sign_in_cookies import (
    auth_cookie_name,
    browser_cookie_name,
    cookie_header,
    is_https,
    sign_in_days,
)

log = logging.getLogger("app")

SSO_START_PATH = "/auth/sso/start"
SSO_CALLBACK_PATH = "/auth/sso/callback"
DATABASE_NOTICE = "sso-database"
LINKED_NOTICE = "sso-linked"
ACCOUNT_PATH = "/account"


def _refuse(notice: str) -> Response:
    return _back_to(f"/?notice={notice}")


def _configured() -> sso.OidcSettings | None:
    """The provider's settings while single sign-on is configured and allowed, else None."""
    try:
        config = sso.oidc_settings()
    except ConfigurationError as error:
        log.error("single sign-on is misconfigured: %s", error)
        return None
    if config is None:
        return None
    methods = sso.sign_in_methods(_store().engine, sso_configured=True)
    return config if methods.sso else None


def _redirect_uri(request: Request, config: sso.OidcSettings) -> str:
    # Registered at the provider: it redirects nowhere else, whatever Host this request had.
    return config.redirect_url or str(request.base_url).rstrip("/") + SSO_CALLBACK_PATH


def sso_start(request: Request) -> Response:
    """Begin a sign-in at the provider for this browser (its browser cookie binds it); with
    `link=1`, a signed-in account's linking of its provider account."""
    config = _configured()
    if config is None:
        return _refuse(sso.SsoNotAllowed.notice)
    linking = None
    if request.query_params.get("link") == "1":
        linking = _signed_in(request)
        if linking is None:
            return _refuse(sso.StateMismatch.notice)
    try:
        url = sso.begin_login(
            _store().engine,
            config,
            browser=request.cookies.get(browser_cookie_name()),
            redirect_uri=_redirect_uri(request, config),
            next_path=ACCOUNT_PATH if linking else request.query_params.get("next", "/"),
            link_user_id=linking.id if linking else None,
        )
    except sso.SsoRefused as error:
        log.warning("single sign-on not begun: %s", error)
        return _refuse(error.notice)
    except DatabaseUnavailable as error:
        log.error("single sign-on: the database is not reachable: %s", error)
        return _refuse(DATABASE_NOTICE)
    return RedirectResponse(url, status_code=303, headers=NO_STORE)


def sso_callback(request: Request) -> Response:
    """Check the provider's answer and sign its account in, in this browser only."""
    config = _configured()
    if config is None:
        return _refuse(sso.SsoNotAllowed.notice)
    engine = _store().engine
    browser = request.cookies.get(browser_cookie_name())
    # One instant for the whole sign-in: a new account's sessions_valid_after is this, and
    # the sign-in below must not count as made before it.
    now = utcnow()
    try:
        login = sso.finish_login(
            engine, config, query=dict(request.query_params), browser=browser, now=now
        )
        if login.link_user_id is not None:
            return _link(request, login)
        account = sso.account_for_login(
            engine, login, username_claim=config.username_claim, now=now
        )
        _, ticket = accounts.start_sign_in(
            engine,
            user_id=account.id,
            device=accounts.device_summary(request.headers.get("user-agent", "")),
            browser=browser,
            lifetime=timedelta(days=sign_in_days()),
            next_path=login.next_path,
            password_checked_at=now,
        )
        done = (
            None
            if ticket is None
            else accounts.complete_handover(engine, ticket=ticket, browser=browser)
        )
    except sso.SsoRefused as error:
        log.warning("single sign-on refused: %s", error)
        return _refuse(error.notice)
    except DatabaseUnavailable as error:
        log.error("single sign-on: the database is not reachable: %s", error)
        return _refuse(DATABASE_NOTICE)
    except AccountError as error:
        # Disabled, or signed out everywhere, between the identity's check and the sign-in.
        log.warning("single sign-on refused: %s", error)
        return _refuse(sso.AccountDisabled.notice)
    if done is None:
        return _refuse(sso.StateMismatch.notice)
    log.info("single sign-on: %s signed in", account.id)
    response = _back_to(done.next_path)
    max_age = max(0, int((done.sign_in.expires_at - datetime.now(UTC)).total_seconds()))
    response.headers.append(
        "set-cookie",
        cookie_header(
            auth_cookie_name(), done.token, max_age=max_age, secure=is_https(request.scope)
        ),
    )
    return response


def _link(request: Request, login: sso.VerifiedLogin) -> Response:
    """Link the identity to the account that asked, if this browser is still signed in to it."""
    account = _signed_in(request)
    if account is None or account.id != login.link_user_id:
        return _refuse(sso.StateMismatch.notice)
    try:
        sso.link_identity(_store().engine, login, user_id=account.id)
    except sso.SsoRefused as error:
        log.warning("single sign-on link refused: %s", error)
        return _back_to(f"{ACCOUNT_PATH}?notice={error.notice}")
    log.info("single sign-on: %s linked an identity", account.id)
    return _back_to(f"{ACCOUNT_PATH}?notice={LINKED_NOTICE}")


SSO_ROUTES: list[BaseRoute] = [
    Route(SSO_START_PATH, sso_start, methods=["GET"]),
    Route(SSO_CALLBACK_PATH, sso_callback, methods=["GET"]),
]
