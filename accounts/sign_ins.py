"""Server-side sign-ins: the browser's sign-in cookie is an opaque random token, and the
database keeps only its SHA-256, the sign-in's own expiry and a short device summary, so each
sign-in can be listed and ended on its own.

A sign-in is made in a Streamlit script run (the form), but a cookie can only be set by an HTTP
response of the app's own route. So `start_sign_in` also makes a one-time handover ticket, which
the browser exchanges at that route (`complete_handover`) for the HttpOnly cookie. The ticket is
bound to the "browser" cookie (an HttpOnly random value the server gave the browser before the
form was shown): only a request carrying the same value can exchange it, which stops login CSRF
(an attacker cannot sign a victim's browser in to the attacker's account with a ticket of
their own). A ticket is good once, for HANDOVER_SECONDS.

Each row's expiry is fixed when it is made (created_at + lifetime), so lowering the configured
lifetime later changes only new sign-ins, and ending a sign-in deletes its row: nothing can
revive it. `users.revoke_sign_ins` (sign out everywhere, password change or reset, disabling)
deletes every row of the user; deleting the account cascades.

sign_in, ticket = start_sign_in(engine, user_id=account.id, device=device_summary(agent),
                                browser=browser_cookie, lifetime=timedelta(days=7))
handover = complete_handover(engine, ticket=ticket, browser=browser_cookie)  # at the route
found = find_sign_in(engine, token=cookie)  # (account, sign_in) or None
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Engine, Row, delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from accounts.errors import AccountError, AccountNotFound, AccountsUnavailable
from accounts.models import SignInRecord, User
from accounts.tokens import browser_digest, digest, looks_like_token, new_token
from accounts.users import ACCOUNT_COLUMNS, Account, account_from_row
from accounts.validation import could_be_account_id
from database import utcnow, write_transaction
from database.outages import module_outages_raise
from database.stamps import stamp_at_most_every

HANDOVER_SECONDS = 60
HANDOVER_LIFETIME = timedelta(seconds=HANDOVER_SECONDS)
# last_seen_at is written at most this often per sign-in: it is touched on every page run.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
MAX_DEVICE_CHARS = 100
MAX_NEXT_PATH_CHARS = 2048
# A user agent longer than this is cut before it is parsed (real ones are a few hundred).
_MAX_USER_AGENT_CHARS = 1000
UNKNOWN_BROWSER = "Unknown browser"

_sign_ins = SignInRecord.__table__
_users = User.__table__
_SIGN_IN_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class SignIn:
    """One sign-in as the app sees it: never the token or the ticket, only their owner, the
    device, the times and where the handover leads. `handed_over` once the cookie was issued."""

    id: str
    user_id: str
    device: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    next_path: str
    handed_over: bool


@dataclass(frozen=True)
class Handover:
    """A completed handover: the cookie token to set (shown this once, never stored), the
    sign-in it belongs to and the relative path to redirect to."""

    token: str
    sign_in: SignIn
    next_path: str


_SIGN_IN_COLUMNS = (
    _sign_ins.c.id.label("sign_in_id"),
    _sign_ins.c.user_id,
    _sign_ins.c.device,
    _sign_ins.c.created_at.label("sign_in_created_at"),
    _sign_ins.c.last_seen_at,
    _sign_ins.c.expires_at,
    _sign_ins.c.next_path,
    _sign_ins.c.token_hash,
)


def _sign_in_from_row(row: Row) -> SignIn:
    return SignIn(
        id=row.sign_in_id,
        user_id=row.user_id,
        device=row.device,
        created_at=row.sign_in_created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
        next_path=row.next_path,
        handed_over=row.token_hash is not None,
    )


def _could_be_sign_in_id(sign_in_id: object) -> bool:
    return isinstance(sign_in_id, str) and _SIGN_IN_ID.fullmatch(sign_in_id) is not None


def safe_next_path(next_path: object) -> str:
    """`next_path` if it is a relative path on this site, else "/": it must start with one
    "/" (not "//", which a browser reads as another host), hold no backslash (some read it as
    "/") and only printable ASCII (no control characters, no spaces: the route percent-encodes
    nothing), and fit its column."""
    if (
        not isinstance(next_path, str)
        or not next_path.startswith("/")
        or next_path.startswith("//")
        or "\\" in next_path
        or len(next_path) > MAX_NEXT_PATH_CHARS
        or not all("!" <= char <= "~" for char in next_path)
    ):
        return "/"
    return next_path


def _clean_device(device: object) -> str:
    if not isinstance(device, str):
        return UNKNOWN_BROWSER
    text = "".join(char if char.isprintable() else " " for char in device)
    text = " ".join(text.split())[:MAX_DEVICE_CHARS].strip()
    return text or UNKNOWN_BROWSER


def start_sign_in(
    engine: Engine,
    *,
    user_id: str,
    device: str,
    browser: str | None,
    lifetime: timedelta,
    next_path: str = "/",
    password_checked_at: datetime | None = None,
    now: datetime | None = None,
) -> tuple[SignIn, str | None]:
    """Record a new sign-in of an enabled user, valid for `lifetime` from now; returns it and
    the handover ticket for the browser whose "browser" cookie is `browser`.

    `password_checked_at` is when the password this sign-in rests on was checked: if the user
    was signed out everywhere since (a password change landing during that check), the sign-in
    is refused, so no sign-in made with an old password outlives the change.

    With no `browser` (e.g. a headless client without cookies) there is no ticket: the sign-in
    still counts for the Streamlit session that keeps its id (`get_sign_in`). Raises
    AccountNotFound for no such user, AccountError for a disabled one, one signed out since
    `password_checked_at`, or a lifetime <= 0."""
    if lifetime <= timedelta(0):
        raise AccountError("a sign-in's lifetime must be positive")
    if not could_be_account_id(user_id):
        raise AccountNotFound("no such account")
    now = now or utcnow()
    browser_hash = browser_digest(browser)
    ticket = None if browser_hash is None else new_token()
    values = {
        "id": uuid.uuid4().hex,
        "user_id": user_id,
        "token_hash": None,
        "handover_hash": None if ticket is None else digest(ticket),
        "handover_browser": browser_hash,
        "handover_expires_at": None if ticket is None else now + HANDOVER_LIFETIME,
        "next_path": safe_next_path(next_path),
        "created_at": now,
        "last_seen_at": now,
        "expires_at": now + lifetime,
        "device": _clean_device(device),
    }
    try:
        with write_transaction(engine) as conn:
            user = conn.execute(
                select(_users.c.disabled, _users.c.sessions_valid_after).where(
                    _users.c.id == user_id
                )
            ).first()
            if user is None:
                raise AccountNotFound("no such account")
            if user.disabled:
                raise AccountError("this account is disabled")
            if password_checked_at is not None and user.sessions_valid_after > password_checked_at:
                raise AccountError("this account was signed out everywhere: sign in again")
            conn.execute(_sign_ins.insert().values(**values))
    except IntegrityError:
        # The account was deleted between the check and the insert (PostgreSQL).
        raise AccountNotFound("no such account") from None
    sign_in = SignIn(
        id=values["id"],
        user_id=user_id,
        device=values["device"],
        created_at=now,
        last_seen_at=now,
        expires_at=values["expires_at"],
        next_path=values["next_path"],
        handed_over=False,
    )
    return sign_in, ticket


def complete_handover(
    engine: Engine, *, ticket: str, browser: str | None, now: datetime | None = None
) -> Handover | None:
    """Exchange a handover ticket for the sign-in cookie's token, or None.

    Only once (a concurrent second exchange of the same ticket gets None), only from the
    browser it was made for, only before it expires, only while the sign-in is unexpired and
    its user enabled. The ticket is spent and the token's hash stored in one UPDATE whose
    WHERE repeats every condition, so of two exchanges exactly one can match."""
    browser_hash = browser_digest(browser)
    if not looks_like_token(ticket) or browser_hash is None:
        return None
    now = now or utcnow()
    ticket_hash = digest(ticket)
    enabled_users = select(_users.c.id).where(_users.c.disabled.is_(False))
    token = new_token()
    with write_transaction(engine) as conn:
        sign_in_id = conn.scalar(
            select(_sign_ins.c.id).where(_sign_ins.c.handover_hash == ticket_hash)
        )
        if sign_in_id is None:
            return None
        spent = conn.execute(
            update(_sign_ins)
            .where(
                _sign_ins.c.id == sign_in_id,
                _sign_ins.c.handover_hash == ticket_hash,
                _sign_ins.c.handover_browser == browser_hash,
                _sign_ins.c.handover_expires_at > now,
                _sign_ins.c.expires_at > now,
                _sign_ins.c.user_id.in_(enabled_users),
            )
            .values(
                token_hash=digest(token),
                handover_hash=None,
                handover_browser=None,
                handover_expires_at=None,
            )
        ).rowcount
        if spent != 1:
            return None
        row = conn.execute(select(*_SIGN_IN_COLUMNS).where(_sign_ins.c.id == sign_in_id)).one()
    sign_in = _sign_in_from_row(row)
    return Handover(token=token, sign_in=sign_in, next_path=sign_in.next_path)


def _find(
    engine: Engine, condition: ColumnElement[bool], now: datetime
) -> tuple[Account, SignIn] | None:
    query = (
        select(*ACCOUNT_COLUMNS, *_SIGN_IN_COLUMNS)
        .select_from(_sign_ins.join(_users, _users.c.id == _sign_ins.c.user_id))
        .where(
            condition,
            _sign_ins.c.expires_at > now,
            _users.c.disabled.is_(False),
            # A sign-in made with a temporary password ends when that password does.
            or_(_users.c.password_expires_at.is_(None), _users.c.password_expires_at > now),
        )
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else (account_from_row(row), _sign_in_from_row(row))


def find_sign_in(
    engine: Engine, *, token: str, now: datetime | None = None
) -> tuple[Account, SignIn] | None:
    """The account and sign-in of a sign-in cookie's token; None if the token is malformed or
    unknown, the sign-in ended or expired, or its user is disabled or deleted."""
    if not looks_like_token(token):
        return None
    return _find(engine, _sign_ins.c.token_hash == digest(token), now or utcnow())


def get_sign_in(
    engine: Engine, *, sign_in_id: str, now: datetime | None = None
) -> tuple[Account, SignIn] | None:
    """The account and sign-in with this id (what a Streamlit session keeps), under the same
    checks as `find_sign_in`."""
    if not _could_be_sign_in_id(sign_in_id):
        return None
    return _find(engine, _sign_ins.c.id == sign_in_id, now or utcnow())


def touch_sign_in(
    engine: Engine,
    *,
    sign_in_id: str,
    now: datetime | None = None,
    last_seen_at: datetime | None = None,
) -> None:
    """Note that the sign-in was used now; writes at most once a minute per sign-in.
    `last_seen_at`, if the caller has just read it, saves the read in the common case."""
    if not _could_be_sign_in_id(sign_in_id):
        return
    stamp_at_most_every(
        engine,
        _sign_ins.c.last_seen_at,
        key=sign_in_id,
        now=now or utcnow(),
        every=LAST_SEEN_RESOLUTION,
        known=last_seen_at,
    )


def list_sign_ins(engine: Engine, *, user_id: str, now: datetime | None = None) -> list[SignIn]:
    """The user's unexpired sign-ins, the most recently seen first."""
    if not could_be_account_id(user_id):
        return []
    query = (
        select(*_SIGN_IN_COLUMNS)
        .where(_sign_ins.c.user_id == user_id, _sign_ins.c.expires_at > (now or utcnow()))
        .order_by(_sign_ins.c.last_seen_at.desc(), _sign_ins.c.created_at.desc(), _sign_ins.c.id)
    )
    with engine.connect() as conn:
        return [_sign_in_from_row(row) for row in conn.execute(query)]


def end_sign_in(engine: Engine, *, user_id: str, sign_in_id: str) -> bool:
    """End one of the user's own sign-ins; True if it existed. Another user's id does nothing."""
    if not could_be_account_id(user_id) or not _could_be_sign_in_id(sign_in_id):
        return False
    with write_transaction(engine) as conn:
        ended = conn.execute(
            delete(_sign_ins).where(_sign_ins.c.id == sign_in_id, _sign_ins.c.user_id == user_id)
        ).rowcount
    return ended > 0


def end_all_sign_ins(engine: Engine, *, user_id: str) -> int:
    """End every sign-in of the user; returns how many there were. (`revoke_sign_ins` does
    this too, and also moves `sessions_valid_after`.)"""
    if not could_be_account_id(user_id):
        return 0
    with write_transaction(engine) as conn:
        return conn.execute(delete(_sign_ins).where(_sign_ins.c.user_id == user_id)).rowcount


def prune_sign_ins(engine: Engine, *, now: datetime | None = None) -> int:
    """Delete sign-ins whose expiry has passed; returns how many (run it daily)."""
    with write_transaction(engine) as conn:
        return conn.execute(
            delete(_sign_ins).where(_sign_ins.c.expires_at <= (now or utcnow()))
        ).rowcount


# --- the device summary --------------------------------------------------------------------

# Most specific first: Edge, Opera and Samsung Internet also say "Chrome/", Chrome says
# "Safari/", and iOS browsers name themselves with their own tokens.
_BROWSERS = (
    ("Edge", re.compile(r"\b(?:Edg|EdgA|EdgiOS|Edge)/(\d{1,4})")),
    ("Opera", re.compile(r"\b(?:OPR|OPiOS)/(\d{1,4})")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/(\d{1,4})")),
    ("Firefox", re.compile(r"\b(?:Firefox|FxiOS)/(\d{1,4})")),
    ("Chrome (headless)", re.compile(r"\bHeadlessChrome/(\d{1,4})")),
    ("Chrome", re.compile(r"\b(?:Chrome|CriOS)/(\d{1,4})")),
    ("Safari", re.compile(r"\bVersion/(\d{1,4})(?:[.\d]*)? (?:Mobile/\S+ )?Safari/")),
)
# iOS first: its user agents say "like Mac OS X"; Android's say "Linux".
_SYSTEMS = (
    ("iOS", re.compile(r"\b(?:iPhone|iPad|iPod)\b")),
    ("Android", re.compile(r"\bAndroid\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("macOS", re.compile(r"\bMac OS X\b|\bMacintosh\b")),
    ("Linux", re.compile(r"\bLinux\b|\bX11\b")),
)


def device_summary(user_agent: str) -> str:
    """A short summary of a User-Agent header for the list of sign-ins: "Firefox 133 on
    Windows", "Chrome 156 (headless) on Linux", or "Unknown browser" when it names no browser
    this knows. Pure string parsing; at most MAX_DEVICE_CHARS characters."""
    if not isinstance(user_agent, str):
        return UNKNOWN_BROWSER
    agent = user_agent[:_MAX_USER_AGENT_CHARS]
    browser = UNKNOWN_BROWSER
    for name, pattern in _BROWSERS:
        match = pattern.search(agent)
        if match:
            version = int(match.group(1))
            browser = (
                f"Chrome {version} (headless)"
                if name == "Chrome (headless)"
                else f"{name} {version}"
            )
            break
    system = next((name for name, pattern in _SYSTEMS if pattern.search(agent)), None)
    if browser == UNKNOWN_BROWSER:
        # Junk, a script or a bot: no system either, rather than a guess from a stray word.
        return UNKNOWN_BROWSER
    summary = browser if system is None else f"{browser} on {system}"
    return summary[:MAX_DEVICE_CHARS]


# Every public function here reports an unreachable database as AccountsUnavailable.
module_outages_raise(globals(), AccountsUnavailable)
