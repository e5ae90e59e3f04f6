"""Bring a database to the newest schema with Alembic, safely from several processes at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text
from sqlalchemy.exc import ProgrammingError

import settings
from database.engine import dispose_engine, get_engine, is_sqlite, write_transaction

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any fixed number works: it only has to be the same in every app process.
_PG_MIGRATION_LOCK = 7_243_001
_INSUFFICIENT_PRIVILEGE = "42501"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def downgrade(engine: Engine, revision: str) -> None:
    """Downgrade the schema of `engine` to `revision` (an id such as "0004"), under the same
    lock as `migrate`: for tests of a migration, whatever came after it."""
    _run(engine, lambda config: command.downgrade(config, revision))


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade (or with a revision like "-1" / "base", downgrade) the schema of `engine`.

    The work runs in one transaction that first takes a lock (BEGIN IMMEDIATE on SQLite, an
    advisory lock on PostgreSQL), so app processes starting together migrate one at a time."""
    if revision == "head" or not revision.startswith(("-", "base")):
        _run(engine, lambda config: command.upgrade(config, revision))
    else:
        _run(engine, lambda config: command.downgrade(config, revision))


class OwnerNeeded(RuntimeError):
    """The schema is behind and this role may not change it: migrations need the owner."""


def migrate_as_owner(engine: Engine) -> None:
    """Bring `engine`'s database to the newest schema: on PostgreSQL through
    DATABASE_OWNER_URL when set (the app's role owns no table), else through `engine`."""
    owner_url = settings.database_owner_url()
    if owner_url is None or is_sqlite(engine):
        try:
            migrate(engine)
        except ProgrammingError as error:
            if getattr(error.orig, "sqlstate", None) != _INSUFFICIENT_PRIVILEGE:
                raise
            raise OwnerNeeded(
                "The database schema is not up to date and this role may not change it: set "
                "DATABASE_OWNER_URL to the tables' owner, or run `python -m manage migrate` "
                'with it (README, "PostgreSQL roles").'
            ) from error
        return
    owner = get_engine(owner_url)
    try:
        migrate(owner)
    finally:
        # Only for the migration: the app itself never holds the owner's connections.
        dispose_engine(owner_url)


def _run(engine: Engine, step: Callable[[Config], None]) -> None:
    config = alembic_config()
    with write_transaction(engine) as conn:
        if not is_sqlite(conn):
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        config.attributes["connection"] = conn
        step(config)
