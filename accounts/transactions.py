"""Write transactions that the accounts core serialises on purpose.

Some checks must see every concurrent writer: "is this the first account?" (exactly one admin),
"is this the last enabled admin?", "is this username locked?" (at most five guesses). On SQLite a
write transaction begins IMMEDIATE, which already queues all writers. PostgreSQL's default
isolation would let two transactions read the same count, so there each one first takes a
transaction-scoped advisory lock on its key."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, func, select

from database import is_sqlite, write_transaction

# The first half of PostgreSQL's two-integer advisory lock key: any fixed number, the same in
# every app process (the migration lock uses the one-bigint form, a separate key space).
_LOCK_CLASS = 7_243_002


def _lock_key(name: str) -> int:
    # A stable signed 32-bit number for `name` (Python's hash() differs per process).
    return int.from_bytes(
        hashlib.blake2b(name.encode("utf-8"), digest_size=4).digest(), "big", signed=True
    )


@contextmanager
def serialised_transaction(engine: Engine, *, key: str) -> Iterator[Connection]:
    """A write transaction that runs alone among those holding the same `key`."""
    with write_transaction(engine) as conn:
        if not is_sqlite(conn):
            conn.execute(select(func.pg_advisory_xact_lock(_LOCK_CLASS, _lock_key(key))))
        yield conn
