"""Signing in: check a password against the database, under the lockout rules.

`authenticate` is the whole check in one call. `sign_in_entry` serves a form that checks the
bcrypt hash itself (streamlit-authenticator): it then reports the outcome with
`record_failed_sign_in` / `clear_failed_sign_ins`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Engine, select

from accounts.lockout import clear_failed_sign_ins, lock_expires_at, register_failure
from accounts.models import User
from accounts.passwords import password_matches, spend_a_check
from accounts.users import ACCOUNT_COLUMNS, Account, account_from_row
from accounts.validation import is_valid_username, normalise_username
from database import utcnow

_users = User.__table__


@dataclass(frozen=True)
class SignInResult:
    """The account if the sign-in succeeded; `locked_until` if the username is locked out."""

    account: Account | None
    locked_until: datetime | None


@dataclass(frozen=True)
class SignInEntry:
    """An account that may sign in right now, with the bcrypt hash to check the password on."""

    account: Account
    password_hash: str


def _entry(engine: Engine, username: str) -> SignInEntry | None:
    username = normalise_username(username)
    if not is_valid_username(username):
        return None
    with engine.connect() as conn:
        row = conn.execute(
            select(*ACCOUNT_COLUMNS, _users.c.password_hash).where(_users.c.username == username)
        ).first()
    return None if row is None else SignInEntry(account_from_row(row), row.password_hash)


def authenticate(
    engine: Engine, *, username: str, password: str, now: datetime | None = None
) -> SignInResult:
    """Check `password` for `username`. Locked: refused unchecked. Unknown, wrong or disabled:
    a failure is counted. Right: failures are cleared and the account returned."""
    now = now or utcnow()
    # The failure is counted before the password is checked and taken back on success, so
    # concurrent guesses cannot all pass the lock check together.
    recorded, locked_until = register_failure(engine, username=username, now=now)
    if not recorded:
        return SignInResult(account=None, locked_until=locked_until)
    entry = _entry(engine, username)
    if entry is None:
        spend_a_check(password)
        return SignInResult(account=None, locked_until=locked_until)
    if not password_matches(password, entry.password_hash) or entry.account.disabled:
        return SignInResult(account=None, locked_until=locked_until)
    clear_failed_sign_ins(engine, username=entry.account.username)
    return SignInResult(account=replace(entry.account, locked_until=None), locked_until=None)


def sign_in_entry(
    engine: Engine, *, username: str, now: datetime | None = None
) -> SignInEntry | None:
    """The account and its hash if `username` exists, is enabled and is not locked, else None."""
    if lock_expires_at(engine, username=username, now=now) is not None:
        return None
    entry = _entry(engine, username)
    if entry is None or entry.account.disabled:
        return None
    return entry
