from __future__ import annotations

from sqlalchemy import inspect, text

from database import get_engine, migrate
from database.engine import dispose_engine

TABLES = {"chat_sessions", "chat_messages", "users", "login_failures", "audit_log", "app_settings"}


def test_an_empty_database_upgrades_to_head_with_every_table(database_url: str) -> None:
    engine = get_engine(database_url)
    migrate(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    dispose_engine(database_url)


def test_downgrade_to_base_and_upgrade_again_round_trips(database_url: str) -> None:
    engine = get_engine(database_url)
    migrate(engine)
    migrate(engine, "base")
    assert not TABLES & set(inspect(engine).get_table_names())
    migrate(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    dispose_engine(database_url)


def test_migrating_twice_is_harmless(engine) -> None:
    migrate(engine)
    with engine.connect() as conn:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    assert len(versions) == 1


def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(sqlite_url: str) -> None:
    engine = get_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    dispose_engine(sqlite_url)
