"""Engines: one per database URL per process, tuned for each engine.

SQLite (the embedded default) runs in WAL mode with a busy timeout and foreign keys on; write
transactions start with BEGIN IMMEDIATE so two writers queue on the busy timeout instead of one
failing when it upgrades a read lock. PostgreSQL uses psycopg 3 with a pre-pinged pool sized from
DB_POOL_SIZE / DB_MAX_OVERFLOW."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.sql.dml import Insert

import settings

SQLITE_BUSY_TIMEOUT_MS = 30_000
_IMMEDIATE = "chat_begin_immediate"

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def get_engine(url: str | None = None) -> Engine:
    """The process-wide Engine for `url` (default: settings.database_url())."""
    url = url or settings.database_url()
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _create_engine(url)
            _engines[url] = engine
        return engine


def dispose_engine(url: str) -> None:
    """Close and forget the Engine for `url` (tests that delete a database use this)."""
    with _engines_lock:
        engine = _engines.pop(url, None)
    if engine is not None:
        engine.dispose()


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


def _create_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _create_sqlite_engine(url)
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            url = str(
                parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
            )
        return create_engine(
            url,
            connect_args=_pooler_connect_args(),
            pool_pre_ping=True,
            pool_size=settings.get_int("DB_POOL_SIZE", 10),
            max_overflow=settings.get_int("DB_MAX_OVERFLOW", 20),
            pool_recycle=1800,
        )
    raise ValueError(
        f"unsupported database URL {parsed.render_as_string()!r}: use sqlite or postgresql"
    )


def _pooler_connect_args() -> dict[str, Any]:
    """DATABASE_POOLER=pgbouncer: PgBouncer in transaction mode hands each transaction to any
    server connection, where psycopg's prepared statements (made after 5 runs of a query)
    would not exist; so none are made."""
    pooler = (settings.get("DATABASE_POOLER") or "").strip().lower()
    if pooler == "":
        return {}
    if pooler == "pgbouncer":
        return {"prepare_threshold": None}
    raise ValueError(f"DATABASE_POOLER must be empty or pgbouncer, got {pooler!r}")


def _create_sqlite_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        database = Path(parsed.database)
        settings.private_dir(database.parent)
        if not database.exists():
            settings.private_file(database)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so BEGIN can be IMMEDIATE for writers.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: committed on success, rolled back on any error."""
    with engine.connect() as conn:
        conn.execution_options(**{_IMMEDIATE: True})
        with conn.begin():
            yield conn


def upsert_ignore(engine: Engine | Connection, table: Table) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING for either engine (concurrent first writes race safely)."""
    dialect = sqlite if is_sqlite(engine) else postgresql
    return dialect.insert(table).on_conflict_do_nothing()
