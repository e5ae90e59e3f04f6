"""Activity timestamps written at most once per interval: they are touched on every page run,
and a write lock on every run would queue every user behind every other on SQLite."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Column, Engine, or_, select, update

from database.engine import write_transaction


def stamp_at_most_every(
    engine: Engine,
    column: Column,
    *,
    key: str,
    now: datetime,
    every: timedelta,
    known: datetime | None = None,
) -> None:
    """Set `column` to `now` on the row whose `id` is `key`, unless it was set less than
    `every` ago. `known`, the value the caller has just read, spares the read while fresh.

    The common case reads and takes no write lock; the UPDATE repeats the condition, so
    concurrent page runs still write only once."""
    if known is not None and known > now - every:
        return
    table = column.table
    stale = or_(column.is_(None), column <= now - every)
    with engine.connect() as conn:
        if conn.scalar(select(table.c.id).where(table.c.id == key, stale)) is None:
            return
    with write_transaction(engine) as conn:
        conn.execute(update(table).where(table.c.id == key, stale).values({column.name: now}))
