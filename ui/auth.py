"""The sign-in gate: streamlit-authenticator's sign-in form, with the database as the truth.

A sign-in is a row in the database (accounts/sign_ins.py). This Streamlit session keeps that
row's id; the browser keeps an opaque HttpOnly cookie that the app's own route set
(web/routes.py), so no script in the page can read it. Every run checks the row again: signing
out (here or on another device), a password change, disabling or deleting the account delete
it, and the next click of every session that held it shows the sign-in page.

The form is streamlit-authenticator's login widget; its password check is replaced by
`accounts.authenticate`, which counts the attempt before checking the password, per username
and client address (the lockout). Its own JWT cookie is not used at all: it is readable by any
script and cannot be revoked.

A sign-in made here reaches the browser through a handover: the page is sent to
/auth/handover with a one-time ticket bound to this browser's cookie, the route sets the
sign-in cookie and sends the browser back to the page it signed in on.

app.py calls `require_account` once per run; pages call `current_account` / `require_admin`
(a page that ran without app.py has `current_account` run app.py in its place).
"""

from __future__ import annotations

import logging
import runpy
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote, urlencode, urlsplit

import streamlit as st
import streamlit_authenticator as stauth
from sqlalchemy import Engine
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import get_script_run_ctx

import accounts
import settings
import sso
from accounts import Account, AccountError
from database import utcnow
from ui.scroll import quiet_hidden_frames
from ui.temporary_chat import end_temporary_chat
from web.routes import ERROR_NOTICES, HANDOVER_PATH, NOTICES, SIGNED_OUT_PATH
from web.sign_in_cookies import auth_cookie_name, browser_cookie_name, sign_in_days
from web.sso_routes import SSO_START_PATH

log = logging.getLogger("app")

ACCOUNT_KEY = "account"
# The id of this session's sign-in row: checked against the database on every run.
SIGN_IN_KEY = "sign_in_id"
NOTICE_KEY = "sign_in_notice"
# The handover URL of this session's new sign-in and when its ticket ends: sent again on each
# run until the browser has used it (a rerun can clear a redirect before it reached the page).
HANDOVER_KEY = "handover"
# The cookie manager component the authenticator draws on the sign-in page does its work
# unseen; without this it shows as an empty bar above the form. Only its height goes: with no
# width Streamlit never mounts it.
HIDE_COOKIE_MANAGER_CSS = """<style>
.st-key-init { height: 0; min-height: 0; overflow: hidden; }
</style>"""
APP_PATH = Path(__file__).resolve().parents[1] / "app.py"
# Set while app.py runs inside a page's run (per script thread: each session has its own).
_app_in_place = threading.local()
# A client address Streamlit does not report (the browser is on this machine).
LOCAL_CLIENT = "local"


def _text(value: object) -> str | None:
    # st.context answers with stand-ins where no browser is connected (AppTest): only a real
    # string counts.
    return value if isinstance(value, str) and value else None


def client_address() -> str:
    """Where this session's browser connects from, as the lockout counts it."""
    return _text(st.context.ip_address) or LOCAL_CLIENT


def browser_token() -> str | None:
    """This browser's browser cookie (None: no cookie reached the server, e.g. cookies off)."""
    return _text(st.context.cookies.get(browser_cookie_name()))


def _redirect_browser(url: str) -> None:
    """Send the browser to `url` (a route of the app's own), as st.login does."""
    ctx = get_script_run_ctx()
    if ctx is None:
        return
    message = ForwardMsg()
    message.auth_redirect.url = url
    ctx.enqueue(message)


def _leave_page(url: str, words: str) -> NoReturn:
    """End this run showing `words` while the browser goes to `url`. No rerun may follow: a
    new run would clear the redirect from the queue before it reached the browser."""
    _redirect_browser(url)
    st.info(words)
    st.stop()


def _forget_sign_in() -> None:
    # A temporary chat is its user's alone: it goes with the sign-in, not to the next one.
    end_temporary_chat()
    # So does a deleted chat's copy kept for Undo (ui/deleting.py).
    for key in (ACCOUNT_KEY, SIGN_IN_KEY, HANDOVER_KEY, "deleted_chat"):
        st.session_state.pop(key, None)
    for key in ("name", "username", "authentication_status", "email", "roles"):
        st.session_state[key] = None


def _mark_signed_in(account: Account, sign_in_id: str) -> None:
    """The session state streamlit-authenticator keeps for a signed-in user, and ours."""
    state = st.session_state
    state["authentication_status"] = True
    state["username"] = account.username
    state["name"] = account.display_name or account.username
    state["roles"] = [account.role]
    state[SIGN_IN_KEY] = sign_in_id
    state[ACCOUNT_KEY] = account
    state.pop(NOTICE_KEY, None)


def require_account(engine: Engine) -> Account | None:
    """The signed-in, current account, or None when the sign-in page must be shown."""
    # On every run: a bad cookie name, an unsafe key or a half-configured provider stops the
    # app, signed in or not.
    auth_cookie_name()
    settings.auth_cookie_key()
    sso.oidc_settings()
    state = st.session_state
    sign_in_id = state.get(SIGN_IN_KEY)
    if sign_in_id:
        found = accounts.get_sign_in(engine, sign_in_id=sign_in_id)
        if found is None:
            # Signed out here or elsewhere, password changed, disabled or deleted.
            _forget_sign_in()
            state[NOTICE_KEY] = "You were signed out. Please sign in again."
            return None
    else:
        token = _text(st.context.cookies.get(auth_cookie_name()))
        # An unknown token (revoked, expired, or the old signed format) is simply no sign-in.
        found = accounts.find_sign_in(engine, token=token) if token else None
        if found is None:
            return None
    account, sign_in = found
    _mark_signed_in(account, sign_in.id)
    _resend_handover(sign_in)
    # Both were just read with the sign-in: no query at all while they are fresh.
    accounts.touch_sign_in(engine, sign_in_id=sign_in.id, last_seen_at=sign_in.last_seen_at)
    accounts.touch_last_active(engine, user_id=account.id, last_active_at=account.last_active_at)
    return account


def _resend_handover(sign_in: accounts.SignIn) -> None:
    """Send the browser to its handover again while it has not used it and the ticket lasts."""
    pending = st.session_state.get(HANDOVER_KEY)
    if pending is None:
        return
    url, ends_at = pending
    if sign_in.handed_over or utcnow() >= ends_at:
        st.session_state.pop(HANDOVER_KEY, None)
        return
    _redirect_browser(url)


def _current_path() -> str:
    """The page and query this run is on, to come back to after the handover."""
    path = quote(urlsplit(st.context.url or "").path or "/", safe="/")
    query = st.query_params.to_dict()
    query.pop("notice", None)
    return path + ("?" + urlencode(query) if query else "")


def start_session(engine: Engine, account: Account, *, password_checked_at: datetime) -> None:
    """Sign `account` in: a new sign-in row for this session, handed to the browser as its
    HttpOnly cookie when the browser has its browser cookie (a headless client has none, and
    stays signed in for this session only)."""
    user_agent = _text(st.context.headers.get("User-Agent")) or ""
    try:
        sign_in, ticket = accounts.start_sign_in(
            engine,
            user_id=account.id,
            device=accounts.device_summary(user_agent),
            browser=browser_token(),
            lifetime=timedelta(days=sign_in_days()),
            next_path=_current_path(),
            password_checked_at=password_checked_at,
        )
    except AccountError:
        # Disabled, deleted or signed out everywhere between the password check and now.
        _forget_sign_in()
        st.error("You could not be signed in just now. Please try again.")
        st.stop()
    _mark_signed_in(account, sign_in.id)
    if ticket is None:
        st.rerun()
    url = f"{HANDOVER_PATH}?{urlencode({'ticket': ticket})}"
    st.session_state[HANDOVER_KEY] = (url, utcnow() + timedelta(seconds=accounts.HANDOVER_SECONDS))
    _leave_page(url, "Signing you in…")


def _authenticator(engine: Engine, outcome: dict[str, Any]) -> stauth.Authenticate:
    # Only on the sign-in page: creating it draws the cookie manager's getAll component.
    credentials: dict[str, Any] = {"usernames": {}}
    authenticator = stauth.Authenticate(
        credentials,
        cookie_name=auth_cookie_name(),
        cookie_key=settings.auth_cookie_key(),
        # 0: the authenticator sets no cookie itself (the sign-in cookie is the app's own).
        cookie_expiry_days=0,
        auto_hash=False,
        login_sleep_time=0,
    )
    st.html(HIDE_COOKIE_MANAGER_CSS)

    def check_credentials(username: str, password: str) -> bool:
        # The one password check of the form: counted before it is made (accounts/lockout.py).
        outcome["checked_at"] = utcnow()
        result = accounts.authenticate(
            engine,
            username=username,
            password=password,
            client=client_address(),
            browser=browser_token(),
        )
        outcome["result"] = result
        if result.account is None:
            return False
        account = result.account
        # What the widget reads back after a good check.
        credentials["usernames"][username] = {
            "name": account.display_name or account.username,
            "email": account.email,
            "roles": [account.role],
            "failed_login_attempts": 0,
            "logged_in": False,
        }
        return True

    authenticator.authentication_controller.authentication_model.check_credentials = (
        check_credentials
    )
    return authenticator


def sign_in_page(engine: Engine) -> st.Page:
    """The only page a signed-out visitor can reach: sign in, or create an account."""

    def draw() -> None:
        config = sso.oidc_settings()
        methods = sso.sign_in_methods(engine, sso_configured=config is not None)
        outcome: dict[str, Any] = {}
        authenticator = None
        if methods.password:
            authenticator = _authenticator(engine, outcome)
            # `logout` makes the authenticator skip its own cookie, which this app never sets.
            st.session_state["logout"] = True
        _draw_sign_in(engine, authenticator, outcome, config if methods.sso else None)
        quiet_hidden_frames()

    return st.Page(draw, title="Sign in", icon=":material/login:", url_path="sign-in", default=True)


def _show_notice() -> None:
    """The notice above the form: this session's own, or the one a route of the app's own
    sent the browser back with (only the app's own words, looked up by key). Kept until the
    next sign-in: popped here, it would vanish on the rerun the cookie manager causes a moment
    later, and the form below it would jump."""
    own = st.session_state.get(NOTICE_KEY)
    key = st.query_params.get("notice", "")
    if own:
        st.info(own)
    elif key in ERROR_NOTICES:
        st.error(NOTICES[key])
    elif key in NOTICES:
        st.info(NOTICES[key])


def _draw_single_sign_on(config: sso.OidcSettings, *, alone: bool) -> None:
    """The button that sends this browser to the provider, by the app's own start route."""
    name = config.provider_name
    if st.button(
        f"Sign in with {name}",
        type="primary" if alone else "secondary",
        icon=":material/key:",
        width="stretch",
    ):
        _leave_page(
            f"{SSO_START_PATH}?{urlencode({'next': _current_path()})}", f"Taking you to {name}…"
        )


def link_provider_account(config: sso.OidcSettings) -> NoReturn:
    """Send the browser to the provider to link the account signed in here to its identity."""
    _leave_page(f"{SSO_START_PATH}?link=1", f"Taking you to {config.provider_name}…")


def _draw_sign_in(
    engine: Engine,
    authenticator: stauth.Authenticate | None,
    outcome: dict,
    single_sign_on: sso.OidcSettings | None,
) -> None:
    state = st.session_state
    _, column, _ = st.columns([1, 2, 1])
    with column:
        st.title("Chat", anchor=False)
        _show_notice()
        if single_sign_on is not None:
            _draw_single_sign_on(single_sign_on, alone=authenticator is None)
        if authenticator is None:
            # Single sign-on only: no password form, no sign-up.
            return
        first_account = accounts.count_accounts(engine) == 0
        can_sign_up = first_account or accounts.signup_enabled(engine)
        tabs = ["Sign in", "Create account"] if can_sign_up else ["Sign in"]
        sign_in_tab, *sign_up_tab = st.tabs(tabs)
        # The tab names the form: its own heading (streamlit-authenticator's h3, a level
        # skipped under the page's h1) is hidden by ui/style.py.
        with sign_in_tab, st.container(key="sign-in-form"):
            try:
                authenticator.login(
                    location="main",
                    key="sign-in",
                    fields={
                        "Form name": "Sign in",
                        "Username": "Username",
                        "Password": "Password",
                        "Login": "Sign in",
                    },
                )
            except stauth.LoginError as error:
                st.error(str(error))
            result = outcome.get("result")
            if result is not None and result.account is not None:
                start_session(engine, result.account, password_checked_at=outcome["checked_at"])
            elif result is not None:
                _explain_failed_sign_in(result)
                # Handled: a later rerun (another form, a tab) must not show it again.
                state["authentication_status"] = None
        if sign_up_tab:
            with sign_up_tab[0]:
                _draw_sign_up(engine, first_account)


def _explain_failed_sign_in(result: accounts.SignInResult) -> None:
    # The same words whether or not the username exists; the lockout applies to any username.
    if result.temporary_password_expired:
        st.error(
            "This temporary password has expired. Ask your administrator to reset your password."
        )
    elif result.locked_until is not None:
        minutes = max(1, round((result.locked_until - utcnow()).total_seconds() / 60))
        st.error(f"Too many failed sign-ins for this username. Try again in {minutes} minutes.")
    else:
        st.error("Wrong username or password.")


def _draw_sign_up(engine: Engine, first: bool) -> None:
    if first:
        st.caption("No account exists yet: the first account created becomes the administrator.")
    with st.form("sign-up", clear_on_submit=False):
        username = st.text_input(
            "Username",
            help="3 to 64 characters: lower-case letters, digits, dot, dash, underscore.",
        )
        display_name = st.text_input("Display name (optional)")
        password = st.text_input(
            "New password",
            type="password",
            help=f"At least {accounts.MIN_PASSWORD_CHARS} characters.",
        )
        repeat = st.text_input("Repeat the password", type="password")
        submitted = st.form_submit_button("Create account", type="primary")
    if not submitted:
        return
    if password != repeat:
        st.error("The two passwords differ.")
        return
    try:
        account = accounts.create_account(
            engine, username=username, password=password, display_name=display_name.strip()
        )
    except AccountError as error:
        st.error(str(error))
        return
    start_session(engine, account, password_checked_at=account.created_at)


def current_account() -> Account:
    """The account app.py resolved for this run (pages run only after the gate let them in)."""
    account = st.session_state.get(ACCOUNT_KEY)
    if account is None:
        _run_app_in_place()
    return account


def _run_app_in_place() -> NoReturn:
    """Run app.py here, for a page that ran without it, and end this run when it is done.

    Until app.py first calls st.navigation in a new server process, Streamlit serves pages/ as
    a classic multipage app: a tab left open across an app restart reconnects, and its next
    action runs that page alone, with Streamlit's listing of pages/ in the sidebar. Run here,
    app.py does in this same run what it always does (the gate, its own navigation and account
    menu, then the page, again from the top), so what the action carried (a question typed in
    the chat box, a click) reaches the page; st.switch_page to app.py would drop it. From here
    on the process is an st.navigation app, and every run starts in app.py."""
    if getattr(_app_in_place, "running", False):
        # app.py ran a page with no account resolved: never by design, but never a loop either.
        st.error("Please sign in.")
        st.stop()
    PagesManager.uses_pages_directory = False
    _app_in_place.running = True
    try:
        runpy.run_path(str(APP_PATH), run_name="__main__")
    finally:
        _app_in_place.running = False
    st.stop()


def require_admin() -> Account:
    """The current account if it is an administrator; anything else sees nothing."""
    account = current_account()
    if not account.is_admin:
        st.error("This page is for administrators.")
        st.stop()
    return account


def end_session(account: Account, notice: str = "signed-out") -> NoReturn:
    """After this session's sign-in of `account` ended in the database: forget it here, and
    have the browser's cookie removed (by the app's own route), landing on the sign-in page
    with the notice named by `notice` (a key of web.routes.NOTICES)."""
    _forget_sign_in()
    if browser_token() is None:
        # No cookie was ever handed to this client: nothing to remove in the browser.
        st.session_state[NOTICE_KEY] = NOTICES[notice]
        st.rerun()
    query = urlencode({"notice": notice, "user": account.id})
    _leave_page(f"{SIGNED_OUT_PATH}?{query}", NOTICES[notice])


def sign_out(engine: Engine, account: Account, *, everywhere: bool = False) -> NoReturn:
    """Sign out this device, or every device of this account."""
    if everywhere:
        accounts.end_all_sign_ins(engine, user_id=account.id)
    else:
        accounts.end_sign_in(
            engine, user_id=account.id, sign_in_id=st.session_state.get(SIGN_IN_KEY, "")
        )
    end_session(account, "signed-out-everywhere" if everywhere else "signed-out")


def account_menu(engine: Engine, account: Account) -> None:
    """Who is signed in, and the sign-out button, at the foot of the sidebar."""
    with st.sidebar:
        st.divider()
        st.caption(
            f"Signed in as **{account.username}**" + (" · admin" if account.is_admin else "")
        )
        if st.button("Sign out", icon=":material/logout:", width="stretch"):
            sign_out(engine, account)
