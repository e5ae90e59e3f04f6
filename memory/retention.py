"""Retention: delete sessions left untouched for longer than the operator's policy.

The policy (a number of days, or keep forever, the default) and the result of the last purge
live in app_settings. A session expires when its `updated_at` (its last message, rename or
clear) is older than now minus the policy's days; it goes with all its messages. A purge works
in batches of sessions, each its own short transaction, so a huge purge never holds one giant
write lock, and a session written to while the purge runs is never half deleted (its row is
locked with the delete, and re-checked against the cut-off).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, select, text

from accounts.sign_ins import prune_sign_ins
from database import is_sqlite, utcnow, write_transaction
from database.app_settings import read_setting, write_setting
from database.outages import module_outages_raise
from memory.erasure import delete_sessions
from memory.errors import StoreError, StoreUnavailable
from memory.models import ChatSession
from memory.store import ChatStore
from quotas import prune_use
from sso.flow import prune_logins

RETENTION_DAYS_KEY = "retention_days"
LAST_PURGE_KEY = "retention_last_purge"
KEEP_FOREVER = "forever"
MIN_DAYS = 1
MAX_DAYS = 36_500
# Sessions per transaction: small enough to keep each write lock short.
PURGE_BATCH_SESSIONS = 500

log = logging.getLogger(__name__)
_sessions = ChatSession.__table__


class InvalidRetention(StoreError, ValueError):
    """A retention period that is not a whole number of days between 1 and 36,500."""


@dataclass(frozen=True)
class PurgeCounts:
    sessions: int
    messages: int
    at: datetime
    # None when the policy was keep forever: nothing could expire.
    cutoff: datetime | None


def retention_days(engine: Engine) -> int | None:
    """The retention period in days, or None to keep forever (the default)."""
    raw = read_setting(engine, RETENTION_DAYS_KEY)
    if raw is None or raw == KEEP_FOREVER:
        return None
    try:
        days = int(raw)
    except ValueError:
        days = 0
    if not MIN_DAYS <= days <= MAX_DAYS:
        # A damaged setting must never delete anything: fall back to keep forever, loudly.
        log.error("ignoring invalid %s setting %r: keeping everything", RETENTION_DAYS_KEY, raw)
        return None
    return days


def set_retention_days(engine: Engine, *, days: int | None) -> None:
    """Keep sessions `days` days after their last update (1 to 36,500), or forever with None."""
    if days is not None and (
        isinstance(days, bool) or not isinstance(days, int) or not MIN_DAYS <= days <= MAX_DAYS
    ):
        raise InvalidRetention(
            f"retention must be a whole number of days from {MIN_DAYS} to {MAX_DAYS:,}, "
            f"or keep forever; got {days!r}"
        )
    write_setting(engine, RETENTION_DAYS_KEY, KEEP_FOREVER if days is None else str(days))


def _aware(now: datetime | None) -> datetime:
    if now is None:
        return utcnow()
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now.astimezone(UTC)


def _expired_sessions(conn: Connection, cutoff: datetime) -> list[tuple[str, str]]:
    """The (user_id, session_id) of a batch of chats not updated since `cutoff`, locked.
    PostgreSQL's row security shows no transaction every user's chats: there the keys come
    from migration 0013's narrow function, which returns nothing else."""
    if is_sqlite(conn):
        rows = conn.execute(
            select(_sessions.c.user_id, _sessions.c.session_id)
            .where(_sessions.c.updated_at < cutoff)
            .order_by(_sessions.c.updated_at)
            .limit(PURGE_BATCH_SESSIONS)
        )
    else:
        rows = conn.execute(
            text("SELECT user_id, session_id FROM chat_expired_sessions(:cutoff, :wanted)"),
            {"cutoff": cutoff, "wanted": PURGE_BATCH_SESSIONS},
        )
    return [(user_id, session_id) for user_id, session_id in rows]


def purge_expired(store: ChatStore, *, now: datetime | None = None) -> PurgeCounts:
    """Delete every session not updated since `now` minus the retention period, with its
    messages, in batches; record and return the counts. Keep forever deletes no chat. Quota
    counts of days before yesterday go on every purge."""
    now = _aware(now)
    days = retention_days(store.engine)
    cutoff = None if days is None else now - timedelta(days=days)
    sessions = messages = 0
    while cutoff is not None:
        with write_transaction(store.engine) as conn:
            # FOR UPDATE (PostgreSQL): a session being written to right now is waited for and
            # re-checked, so a fresh message never loses its session mid-purge. SQLite's
            # BEGIN IMMEDIATE already keeps every other writer out of this transaction.
            batch = _expired_sessions(conn, cutoff)
            counts = delete_sessions(conn, batch)
        sessions += counts.sessions
        messages += counts.messages
        # Stop only on an empty batch: on PostgreSQL a short batch can mean that a locked
        # session was touched meanwhile and dropped out, not that nothing else expired.
        if not batch:
            break
    result = PurgeCounts(sessions=sessions, messages=messages, at=now, cutoff=cutoff)
    record = {
        "sessions": sessions,
        "messages": messages,
        "at": now.isoformat(),
        "cutoff": None if cutoff is None else cutoff.isoformat(),
    }
    write_setting(store.engine, LAST_PURGE_KEY, json.dumps(record))
    # Quotas read only the current UTC day's counts; yesterday's stays for an answer that
    # began before midnight and is settled after it.
    prune_use(store.engine, before=now.astimezone(UTC).date() - timedelta(days=1))
    # What signing in leaves behind: ended sign-ins, and trips to the provider never finished.
    prune_sign_ins(store.engine, now=now)
    prune_logins(store.engine, now=now)
    log.info("retention purge: %d sessions, %d messages (cutoff %s)", sessions, messages, cutoff)
    return result


def last_purge(engine: Engine) -> PurgeCounts | None:
    """The result of the most recent purge, or None if none has run."""
    raw = read_setting(engine, LAST_PURGE_KEY)
    if raw is None:
        return None
    try:
        record = json.loads(raw)
        return PurgeCounts(
            sessions=int(record["sessions"]),
            messages=int(record["messages"]),
            at=_aware(datetime.fromisoformat(record["at"])),
            cutoff=None
            if record["cutoff"] is None
            else _aware(datetime.fromisoformat(record["cutoff"])),
        )
    except (ValueError, TypeError, KeyError):
        # Treated as "never ran": the next purge is due at once and rewrites it.
        log.error("ignoring unreadable %s setting %r", LAST_PURGE_KEY, raw)
        return None


def purge_due(
    engine: Engine, *, now: datetime | None = None, every: timedelta = timedelta(days=1)
) -> bool:
    """True when no purge has run yet or the last one is at least `every` ago."""
    previous = last_purge(engine)
    return previous is None or _aware(now) - previous.at >= every


# Every public function here reports an unreachable database as StoreUnavailable.
module_outages_raise(globals(), StoreUnavailable)


__all__ = [
    "KEEP_FOREVER",
    "MAX_DAYS",
    "MIN_DAYS",
    "InvalidRetention",
    "PurgeCounts",
    "last_purge",
    "purge_due",
    "purge_expired",
    "retention_days",
    "set_retention_days",
]
