from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, MetaData, inspect, text

import accounts.models
from accounts import authenticate, create_account, start_sign_in
from database import Base, get_engine, migrate
from database.engine import dispose_engine

TABLES = {
    "chat_sessions",
    "chat_messages",
    "users",
    "login_failures",
    "audit_log",
    "app_settings",
    "sign_ins",
    "known_browsers",
}
# What 0004 adds: tables, and a column and index on login_failures.
NEW_IN_0004 = {"sign_ins", "known_browsers"}
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
ACCOUNTS_TABLES = {
    model.__tablename__
    for model in (
        accounts.models.User,
        accounts.models.LoginFailure,
        accounts.models.SignInRecord,
        accounts.models.KnownBrowser,
    )
}


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


def version(engine: Engine) -> str:
    with engine.connect() as conn:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()


def login_failure_columns(engine: Engine) -> set[str]:
    return {column["name"] for column in inspect(engine).get_columns("login_failures")}


def login_failure_indexes(engine: Engine) -> set[str]:
    return {index["name"] for index in inspect(engine).get_indexes("login_failures")}


def test_0004_downgrades_to_0003_and_upgrades_again_keeping_failures(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSWORD_HASH_ROUNDS", "4")
    assert version(engine) == "0004"
    assert login_failure_columns(engine) >= {"username", "client", "at"}
    assert "ix_login_failures_username_client_at" in login_failure_indexes(engine)
    account = create_account(engine, username="ada", password="correct horse battery")
    start_sign_in(engine, user_id=account.id, device="x", browser="b", lifetime=timedelta(days=1))
    authenticate(engine, username="ghost", password="wrong password", client="203.0.113.9", now=T0)

    migrate(engine, "-1")
    assert version(engine) == "0003"
    assert not NEW_IN_0004 & set(inspect(engine).get_table_names())
    assert "client" not in login_failure_columns(engine)
    assert login_failure_indexes(engine) == {"ix_login_failures_username_at"}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT username FROM login_failures")).scalars().all() == [
            "ghost"
        ]
        assert conn.execute(text("SELECT username FROM users")).scalars().all() == ["ada"]

    migrate(engine)
    assert version(engine) == "0004"
    assert set(inspect(engine).get_table_names()) >= TABLES
    with engine.connect() as conn:
        # Failures from before 0004 count under the CLI's client, "".
        assert conn.execute(text("SELECT username, client FROM login_failures")).all() == [
            ("ghost", "")
        ]
    # ... and so do rows written without one, by anything but this app.
    [client] = [c for c in inspect(engine).get_columns("login_failures") if c["name"] == "client"]
    assert "''" in str(client["default"]) and not client["nullable"]


def test_the_accounts_models_match_the_migrated_schema(engine: Engine) -> None:
    # Autogenerate's comparison finds no difference for the tables accounts/models.py maps.
    models = MetaData(naming_convention=Base.metadata.naming_convention)
    for name in ACCOUNTS_TABLES:
        Base.metadata.tables[name].to_metadata(models)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={"include_name": lambda name, kind, _: kind != "table" or name in ACCOUNTS_TABLES},
        )
        assert compare_metadata(context, models) == []


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
