"""Failed sign-ins and the lockout they cause, counted in the database.

Failures are recorded by username string (normalised as the sign-in form sends it), so unknown
usernames lock exactly like real ones and the answer never tells whether an account exists.
LOCKOUT_FAILURES failures within LOCKOUT_WINDOW lock the name for LOCKOUT_DURATION from the last
of them. While locked, attempts are refused without a password check and are not recorded, so
they cannot extend the lock. Because it is all in `login_failures`, a lock survives a restart and
holds across app processes. `users.locked_until` mirrors the lock for the admin page.

The check and the insert run in one serialised transaction per username, so concurrent attempts
cannot slip more than LOCKOUT_FAILURES guesses past the check."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, delete, select, update

from accounts.errors import AccountNotFound
from accounts.models import LoginFailure, User
from accounts.transactions import serialised_transaction
from accounts.validation import MAX_USERNAME_CHARS, could_be_account_id, normalise_username
from database import utcnow, write_transaction

LOCKOUT_FAILURES = 5
LOCKOUT_WINDOW = timedelta(minutes=15)
LOCKOUT_DURATION = timedelta(minutes=15)
# Failures older than this can take part in neither the current lock nor a future one.
_RELEVANT_FOR = LOCKOUT_WINDOW + LOCKOUT_DURATION

_failures = LoginFailure.__table__
_users = User.__table__


def failure_key(username: str) -> str:
    """The string failures are counted under: what the form sends, made storable (no NUL, no
    lone surrogate, at most the column's width). Names that long can never be real accounts."""
    name = normalise_username(username).replace("\x00", "")
    name = name.encode("utf-8", "replace").decode("utf-8")
    return name[:MAX_USERNAME_CHARS]


def _locked_until(conn: Connection, key: str, now: datetime) -> datetime | None:
    recent = (
        conn.execute(
            select(_failures.c.at)
            .where(_failures.c.username == key, _failures.c.at <= now)
            .order_by(_failures.c.at.desc())
            .limit(LOCKOUT_FAILURES)
        )
        .scalars()
        .all()
    )
    if len(recent) < LOCKOUT_FAILURES or recent[0] - recent[-1] > LOCKOUT_WINDOW:
        return None
    until = recent[0] + LOCKOUT_DURATION
    return until if until > now else None


def register_failure(
    engine: Engine, *, username: str, now: datetime
) -> tuple[bool, datetime | None]:
    """Record a failure unless the name is locked. Returns (recorded, locked_until).

    `authenticate` calls this before checking the password (and clears it on success), which
    is what makes the limit hold under concurrent attempts."""
    key = failure_key(username)
    with serialised_transaction(engine, key=f"sign-in:{key}") as conn:
        until = _locked_until(conn, key, now)
        if until is not None:
            return False, until
        conn.execute(
            delete(_failures).where(
                _failures.c.username == key, _failures.c.at < now - _RELEVANT_FOR
            )
        )
        conn.execute(_failures.insert().values(username=key, at=now))
        until = _locked_until(conn, key, now)
        if until is not None:
            conn.execute(update(_users).where(_users.c.username == key).values(locked_until=until))
        return True, until


def record_failed_sign_in(
    engine: Engine, *, username: str, now: datetime | None = None
) -> datetime | None:
    """Count one failed sign-in for `username`; return when its lock ends if it is now locked.

    A name that is already locked is not counted again, so its lock does not grow."""
    return register_failure(engine, username=username, now=now or utcnow())[1]


def clear_failed_sign_ins(engine: Engine, *, username: str) -> None:
    """Forget the failures of `username` and lift its lock (after a successful sign-in)."""
    key = failure_key(username)
    with write_transaction(engine) as conn:
        clear_failures(conn, key)


def clear_failures(conn: Connection, key: str) -> None:
    """Within `conn`'s transaction, delete the failures under `key` and mirror it on users."""
    conn.execute(delete(_failures).where(_failures.c.username == key))
    conn.execute(
        update(_users)
        .where(_users.c.username == key, _users.c.locked_until.is_not(None))
        .values(locked_until=None)
    )


def lock_expires_at(
    engine: Engine, *, username: str, now: datetime | None = None
) -> datetime | None:
    """When the lock on `username` ends, or None if it is not locked now."""
    with engine.connect() as conn:
        return _locked_until(conn, failure_key(username), now or utcnow())


def unlock(engine: Engine, *, user_id: str) -> None:
    """Lift the lock on an account and forget its failures (an admin's action)."""
    if not could_be_account_id(user_id):
        raise AccountNotFound("no such account")
    with write_transaction(engine) as conn:
        username = conn.scalar(select(_users.c.username).where(_users.c.id == user_id))
        if username is None:
            raise AccountNotFound("no such account")
        clear_failures(conn, username)


def prune_failures(engine: Engine, *, now: datetime | None = None) -> int:
    """Delete failures too old to matter for any lock; returns how many. Each name prunes its
    own on its next failure; this sweeps names that are never tried again (run it daily)."""
    cutoff = (now or utcnow()) - _RELEVANT_FOR
    with write_transaction(engine) as conn:
        return conn.execute(delete(_failures).where(_failures.c.at < cutoff)).rowcount
