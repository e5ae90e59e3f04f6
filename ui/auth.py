"""The sign-in gate: streamlit-authenticator's form and cookie, with the database as the truth.

streamlit-authenticator renders the sign-in form and checks the bcrypt hash; its cookie format
({username, exp_date}, signed HS256) is kept, but the cookie is read here from the request and
set through ui/cookies.py. What it does not do is done here, on every run, against the
accounts core: the user must still exist and be enabled; the sign-in (form or cookie) must be
newer than the user's last sign-out, password change or disabling (so those revoke every cookie
the user holds); failed sign-ins are counted in the database, where the lockout lives.

app.py calls `require_account` once per run; pages call `current_account` / `require_admin`
(a page that ran without app.py has `current_account` run app.py in its place).
"""

from __future__ import annotations

import contextlib
import runpy
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import jwt
import streamlit as st
import streamlit_authenticator as stauth
from sqlalchemy import Engine
from streamlit.runtime.pages_manager import PagesManager

import accounts
import settings
from accounts import Account, AccountError
from settings import ConfigurationError
from ui.cookies import COOKIE_TEXT, draw_cookie_deleter, draw_cookie_setter

ACCOUNT_KEY = "account"
SIGNED_IN_AT_KEY = "signed_in_at"
STALE_COOKIE_KEY = "stale_cookie_deleted"
NOTICE_KEY = "sign_in_notice"
# Cookie changes are drawn on the runs after a sign-in or sign-out: the run that signs in or
# out ends with an immediate rerun, which would replace a script before the browser ran it.
# This holds the cookie value to delete: only that value, never one another tab set since.
DELETE_COOKIE_KEY = "delete_cookie"
# The cookie made at a sign-in by form, drawn on every signed-in run (the script writes it once
# per tab), so no run can end before one of them has set it.
COOKIE_TO_SET_KEY = "cookie_to_set"
# The cookie value this session signed in with (made here, or brought by the browser).
SESSION_COOKIE_KEY = "session_cookie"
# The cookie manager component the authenticator draws on the sign-in page does its work
# unseen; without this it shows as an empty bar above the form. Only its height goes: with no
# width Streamlit never mounts it.
HIDE_COOKIE_MANAGER_CSS = """<style>
.st-key-init { height: 0; min-height: 0; overflow: hidden; }
</style>"""
SECONDS_PER_DAY = 86_400
APP_PATH = Path(__file__).resolve().parents[1] / "app.py"
# Set while app.py runs inside a page's run (per script thread: each session has its own).
_app_in_place = threading.local()
# A cookie whose implied issue time lies further in the future than this was not issued by this
# configuration (e.g. AUTH_COOKIE_DAYS was lowered since): refuse it rather than trust it.
CLOCK_SLACK_SECONDS = 60


def cookie_name() -> str:
    name = settings.get("AUTH_COOKIE_NAME", "chat_auth") or "chat_auth"
    if not COOKIE_TEXT.fullmatch(name):
        raise ConfigurationError(
            f"AUTH_COOKIE_NAME {name[:40]!r} is not a cookie name: use letters, digits and . _ ~ -"
        )
    return name


def cookie_days() -> float:
    return settings.get_float("AUTH_COOKIE_DAYS", 7.0)


class DatabaseUsers(dict[str, dict[str, Any]]):
    """The authenticator's `credentials["usernames"]`, filled on demand with just the usernames
    it asks about, and only while they may sign in (they exist, are enabled, are not locked).

    Loading every user into the credentials dict on every run would not stay fast with many
    users; this loads one row. `asked` remembers the last username looked up, so a failed
    sign-in can be counted against it."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.asked: str | None = None

    def _load(self, username: object) -> bool:
        if not isinstance(username, str) or not username:
            return False
        self.asked = username
        if dict.__contains__(self, username):
            return True
        entry = accounts.sign_in_entry(self.engine, username=username)
        if entry is None:
            return False
        self[username] = {
            "password": entry.password_hash,
            "name": entry.account.display_name or entry.account.username,
            "email": entry.account.email,
            "roles": [entry.account.role],
            "failed_login_attempts": 0,
            "logged_in": False,
        }
        return True

    def __contains__(self, username: object) -> bool:
        return self._load(username)

    def __missing__(self, username: str) -> dict[str, Any]:
        if self._load(username):
            return dict.__getitem__(self, username)
        raise KeyError(username)

    def get(self, username: str, default: Any = None) -> Any:  # type: ignore[override]
        return dict.__getitem__(self, username) if self._load(username) else default


def _authenticator(engine: Engine) -> tuple[stauth.Authenticate, DatabaseUsers]:
    # Only on the sign-in page: creating it draws the cookie manager's getAll component.
    credentials: dict[str, Any] = {"usernames": {}}
    authenticator = stauth.Authenticate(
        credentials,
        cookie_name=cookie_name(),
        cookie_key=settings.auth_cookie_key(),
        # 0: the authenticator sets no cookie itself. Its cookie manager component would report
        # back that it did, and that report reruns the page during the user's first answer.
        cookie_expiry_days=0,
        auto_hash=False,
        # The cookie is read from the request headers (st.context), so no wait is needed.
        login_sleep_time=0,
    )
    st.html(HIDE_COOKIE_MANAGER_CSS)
    users = DatabaseUsers(engine)
    # The authenticator keeps a reference to this dict: swapping the entry after construction
    # (which replaces it with a plain dict) makes every lookup go to the database.
    credentials["usernames"] = users
    return authenticator, users


def _cookie_sign_in(engine: Engine) -> tuple[Account, datetime] | None:
    """The account and issue time of the browser's sign-in cookie, if it is genuine, unexpired
    and still current for an enabled user; None for no cookie; LookupError for a refused one."""
    raw = st.context.cookies.get(cookie_name())
    if not raw:
        return None
    try:
        claims = jwt.decode(raw, settings.auth_cookie_key(), algorithms=["HS256"])
    except jwt.PyJWTError as error:
        raise LookupError("the sign-in cookie is not signed by this app") from error
    username, expires = claims.get("username"), claims.get("exp_date")
    if not isinstance(username, str) or not isinstance(expires, int | float):
        raise LookupError("the sign-in cookie is malformed")
    now = time.time()
    issued = expires - cookie_days() * SECONDS_PER_DAY
    if expires <= now or issued > now + CLOCK_SLACK_SECONDS:
        raise LookupError("the sign-in cookie has expired")
    signed_in_at = datetime.fromtimestamp(issued, UTC)
    account = accounts.find_account(engine, username=username)
    if account is None or not accounts.sign_in_is_current(account, signed_in_at=signed_in_at):
        raise LookupError("the sign-in cookie was revoked")
    return account, signed_in_at


def _forget_sign_in() -> None:
    for key in (ACCOUNT_KEY, SIGNED_IN_AT_KEY):
        st.session_state.pop(key, None)
    for key in ("name", "username", "authentication_status", "email", "roles"):
        st.session_state[key] = None


def _check_cookie(engine: Engine) -> tuple[Account, datetime] | None:
    """The account of a cookie the database still honours, and when it was issued. Any other
    cookie is deleted from the browser, once."""
    try:
        return _cookie_sign_in(engine)
    except LookupError:
        state = st.session_state
        if not state.get(STALE_COOKIE_KEY):
            state[STALE_COOKIE_KEY] = True
            state[DELETE_COOKIE_KEY] = st.context.cookies.get(cookie_name())
        return None


def _mark_signed_in(account: Account, signed_in_at: datetime) -> None:
    """The session state streamlit-authenticator keeps for a signed-in user, and ours."""
    state = st.session_state
    state["authentication_status"] = True
    state["username"] = account.username
    state["name"] = account.display_name or account.username
    state["roles"] = [account.role]
    state[SIGNED_IN_AT_KEY] = signed_in_at
    state.pop(NOTICE_KEY, None)


def require_account(engine: Engine) -> Account | None:
    """The signed-in, current account, or None when the sign-in page must be shown."""
    # On every run: an unsafe key or cookie name stops the app, signed in or not.
    settings.auth_cookie_key()
    cookie_name()
    # The cookie scripts are drawn in this fixed slot: drawn straight into the page they would
    # shift everything after them by one element on the runs that draw them, and the browser
    # would briefly show the page twice while it redraws.
    cookie_slot = st.empty()
    state = st.session_state
    if state.get("authentication_status") and state.get(SIGNED_IN_AT_KEY):
        account = accounts.find_account(engine, username=state.get("username") or "")
        if account is not None and accounts.sign_in_is_current(
            account, signed_in_at=state[SIGNED_IN_AT_KEY]
        ):
            state[ACCOUNT_KEY] = account
            accounts.touch_last_active(engine, user_id=account.id)
            if COOKIE_TO_SET_KEY in state:
                token, expires = state[COOKIE_TO_SET_KEY]
                with cookie_slot.container():
                    draw_cookie_setter(cookie_name(), token, expires)
            return account
        # Signed out elsewhere, password changed, disabled or deleted: this session ends too.
        _end_sign_in("You were signed out. Please sign in again.")
    # Cookies are read here alone, from the request, so a link to any page opens that page in
    # this very run; the authenticator would read them a run later through its component, and
    # without the revocation check.
    found = _check_cookie(engine)
    if found is not None:
        account, signed_in_at = found
        _mark_signed_in(account, signed_in_at)
        state[SESSION_COOKIE_KEY] = st.context.cookies.get(cookie_name())
        state[ACCOUNT_KEY] = account
        accounts.touch_last_active(engine, user_id=account.id)
        return account
    stale = state.pop(DELETE_COOKIE_KEY, None)
    if stale:
        with cookie_slot.container():
            draw_cookie_deleter(cookie_name(), stale)
    return None


def _prepare_cookie(username: str) -> None:
    """Make the sign-in cookie (the authenticator's format) to be set on the coming runs."""
    expires = datetime.now(UTC) + timedelta(days=cookie_days())
    token = jwt.encode(
        {"username": username, "exp_date": expires.timestamp()},
        settings.auth_cookie_key(),
        algorithm="HS256",
    )
    st.session_state[COOKIE_TO_SET_KEY] = (token, expires)
    st.session_state[SESSION_COOKIE_KEY] = token


def _end_sign_in(notice: str) -> None:
    _forget_sign_in()
    state = st.session_state
    state[NOTICE_KEY] = notice
    state.pop(COOKIE_TO_SET_KEY, None)
    state[DELETE_COOKIE_KEY] = state.pop(SESSION_COOKIE_KEY, None)
    st.rerun()


def sign_in_page(engine: Engine) -> st.Page:
    """The only page a signed-out visitor can reach: sign in, or create an account."""

    def draw() -> None:
        authenticator, users = _authenticator(engine)
        # Cookies were handled before this page (require_account); `logout` makes the
        # authenticator skip them.
        st.session_state["logout"] = True
        _draw_sign_in(engine, authenticator, users)

    return st.Page(draw, title="Sign in", icon=":material/login:", url_path="sign-in", default=True)


def _draw_sign_in(
    engine: Engine,
    authenticator: stauth.Authenticate,
    users: DatabaseUsers,
) -> None:
    state = st.session_state
    _, column, _ = st.columns([1, 2, 1])
    with column:
        st.title("Chat")
        # Kept until the next sign-in: popped here, it would vanish on the rerun the cookie
        # manager causes a moment later, and the form below it would jump.
        notice = state.get(NOTICE_KEY)
        if notice:
            st.info(notice)
        first_account = accounts.count_accounts(engine) == 0
        can_sign_up = first_account or accounts.signup_enabled(engine)
        tabs = ["Sign in", "Create account"] if can_sign_up else ["Sign in"]
        sign_in_tab, *sign_up_tab = st.tabs(tabs)
        with sign_in_tab:
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
            status = state.get("authentication_status")
            if status:
                # Only the form signs in here: cookies were handled before this page.
                state[SIGNED_IN_AT_KEY] = datetime.now(UTC)
                state.pop(NOTICE_KEY, None)
                accounts.clear_failed_sign_ins(engine, username=state["username"])
                _prepare_cookie(state["username"])
                st.rerun()
            elif status is False:
                _explain_failed_sign_in(engine, users.asked)
                # Handled: a later rerun (another form, a tab) must not count it again.
                state["authentication_status"] = None
        if sign_up_tab:
            with sign_up_tab[0]:
                _draw_sign_up(engine, first_account)


def _explain_failed_sign_in(engine: Engine, username: str | None) -> None:
    # The same words whether or not the username exists; the lockout applies to any username.
    locked_until = None
    if username:
        locked_until = accounts.record_failed_sign_in(engine, username=username)
    if locked_until is not None:
        minutes = max(1, round((locked_until - datetime.now(UTC)).total_seconds() / 60))
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
    sign_in_directly(account)


def sign_in_directly(account: Account) -> None:
    """Sign `account` in now (after it was just created) and set the sign-in cookie."""
    _mark_signed_in(account, datetime.now(UTC))
    _prepare_cookie(account.username)
    st.rerun()


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


def sign_out(engine: Engine, account: Account, *, notice: str = "You are signed out.") -> None:
    """Sign out everywhere: every cookie this user holds stops working, on every device."""
    # A deleted account has no sign-in left to revoke.
    with contextlib.suppress(accounts.AccountNotFound):
        accounts.revoke_sign_ins(engine, user_id=account.id)
    _end_sign_in(notice)


def account_menu(engine: Engine, account: Account) -> None:
    """Who is signed in, and the sign-out button, at the foot of the sidebar."""
    with st.sidebar:
        st.divider()
        st.caption(
            f"Signed in as **{account.username}**" + (" · admin" if account.is_admin else "")
        )
        if st.button("Sign out", icon=":material/logout:", width="stretch"):
            sign_out(engine, account)
