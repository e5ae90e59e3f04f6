"""The guess limit on sign-ins, counted in the database, and why it cannot lock an owner out.

OWASP ASVS v4 2.2.1 asks that anti-automation limit guessing to no more than 100 failed
attempts per hour on a single account, without letting an attacker lock the owner out. Two
limits do that here. Per (username, client), where the client is the address the app sees
("local", an IP, or "" for the operator CLI): LOCKOUT_FAILURES failures within LOCKOUT_WINDOW
lock that pair for LOCKOUT_DURATION from the last of them. It stops one source from guessing
fast, and an attacker who trips it locks only their own address: the owner, elsewhere, still
signs in, and that success clears only the owner's own pair, so the attacker stays locked. Per
username across all clients, a ceiling: NAME_CEILING_FAILURES failures within
NAME_CEILING_WINDOW refuse the name to every client, which caps guessing from many addresses
at ASVS's 100 an hour. The ceiling spares one kind of client: a browser that has signed in to
that account before (its "browser" cookie is in `known_browsers`, OWASP's "device cookie"), so
the owner's own browsers keep working during an attack; they remain under their own pair limit.

An attempt is counted (reserved) before its password is checked, in one transaction serialised
per username, so concurrent guesses cannot slip more than LOCKOUT_FAILURES checks past the pair
limit; a success then takes its reservation back along with its pair's other failures. Attempts
while refused are not counted, so they cannot extend a lock. Failures are counted by the string
typed (normalised as the form sends it), so unknown usernames lock exactly like real ones and
the answer never tells whether an account exists; `accounts.sign_in` makes every outcome cost
one bcrypt check as well. All of it lives in `login_failures`, so locks survive restarts and
hold across app processes. `users.locked_until` mirrors the latest lock on the name for the
admin page; an admin's `unlock` forgets every failure of the name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby

from sqlalchemy import Connection, Engine, delete, select, update

from accounts.errors import AccountNotFound, AccountsUnavailable
from accounts.models import KnownBrowser, LoginFailure, User
from accounts.tokens import browser_digest
from accounts.transactions import serialised_transaction
from accounts.validation import MAX_USERNAME_CHARS, could_be_account_id, normalise_username
from database import upsert_ignore, utcnow, write_transaction
from database.outages import module_outages_raise

LOCKOUT_FAILURES = 5
LOCKOUT_WINDOW = timedelta(minutes=15)
LOCKOUT_DURATION = timedelta(minutes=15)
NAME_CEILING_FAILURES = 100
NAME_CEILING_WINDOW = timedelta(hours=1)
MAX_CLIENT_CHARS = 64
# Failures older than this take part in no pair lock, current or future.
_PAIR_RELEVANT_FOR = LOCKOUT_WINDOW + LOCKOUT_DURATION
# ... and older than this in neither kind of lock: they can be deleted.
_KEEP_FOR = max(_PAIR_RELEVANT_FOR, NAME_CEILING_WINDOW)

_failures = LoginFailure.__table__
_users = User.__table__
_known = KnownBrowser.__table__


@dataclass(frozen=True)
class Attempt:
    """A reserved (or refused) sign-in attempt: whether its password may be checked, and the
    lock that refuses this client now or, after this failure, will refuse its next attempt."""

    allowed: bool
    locked_until: datetime | None


def _storable(text: str, limit: int) -> str:
    # No NUL (PostgreSQL refuses it), no lone surrogate, at most the column's width.
    text = text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return text[:limit]


def failure_key(username: str) -> str:
    """The string failures are counted under: what the form sends, made storable (no NUL, no
    lone surrogate, at most the column's width). Names that long can never be real accounts."""
    return _storable(normalise_username(username), MAX_USERNAME_CHARS)


def client_key(client: str) -> str:
    """The client address as stored: stripped and made storable like a username."""
    return _storable(client.strip(), MAX_CLIENT_CHARS) if isinstance(client, str) else ""


def _pair_lock(recent: list[datetime], now: datetime) -> datetime | None:
    # `recent`: a pair's latest failures, newest first, at most LOCKOUT_FAILURES of them.
    if len(recent) < LOCKOUT_FAILURES or recent[0] - recent[LOCKOUT_FAILURES - 1] > LOCKOUT_WINDOW:
        return None
    until = recent[0] + LOCKOUT_DURATION
    return until if until > now else None


def _pair_locked_until(conn: Connection, key: str, client: str, now: datetime) -> datetime | None:
    recent = (
        conn.execute(
            select(_failures.c.at)
            .where(_failures.c.username == key, _failures.c.client == client, _failures.c.at <= now)
            .order_by(_failures.c.at.desc())
            .limit(LOCKOUT_FAILURES)
        )
        .scalars()
        .all()
    )
    return _pair_lock(list(recent), now)


def _ceiling_until(conn: Connection, key: str, now: datetime) -> datetime | None:
    # Reached while NAME_CEILING_FAILURES failures lie within the window; it lifts when the
    # oldest of the latest NAME_CEILING_FAILURES leaves it.
    recent = (
        conn.execute(
            select(_failures.c.at)
            .where(
                _failures.c.username == key,
                _failures.c.at <= now,
                _failures.c.at > now - NAME_CEILING_WINDOW,
            )
            .order_by(_failures.c.at.desc())
            .limit(NAME_CEILING_FAILURES)
        )
        .scalars()
        .all()
    )
    if len(recent) < NAME_CEILING_FAILURES:
        return None
    return recent[-1] + NAME_CEILING_WINDOW


def _latest(*moments: datetime | None) -> datetime | None:
    return max((moment for moment in moments if moment is not None), default=None)


def _name_locked_until(conn: Connection, key: str, now: datetime) -> datetime | None:
    """When the last lock on the name ends: its ceiling or any pair's lock."""
    rows = conn.execute(
        select(_failures.c.client, _failures.c.at)
        .where(
            _failures.c.username == key,
            _failures.c.at <= now,
            _failures.c.at > now - _PAIR_RELEVANT_FOR,
        )
        .order_by(_failures.c.client, _failures.c.at.desc())
    ).all()
    pairs = [
        _pair_lock([row.at for row in group][:LOCKOUT_FAILURES], now)
        for _, group in groupby(rows, key=lambda row: row.client)
    ]
    return _latest(_ceiling_until(conn, key, now), *pairs)


def _mirror(conn: Connection, key: str, now: datetime) -> datetime | None:
    """Copy the name's latest lock onto its user row (if it has one); returns it."""
    until = _name_locked_until(conn, key, now)
    conn.execute(update(_users).where(_users.c.username == key).values(locked_until=until))
    return until


def _is_known_browser(conn: Connection, key: str, browser: str | None) -> bool:
    browser_hash = browser_digest(browser)
    if browser_hash is None:
        return False
    found = conn.scalar(
        select(_known.c.user_id)
        .join(_users, _users.c.id == _known.c.user_id)
        .where(_users.c.username == key, _known.c.browser_hash == browser_hash)
    )
    return found is not None


def reserve_attempt(
    engine: Engine, *, username: str, client: str, browser: str | None, now: datetime
) -> Attempt:
    """Count one attempt for (`username`, `client`) as a failure before its password is
    checked, unless the pair is locked or the name's ceiling is reached (and `browser` has not
    signed in to the account before): then it is refused and not counted.

    `authenticate` takes the failure back with `record_success` when the password is right."""
    key, where = failure_key(username), client_key(client)
    with serialised_transaction(engine, key=f"sign-in:{key}") as conn:
        pair = _pair_locked_until(conn, key, where, now)
        if pair is not None:
            return Attempt(allowed=False, locked_until=pair)
        ceiling = _ceiling_until(conn, key, now)
        known = ceiling is not None and _is_known_browser(conn, key, browser)
        if ceiling is not None and not known:
            return Attempt(allowed=False, locked_until=ceiling)
        conn.execute(
            delete(_failures).where(_failures.c.username == key, _failures.c.at < now - _KEEP_FOR)
        )
        conn.execute(_failures.insert().values(username=key, client=where, at=now))
        pair = _pair_locked_until(conn, key, where, now)
        ceiling = _ceiling_until(conn, key, now)
        if pair is not None or ceiling is not None:
            _mirror(conn, key, now)
        if ceiling is not None and not known:
            known = _is_known_browser(conn, key, browser)
        return Attempt(allowed=True, locked_until=pair if known else _latest(pair, ceiling))


def record_success(
    engine: Engine,
    *,
    username: str,
    client: str,
    user_id: str,
    browser: str | None,
    now: datetime,
) -> datetime | None:
    """After the right password: forget the failures of this (`username`, `client`) pair only
    (a lock another client caused stays) and remember `browser` as one that signed in to the
    account. Returns the lock still on the name (for `users.locked_until`), usually None."""
    key, where = failure_key(username), client_key(client)
    browser_hash = browser_digest(browser)
    with serialised_transaction(engine, key=f"sign-in:{key}") as conn:
        conn.execute(
            delete(_failures).where(_failures.c.username == key, _failures.c.client == where)
        )
        until = _mirror(conn, key, now)
        if browser_hash is not None:
            conn.execute(
                upsert_ignore(conn, _known).values(
                    user_id=user_id, browser_hash=browser_hash, last_sign_in_at=now
                )
            )
            conn.execute(
                update(_known)
                .where(_known.c.user_id == user_id, _known.c.browser_hash == browser_hash)
                .values(last_sign_in_at=now)
            )
        return until


def clear_failures(conn: Connection, key: str) -> None:
    """Within `conn`'s transaction, delete every failure under the name `key` (from every
    client) and clear its mirror on users."""
    conn.execute(delete(_failures).where(_failures.c.username == key))
    conn.execute(
        update(_users)
        .where(_users.c.username == key, _users.c.locked_until.is_not(None))
        .values(locked_until=None)
    )


def lock_expires_at(
    engine: Engine, *, username: str, client: str | None = None, now: datetime | None = None
) -> datetime | None:
    """When the lock on `username` ends, or None if it is not locked now.

    Without `client`: the latest end of any lock on the name (a pair's or the ceiling), which
    is what the admin page shows. With `client`: the lock that refuses that client, unless it
    comes from a browser that signed in before (its pair's lock, or the ceiling)."""
    key, now = failure_key(username), now or utcnow()
    with engine.connect() as conn:
        if client is None:
            return _name_locked_until(conn, key, now)
        return _latest(
            _pair_locked_until(conn, key, client_key(client), now), _ceiling_until(conn, key, now)
        )


def unlock(engine: Engine, *, user_id: str) -> None:
    """Lift every lock on an account and forget all its failures (an admin's action)."""
    if not could_be_account_id(user_id):
        raise AccountNotFound("no such account")
    with write_transaction(engine) as conn:
        username = conn.scalar(select(_users.c.username).where(_users.c.id == user_id))
        if username is None:
            raise AccountNotFound("no such account")
        clear_failures(conn, username)


def forget_known_browsers(conn: Connection, user_id: str) -> None:
    """Within `conn`'s transaction, forget every browser that signed in to the account (its
    password changed: they proved a password that no longer is one)."""
    conn.execute(delete(_known).where(_known.c.user_id == user_id))


def prune_failures(engine: Engine, *, now: datetime | None = None) -> int:
    """Delete failures too old to matter for any lock; returns how many. Each name prunes its
    own on its next failure; this sweeps names that are never tried again (run it daily)."""
    cutoff = (now or utcnow()) - _KEEP_FOR
    with write_transaction(engine) as conn:
        return conn.execute(delete(_failures).where(_failures.c.at < cutoff)).rowcount


# Every public function here reports an unreachable database as AccountsUnavailable.
module_outages_raise(globals(), AccountsUnavailable)
