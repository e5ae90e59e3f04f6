"""Usage figures for the admin page: messages and active users per day, and per-user totals.

Days are UTC calendar days on both engines (SQLite stores UTC without a zone; PostgreSQL's
timestamps are converted to UTC before the date is taken, whatever the server's TimeZone), so
both give the same answer. Per-day counts read only rows with created_at inside the window,
found through the ix_chat_messages_created_at index, so they cost the window, not the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Date, Engine, String, cast, func, select, text

from database import is_sqlite, utcnow
from database.outages import module_outages_raise
from memory.errors import StoreUnavailable
from memory.models import ChatMessage, ChatSession
from memory.store import ChatStore
from memory.validation import check_id

# About four characters per token for English prose with common tokenizers (fewer for code or
# other scripts). An estimate for the admin's overview, not a bill: no tokenizer is run.
CHARS_PER_TOKEN = 4
MAX_DAYS = 3_660
# Ids per IN list: far below both engines' bound-parameter limits.
_ID_BATCH = 500

_sessions = ChatSession.__table__
_messages = ChatMessage.__table__


@dataclass(frozen=True)
class Usage:
    sessions: int
    messages: int
    approx_tokens: int


def approx_tokens(characters: int) -> int:
    """An approximate token count for `characters` of text (characters / 4, rounded)."""
    return (characters + CHARS_PER_TOKEN // 2) // CHARS_PER_TOKEN


def _utc_day(engine: Engine):
    column = _messages.c.created_at
    if is_sqlite(engine):
        # SQLite holds 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC: date() is the UTC day.
        return func.date(column, type_=String)
    # A literal zone name (not a bound parameter) so that GROUP BY matches the SELECT term.
    return cast(func.timezone(text("'UTC'"), column), Date)


def _window(days: int, now: datetime | None) -> tuple[date, datetime, datetime]:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be a whole number from 1 to {MAX_DAYS}, got {days!r}")
    if now is None:
        now = utcnow()
    elif now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time.min, UTC)
    end = datetime.combine(today + timedelta(days=1), time.min, UTC)
    return first, start, end


def _per_day(
    store: ChatStore, days: int, now: datetime | None, *, writers: bool
) -> list[tuple[date, int]]:
    first, start, end = _window(days, now)
    if is_sqlite(store.engine):
        day = _utc_day(store.engine).label("day")
        count = func.count(_messages.c.user_id.distinct()) if writers else func.count()
        where = [_messages.c.role == "human"] if writers else []
        statement = (
            select(day, count)
            .where(_messages.c.created_at >= start, _messages.c.created_at < end, *where)
            .group_by(day)
        )
        parameters = {}
    else:
        # Row security shows no one every user's messages: migration 0013's narrow function
        # returns the counts alone.
        statement = text("SELECT day, n FROM chat_messages_per_day(:start, :end, :writers)")
        parameters = {"start": start, "end": end, "writers": writers}
    with store.engine.connect() as conn:
        found = {
            value if isinstance(value, date) else date.fromisoformat(value): int(number)
            for value, number in conn.execute(statement, parameters)
        }
    every_day = (first + timedelta(days=offset) for offset in range(days))
    return [(day, found.get(day, 0)) for day in every_day]


def messages_per_day(
    store: ChatStore, *, days: int = 30, now: datetime | None = None
) -> list[tuple[date, int]]:
    """Messages stored on each of the last `days` UTC days up to `now`'s, oldest first, zeros
    included."""
    return _per_day(store, days, now, writers=False)


def active_users_per_day(
    store: ChatStore, *, days: int = 30, now: datetime | None = None
) -> list[tuple[date, int]]:
    """Distinct users who wrote a message (role human) on each of the last `days` UTC days,
    oldest first, zeros included."""
    return _per_day(store, days, now, writers=True)


def user_usage(store: ChatStore, *, user_ids: Sequence[str]) -> dict[str, Usage]:
    """Sessions, messages and approximate tokens of each user in `user_ids` (zeros for a user
    with nothing stored), from two grouped queries for the whole page of users."""
    wanted = list(dict.fromkeys(check_id(user_id, "user_id") for user_id in user_ids))
    sessions: dict[str, int] = {}
    messages: dict[str, tuple[int, int]] = {}
    if not is_sqlite(store.engine):
        return _postgres_usage(store, wanted)
    with store.engine.connect() as conn:
        for start in range(0, len(wanted), _ID_BATCH):
            batch = wanted[start : start + _ID_BATCH]
            sessions.update(
                conn.execute(
                    select(_sessions.c.user_id, func.count())
                    .where(_sessions.c.user_id.in_(batch))
                    .group_by(_sessions.c.user_id)
                ).all()
            )
            for user_id, count, characters in conn.execute(
                select(
                    _messages.c.user_id,
                    func.count(),
                    func.coalesce(func.sum(func.length(_messages.c.content)), 0),
                )
                .where(_messages.c.user_id.in_(batch))
                .group_by(_messages.c.user_id)
            ):
                messages[user_id] = (int(count), int(characters))
    usage = {}
    for user_id in wanted:
        count, characters = messages.get(user_id, (0, 0))
        usage[user_id] = Usage(
            sessions=int(sessions.get(user_id, 0)),
            messages=count,
            approx_tokens=approx_tokens(characters),
        )
    return usage


def _postgres_usage(store: ChatStore, wanted: list[str]) -> dict[str, Usage]:
    # Through migration 0013's narrow function: figures per user, never a row of content.
    usage = {}
    with store.engine.connect() as conn:
        for start in range(0, len(wanted), _ID_BATCH):
            rows = conn.execute(
                text("SELECT * FROM chat_usage(:owners)"),
                {"owners": wanted[start : start + _ID_BATCH]},
            )
            for user_id, sessions, messages, characters in rows:
                usage[user_id] = Usage(
                    sessions=int(sessions),
                    messages=int(messages),
                    approx_tokens=approx_tokens(int(characters)),
                )
    return usage


# Every public function here reports an unreachable database as StoreUnavailable.
module_outages_raise(globals(), StoreUnavailable)


__all__ = [
    "CHARS_PER_TOKEN",
    "Usage",
    "active_users_per_day",
    "approx_tokens",
    "messages_per_day",
    "user_usage",
]
