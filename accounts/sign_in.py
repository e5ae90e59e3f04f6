"""Signing in: check a password against the database, under the guess limits of
accounts/lockout.py, at the same cost whatever the outcome.

`authenticate` is the whole check in one call; the sign-in form and the operator CLI both use
it. Every outcome (right, wrong, unknown name, disabled account, locked pair, the name's
ceiling) spends exactly one bcrypt check at the configured cost: the account's real hash when
the attempt is allowed and the account exists, otherwise `passwords.spend_a_check`. So neither
the answer nor its timing tells whether a name exists or is locked."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Engine, select

from accounts import passwords
from accounts.errors import AccountsUnavailable
from accounts.lockout import record_success, reserve_attempt
from accounts.models import User
from accounts.users import ACCOUNT_COLUMNS, Account, account_from_row
from accounts.validation import is_valid_username, normalise_username
from database import utcnow
from database.outages import module_outages_raise

_users = User.__table__


@dataclass(frozen=True)
class SignInResult:
    """The account if the sign-in succeeded; `locked_until` if this client is locked out of
    the username (now, or from its next attempt on)."""

    account: Account | None
    locked_until: datetime | None
    # The password was right, but it was a temporary one and its time has passed.
    temporary_password_expired: bool = False


def _entry(engine: Engine, username: str) -> tuple[Account, str] | None:
    username = normalise_username(username)
    if not is_valid_username(username):
        return None
    with engine.connect() as conn:
        row = conn.execute(
            select(*ACCOUNT_COLUMNS, _users.c.password_hash).where(_users.c.username == username)
        ).first()
    return None if row is None else (account_from_row(row), row.password_hash)


def authenticate(
    engine: Engine,
    *,
    username: str,
    password: str,
    client: str = "",
    browser: str | None = None,
    now: datetime | None = None,
) -> SignInResult:
    """Check `password` for `username`, attempted from `client` ("local", an IP address, or ""
    for the CLI) by the browser whose "browser" cookie is `browser` (None if unknown).

    Locked (this pair, or the name's ceiling for a browser that never signed in to it): refused
    unchecked and not counted. Unknown, wrong or disabled: a failure is counted. Right: this
    pair's failures are cleared, the browser is remembered, and the account returned."""
    now = now or utcnow()
    if not isinstance(username, str):
        username = ""
    # The attempt is counted before the password is checked and taken back on success, so
    # concurrent guesses cannot all pass the lock check together.
    attempt = reserve_attempt(engine, username=username, client=client, browser=browser, now=now)
    if not attempt.allowed:
        passwords.spend_a_check(password)
        return SignInResult(account=None, locked_until=attempt.locked_until)
    entry = _entry(engine, username)
    if entry is None:
        passwords.spend_a_check(password)
        return SignInResult(account=None, locked_until=attempt.locked_until)
    account, password_hash = entry
    matches = passwords.password_matches(password, password_hash)
    if passwords.hash_cost(password_hash) < passwords.hash_rounds():
        # A temporary password's cheap hash (accounts/bulk_import.py) would answer at once: the
        # full-cost check too, so such an account is not told apart from any other by timing.
        passwords.spend_a_check(password)
    if not matches or account.disabled:
        return SignInResult(account=None, locked_until=attempt.locked_until)
    if account.password_expires_at is not None and now >= account.password_expires_at:
        # Counted as a failure like any refusal; only someone who knows it learns it expired.
        return SignInResult(
            account=None, locked_until=attempt.locked_until, temporary_password_expired=True
        )
    still_locked = record_success(
        engine,
        username=account.username,
        client=client,
        user_id=account.id,
        browser=browser,
        now=now,
    )
    return SignInResult(account=replace(account, locked_until=still_locked), locked_until=None)


# Every public function here reports an unreachable database as AccountsUnavailable.
module_outages_raise(globals(), AccountsUnavailable)
