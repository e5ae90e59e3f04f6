"""Accounts: who may use the app, their role, and which of their sign-ins still count.

A user row holds an opaque id (uuid4 hex; chat histories and the audit log key on it, never on
the name), the normalised username, a bcrypt hash, the role and the switches below. Revocation
is one timestamp, `sessions_valid_after`: a sign-in made before it no longer counts, so signing
out everywhere, changing or resetting the password and disabling the account each just move it
to now, and in the same transaction delete every server-side sign-in of the user
(accounts/sign_ins.py). A new password also forgets the browsers that signed in with the old
one, so they no longer pass the username's ceiling on failed sign-ins. The checks that must see
concurrent writers (first account becomes admin, never lose the last enabled admin) run in a
transaction serialised under one key, ACCOUNTS_KEY."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, Engine, Row, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from accounts.errors import (
    AccountError,
    AccountNotFound,
    AccountsUnavailable,
    LastAdmin,
    SignupClosed,
    UsernameTaken,
    WrongPassword,
)
from accounts.lockout import clear_failures, forget_known_browsers
from accounts.models import SignInRecord, User
from accounts.passwords import hash_password, password_matches
from accounts.transactions import serialised_transaction
from accounts.validation import (
    check_display_name,
    check_email,
    check_password,
    check_role,
    check_username,
    could_be_account_id,
    is_valid_username,
    normalise_username,
)
from database import utcnow, write_transaction
from database.app_settings import read_setting, write_setting
from database.outages import module_outages_raise
from database.stamps import stamp_at_most_every

ADMIN, USER = "admin", "user"
ACCOUNTS_KEY = "accounts"
SIGNUP_SETTING = "signup_enabled"
# A fresh install is open for sign-up; the first account (the admin) can close it.
SIGNUP_DEFAULT = True
# last_active_at is written at most this often per user: it is touched on every page run.
LAST_ACTIVE_RESOLUTION = timedelta(minutes=1)
MAX_PAGE = 1000
TEMPORARY_PASSWORD_EXPIRED = (
    "this temporary password has expired: ask your administrator to reset your password"
)

_users = User.__table__
_sign_ins = SignInRecord.__table__


@dataclass(frozen=True)
class Account:
    """One user, without the password hash."""

    id: str
    username: str
    display_name: str
    email: str
    role: str
    disabled: bool
    created_at: datetime
    last_active_at: datetime | None
    sessions_valid_after: datetime
    locked_until: datetime | None
    # Set while the password is a temporary one, to be replaced at first sign-in.
    password_expires_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        """True for an administrator."""
        return self.role == ADMIN

    @property
    def must_choose_password(self) -> bool:
        """True while the account's password is a temporary one (accounts/bulk_import.py)."""
        return self.password_expires_at is not None


ACCOUNT_COLUMNS = (
    _users.c.id,
    _users.c.username,
    _users.c.display_name,
    _users.c.email,
    _users.c.role,
    _users.c.disabled,
    _users.c.created_at,
    _users.c.last_active_at,
    _users.c.sessions_valid_after,
    _users.c.locked_until,
    _users.c.password_expires_at,
)
_SORTS = {
    "created_at": _users.c.created_at,
    "username": _users.c.username,
    "last_active_at": _users.c.last_active_at,
    "role": _users.c.role,
}


def account_from_row(row: Row) -> Account:
    """An Account from a row holding at least ACCOUNT_COLUMNS."""
    return Account(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        email=row.email,
        role=row.role,
        disabled=bool(row.disabled),
        created_at=row.created_at,
        last_active_at=row.last_active_at,
        sessions_valid_after=row.sessions_valid_after,
        locked_until=row.locked_until,
        password_expires_at=row.password_expires_at,
    )


def signup_enabled(engine: Engine) -> bool:
    """Whether anyone may create an account (the first account always may)."""
    stored = read_setting(engine, SIGNUP_SETTING)
    return SIGNUP_DEFAULT if stored is None else stored == "true"


def set_signup_enabled(engine: Engine, *, enabled: bool) -> None:
    """Open or close sign-up."""
    write_setting(engine, SIGNUP_SETTING, "true" if enabled else "false")


def has_accounts(conn: Connection) -> bool:
    """True once any account exists (the first one is the administrator)."""
    return conn.scalar(select(_users.c.id).limit(1)) is not None


def create_account(
    engine: Engine,
    *,
    username: str,
    password: str,
    display_name: str = "",
    email: str = "",
    role: str | None = None,
    via_signup: bool = True,
    now: datetime | None = None,
) -> Account:
    """Create an account. The very first one is an admin whatever `role` says; later sign-ups
    are users and need sign-up open; `via_signup=False` (the operator CLI) may choose the role."""
    username = check_username(username)
    check_password(password)
    display_name = check_display_name(display_name) or username
    email = check_email(email)
    if role is not None:
        check_role(role)
    # Refuse cheaply before spending a bcrypt hash; the transaction below checks again.
    with engine.connect() as conn:
        if via_signup and has_accounts(conn) and not signup_enabled(engine):
            raise SignupClosed("sign-up is closed: ask an administrator for an account")
        if _exists(conn, username):
            raise _taken(username)
    password_hash = hash_password(password)
    now = now or utcnow()
    try:
        with serialised_transaction(engine, key=ACCOUNTS_KEY) as conn:
            first = not has_accounts(conn)
            if via_signup and not first and not signup_enabled(engine):
                raise SignupClosed("sign-up is closed: ask an administrator for an account")
            if _exists(conn, username):
                raise _taken(username)
            if first:
                role = ADMIN
            elif via_signup or role is None:
                role = USER
            account = Account(
                id=uuid.uuid4().hex,
                username=username,
                display_name=display_name,
                email=email,
                role=role,
                disabled=False,
                created_at=now,
                last_active_at=None,
                sessions_valid_after=now,
                locked_until=None,
            )
            conn.execute(_users.insert().values(**asdict(account), password_hash=password_hash))
            # Failures counted while the name had no account belong to nobody: the new owner
            # must not start out locked by guesses aimed at an empty name.
            clear_failures(conn, username)
    except IntegrityError:
        # Only reachable if a writer bypassed the serialised transaction.
        raise _taken(username) from None
    return account


def _exists(conn: Connection, username: str) -> bool:
    return conn.scalar(select(_users.c.id).where(_users.c.username == username)) is not None


def _taken(username: str) -> UsernameTaken:
    return UsernameTaken(f"the username {username!r} is taken: choose another")


def get_account(engine: Engine, *, user_id: str) -> Account | None:
    """The account with this id, or None."""
    if not could_be_account_id(user_id):
        return None
    with engine.connect() as conn:
        row = conn.execute(select(*ACCOUNT_COLUMNS).where(_users.c.id == user_id)).first()
    return None if row is None else account_from_row(row)


def has_password(engine: Engine, *, user_id: str) -> bool:
    """False for an account that signs in only through a provider (sso/): it has no hash."""
    with engine.connect() as conn:
        stored = conn.scalar(select(_users.c.password_hash).where(_users.c.id == user_id))
    return bool(stored)


def find_account(engine: Engine, *, username: str) -> Account | None:
    """The account with this username (normalised as the sign-in form does), or None."""
    username = normalise_username(username)
    if not is_valid_username(username):
        return None
    with engine.connect() as conn:
        row = conn.execute(select(*ACCOUNT_COLUMNS).where(_users.c.username == username)).first()
    return None if row is None else account_from_row(row)


def _search_filter(search: str) -> ColumnElement[bool] | None:
    # NUL can be in no stored name, and PostgreSQL refuses it in a parameter.
    term = search.strip().replace("\x00", "")
    if not term:
        return None
    # autoescape makes % and _ match themselves, not any text.
    return or_(
        _users.c.username.icontains(term, autoescape=True),
        _users.c.display_name.icontains(term, autoescape=True),
    )


def list_accounts(
    engine: Engine,
    *,
    search: str = "",
    sort: str = "created_at",
    descending: bool = False,
    offset: int = 0,
    limit: int = 50,
) -> list[Account]:
    """One page of accounts whose username or display name contains `search` (any case),
    ordered by `sort` (created_at, username, last_active_at or role), then username."""
    column = _SORTS.get(sort)
    if column is None:
        raise AccountError(f"cannot sort accounts by {sort!r}: use one of {', '.join(_SORTS)}")
    if offset < 0 or not 1 <= limit <= MAX_PAGE:
        raise AccountError(f"offset must be >= 0 and limit between 1 and {MAX_PAGE}")
    query = select(*ACCOUNT_COLUMNS)
    condition = _search_filter(search)
    if condition is not None:
        query = query.where(condition)
    order = column.desc() if descending else column.asc()
    tie = _users.c.username.desc() if descending else _users.c.username.asc()
    # Never-active accounts go last both ways (the engines disagree on where NULL sorts).
    query = query.order_by(order.nulls_last(), tie).offset(offset).limit(limit)
    with engine.connect() as conn:
        return [account_from_row(row) for row in conn.execute(query)]


def count_accounts(engine: Engine, *, search: str = "") -> int:
    """How many accounts `list_accounts` would page through for `search`."""
    query = select(func.count()).select_from(_users)
    condition = _search_filter(search)
    if condition is not None:
        query = query.where(condition)
    with engine.connect() as conn:
        return int(conn.scalar(query) or 0)


def revoke(conn: Connection, user_id: str, now: datetime) -> None:
    # Only forward: an older `now` must never bring revoked sign-ins back.
    conn.execute(
        update(_users)
        .where(_users.c.id == user_id, _users.c.sessions_valid_after < now)
        .values(sessions_valid_after=now)
    )
    # Server-side sign-ins end whatever `now` says: a deleted row cannot come back.
    conn.execute(delete(_sign_ins).where(_sign_ins.c.user_id == user_id))


def require_row(conn: Connection, user_id: str) -> Row:
    row = None
    if could_be_account_id(user_id):
        row = conn.execute(
            select(*ACCOUNT_COLUMNS, _users.c.password_hash).where(_users.c.id == user_id)
        ).first()
    if row is None:
        raise AccountNotFound("no such account")
    return row


def revoke_sign_ins(engine: Engine, *, user_id: str, now: datetime | None = None) -> None:
    """Sign the user out everywhere: every sign-in made before now stops counting, and every
    server-side sign-in (accounts/sign_ins.py) is deleted in the same transaction."""
    with write_transaction(engine) as conn:
        require_row(conn, user_id)
        revoke(conn, user_id, now or utcnow())


def sign_in_is_current(account: Account, *, signed_in_at: datetime) -> bool:
    """True if a sign-in made at `signed_in_at` still counts for `account` (as read now).

    No slack: both engines keep microseconds, and a revocation always precedes the sign-ins it
    must allow, so an exact comparison neither refuses a fresh sign-in nor keeps a revoked one."""
    if signed_in_at.tzinfo is None:
        raise ValueError("signed_in_at must be timezone-aware")
    return not account.disabled and signed_in_at >= account.sessions_valid_after


def change_password(
    engine: Engine,
    *,
    user_id: str,
    current_password: str,
    new_password: str,
    now: datetime | None = None,
) -> None:
    """Change a user's own password after checking the current one; signs out everywhere. A
    temporary password is replaced this way too, while it lasts."""
    check_password(new_password)
    now = now or utcnow()
    with engine.connect() as conn:
        row = require_row(conn, user_id)
    if not password_matches(current_password, row.password_hash):
        raise WrongPassword("your current password is not right")
    if row.password_expires_at is not None and now >= row.password_expires_at:
        raise WrongPassword(TEMPORARY_PASSWORD_EXPIRED)
    _store_password(engine, user_id=user_id, new_password=new_password, now=now)


def reset_password(
    engine: Engine, *, username: str, new_password: str, now: datetime | None = None
) -> None:
    """Set a new password for `username` (the operator CLI): signs out everywhere and lifts a
    lockout, since the operator has just spoken to the owner."""
    check_password(new_password)
    account = find_account(engine, username=username)
    if account is None:
        raise AccountNotFound(f"no account is named {normalise_username(username)!r}")
    _store_password(engine, user_id=account.id, new_password=new_password, now=now or utcnow())
    with write_transaction(engine) as conn:
        clear_failures(conn, account.username)


def _store_password(engine: Engine, *, user_id: str, new_password: str, now: datetime) -> None:
    password_hash = hash_password(new_password)
    with write_transaction(engine) as conn:
        require_row(conn, user_id)
        conn.execute(
            update(_users)
            .where(_users.c.id == user_id)
            .values(password_hash=password_hash, password_expires_at=None)
        )
        revoke(conn, user_id, now)
        forget_known_browsers(conn, user_id)


def touch_last_active(
    engine: Engine,
    *,
    user_id: str,
    now: datetime | None = None,
    last_active_at: datetime | None = None,
) -> None:
    """Note that the user is active now; writes at most once a minute per user.
    `last_active_at`, if the caller has just read it, saves the read in the common case."""
    if not could_be_account_id(user_id):
        return
    stamp_at_most_every(
        engine,
        _users.c.last_active_at,
        key=user_id,
        now=now or utcnow(),
        every=LAST_ACTIVE_RESOLUTION,
        known=last_active_at,
    )


def _is_last_enabled_admin(conn: Connection, row: Row) -> bool:
    if row.role != ADMIN or row.disabled:
        return False
    others = conn.scalar(
        select(func.count())
        .select_from(_users)
        .where(_users.c.role == ADMIN, _users.c.disabled.is_(False), _users.c.id != row.id)
    )
    return not others


def set_disabled(engine: Engine, *, user_id: str, disabled: bool) -> None:
    """Disable (and sign out everywhere) or re-enable an account; never the last enabled admin."""
    now = utcnow()
    with serialised_transaction(engine, key=ACCOUNTS_KEY) as conn:
        row = require_row(conn, user_id)
        if disabled and _is_last_enabled_admin(conn, row):
            raise LastAdmin("this is the last enabled administrator: make another admin first")
        conn.execute(update(_users).where(_users.c.id == user_id).values(disabled=disabled))
        if disabled:
            revoke(conn, user_id, now)


def set_role(engine: Engine, *, user_id: str, role: str) -> None:
    """Make an account an admin or an ordinary user; never demote the last enabled admin."""
    check_role(role)
    with serialised_transaction(engine, key=ACCOUNTS_KEY) as conn:
        row = require_row(conn, user_id)
        if role != ADMIN and _is_last_enabled_admin(conn, row):
            raise LastAdmin("this is the last enabled administrator: make another admin first")
        conn.execute(update(_users).where(_users.c.id == user_id).values(role=role))


def ensure_deletable(engine: Engine, *, user_id: str) -> None:
    """Raise LastAdmin if deleting the account would leave no enabled administrator: asked
    before a user's chats are erased, so a refused deletion erases nothing."""
    if not could_be_account_id(user_id):
        return
    with engine.connect() as conn:
        row = conn.execute(select(*ACCOUNT_COLUMNS).where(_users.c.id == user_id)).first()
        if row is not None and _is_last_enabled_admin(conn, row):
            raise LastAdmin(
                "this is the last enabled administrator: make another admin before deleting it"
            )


def delete_account(engine: Engine, *, user_id: str) -> None:
    """Delete the account and its failed sign-ins (its sign-ins and known browsers go with it,
    by cascade); deleting twice is harmless. Chats are not touched: erase them first through
    the memory core."""
    if not could_be_account_id(user_id):
        return
    with serialised_transaction(engine, key=ACCOUNTS_KEY) as conn:
        row = conn.execute(select(*ACCOUNT_COLUMNS).where(_users.c.id == user_id)).first()
        if row is None:
            return
        if _is_last_enabled_admin(conn, row):
            raise LastAdmin(
                "this is the last enabled administrator: make another admin before deleting it"
            )
        conn.execute(delete(_users).where(_users.c.id == user_id))
        clear_failures(conn, row.username)


# Every public function here reports an unreachable database as AccountsUnavailable.
module_outages_raise(globals(), AccountsUnavailable)
