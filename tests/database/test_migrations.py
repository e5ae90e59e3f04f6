from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, MetaData, column, inspect, text
from sqlalchemy import table as sa_table

import accounts.models
from accounts import authenticate, create_account, start_sign_in
from database import Base, get_engine, migrate, utcnow, write_transaction
from database.engine import dispose_engine
from database.migrate import downgrade
from memory import ChatStore
from memory.models import ChatMessage, ChatSession
from tests.support.databases import whole_database
from tests.support.search_index import (
    assert_index_matches_messages,
    index_size,
    session_terms_stored,
)

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
HEAD = "0015"
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
    # Written by today's code, then taken down to 0004 (the later revisions are tested on
    # their own below): the rows 0004's downgrade must keep.
    account = create_account(engine, username="ada", password="correct horse battery")
    start_sign_in(engine, user_id=account.id, device="x", browser="b", lifetime=timedelta(days=1))
    authenticate(engine, username="ghost", password="wrong password", client="203.0.113.9", now=T0)
    # Migrations are the owner's: the app's role may not alter the tables.
    engine = whole_database(engine)
    downgrade(engine, "0004")
    assert version(engine) == "0004"
    assert login_failure_columns(engine) >= {"username", "client", "at"}
    assert "ix_login_failures_username_client_at" in login_failure_indexes(engine)

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
    assert version(engine) == HEAD
    assert set(inspect(engine).get_table_names()) >= TABLES
    with engine.connect() as conn:
        # Failures from before 0004 count under the CLI's client, "".
        assert conn.execute(text("SELECT username, client FROM login_failures")).all() == [
            ("ghost", "")
        ]
    # ... and so do rows written without one, by anything but this app.
    [client] = [c for c in inspect(engine).get_columns("login_failures") if c["name"] == "client"]
    assert "''" in str(client["default"]) and not client["nullable"]


def differences_from_the_models(engine: Engine, tables: set[str]) -> list:
    """What autogenerate's comparison finds between the migrated schema and these tables'
    models (columns, types, indexes, constraints)."""
    models = MetaData(naming_convention=Base.metadata.naming_convention)
    for name in tables:
        Base.metadata.tables[name].to_metadata(models)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={"include_name": lambda name, kind, _: kind != "table" or name in tables},
        )
        return compare_metadata(context, models)


def test_the_accounts_models_match_the_migrated_schema(engine: Engine) -> None:
    assert differences_from_the_models(engine, ACCOUNTS_TABLES) == []


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


# 0005: full-text search ----------------------------------------------------------------------

SEARCH_TABLES = {"message_search", "search_owners"}


def search_objects(engine: Engine) -> set[str]:
    """Every table, virtual table, shadow table, index, trigger or function the search
    consists of."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            names = conn.execute(
                text(
                    "SELECT name FROM sqlite_master WHERE name LIKE 'message\\_search%' ESCAPE '\\' "
                    "OR name LIKE '%session\\_terms%' ESCAPE '\\' "
                    "OR name IN ('search_owners', 'chat_messages_search_delete', "
                    "'chat_messages_search_delete_terms')"
                )
            )
        else:
            names = conn.execute(
                text(
                    "SELECT relname FROM pg_class WHERE relname LIKE 'message\\_search%' "
                    "OR relname LIKE 'search\\_owners%' OR relname LIKE 'ix\\_message\\_search%' "
                    "OR relname LIKE '%session\\_terms%' "
                    "UNION SELECT proname FROM pg_proc "
                    "WHERE proname LIKE 'message\\_search%' OR proname = 'chat_messages_unindex' "
                    "UNION SELECT tgname FROM pg_trigger WHERE tgname LIKE 'chat\\_messages\\_search%'"
                )
            )
        return set(names.scalars())


# chat_sessions as 0004 made it: the model's table has columns of later revisions.
SESSIONS_AT_0004 = sa_table(
    "chat_sessions",
    *(
        column(name)
        for name in (
            "user_id",
            "session_id",
            "title",
            "ability",
            "created_at",
            "updated_at",
            "message_count",
            "last_turn",
        )
    ),
)


# chat_messages as 0004 to 0008 made it: without 0009's branch columns.
MESSAGES_AT_0004 = sa_table(
    "chat_messages",
    *(
        column(name)
        for name in ("user_id", "session_id", "turn", "role", "content", "status", "created_at")
    ),
)


def store_at_0004(engine: Engine, user_id: str, session_id: str, *contents: str) -> None:
    """A session with these messages, written as a 0004 app wrote them (no index)."""
    now = utcnow()
    with write_transaction(engine) as conn:
        conn.execute(
            SESSIONS_AT_0004.insert().values(
                user_id=user_id,
                session_id=session_id,
                title="",
                ability="general knowledge",
                created_at=now,
                updated_at=now,
                message_count=len(contents),
                last_turn=1,
            )
        )
        conn.execute(
            MESSAGES_AT_0004.insert(),
            [
                {
                    "user_id": user_id,
                    "session_id": session_id,
                    "turn": 1,
                    "role": "human" if number % 2 == 0 else "ai",
                    "content": content,
                    "status": "complete",
                    "created_at": now,
                }
                for number, content in enumerate(contents)
            ],
        )


def found(store: ChatStore, user_id: str, query: str) -> list[str]:
    return [summary.session_id for summary in store.search_sessions(user_id, query)]


def test_0005_indexes_messages_stored_at_0004_and_downgrades_to_0004_cleanly(
    database_url: str,
) -> None:
    engine = get_engine(database_url)
    migrate(engine, "0004")
    assert version(engine) == "0004"
    assert search_objects(engine) == set()
    store_at_0004(engine, "ada", "s1", "Qu'est-ce qu'un Éclair ?", "Un gâteau 🍰")
    store_at_0004(engine, "bob", "s1", "私は東京に住んでいます", "Kotlin, mostly.")
    store_at_0004(engine, "bob", "s2", "", "an empty question above")

    migrate(engine)
    assert version(engine) == HEAD
    assert search_objects(engine) >= SEARCH_TABLES
    if engine.dialect.name == "postgresql":
        assert "message_search_hits" in search_objects(engine)
    store = ChatStore(engine)
    assert found(store, "ada", "eclair") == ["s1"]
    assert found(store, "ada", "🍰") == ["s1"]
    assert found(store, "bob", "東京") == ["s1"]
    assert found(store, "bob", "kot") == ["s1"]
    assert found(store, "bob", "empty question") == ["s2"]
    assert found(store, "bob", "eclair") == []
    assert found(store, "ada", "kotlin") == []
    [hit] = store.search_sessions("ada", "gateau")
    assert hit.snippet is not None and ("gâteau", True) in hit.snippet.parts
    # Written after the upgrade, through the store: indexed too.
    turn = store.begin_turn("ada", "s3", "What is a JVM?")
    store.finish_turn(turn, "The Java Virtual Machine.")
    assert found(store, "ada", "virtual") == ["s3"]

    downgrade(engine, "0004")
    assert version(engine) == "0004"
    assert search_objects(engine) == set()
    with write_transaction(engine) as conn:  # no trigger left to trip over a 0004 delete
        conn.execute(text("DELETE FROM chat_messages WHERE user_id = 'ada'"))
    assert set(inspect(engine).get_table_names()) >= TABLES

    migrate(engine)
    assert found(ChatStore(engine), "bob", "東京") == ["s1"]
    assert found(ChatStore(engine), "ada", "eclair") == []
    dispose_engine(database_url)


def test_downgrading_to_base_leaves_nothing_of_the_search_index(database_url: str) -> None:
    engine = get_engine(database_url)
    migrate(engine)
    migrate(engine, "base")
    assert search_objects(engine) == set()
    dispose_engine(database_url)


# 0006: titles in the sidebar's index, the vocabulary of the search index ----------------------


def sidebar_index_columns(engine: Engine) -> list[str]:
    [index] = [
        index
        for index in inspect(engine).get_indexes("chat_sessions")
        if index["name"] == "ix_chat_sessions_user_recent"
    ]
    return list(index["column_names"])


def test_0006_puts_titles_in_the_sidebars_index_and_downgrades_to_0005(
    database_url: str,
) -> None:
    engine = get_engine(database_url)
    migrate(engine, "0004")
    store_at_0004(engine, "ada", "s1", "Threads in Kotlin?", "Coroutines, mostly.")
    migrate(engine, "0005")
    assert sidebar_index_columns(engine) == ["user_id", "updated_at", "session_id"]

    migrate(engine, "0006")
    assert sidebar_index_columns(engine) == ["user_id", "updated_at", "session_id", "title"]
    sqlite = engine.dialect.name == "sqlite"
    assert ("message_search_terms" in search_objects(engine)) == sqlite
    assert ("message_search_hits" in search_objects(engine)) != sqlite
    assert not {"message_search_recent", "message_search_sessions"} & search_objects(engine)

    migrate(engine, "-1")
    assert version(engine) == "0005"
    assert sidebar_index_columns(engine) == ["user_id", "updated_at", "session_id"]
    assert "message_search_terms" not in search_objects(engine)
    assert "message_search_hits" not in search_objects(engine)
    if not sqlite:  # 0005's own two functions, made again from 0005
        assert search_objects(engine) >= {"message_search_recent", "message_search_sessions"}
    migrate(engine)
    store = ChatStore(engine)
    store.rename_session("ada", "s1", "Kotlin questions")
    assert found(store, "ada", "question") == ["s1"]  # the title, read from the index
    assert found(store, "ada", "corout") == ["s1"]
    assert found(store, "ada", "thread") == ["s1"]
    assert found(store, "bob", "kotlin") == []
    dispose_engine(database_url)


# 0007: each word's chats -----------------------------------------------------------------------


def test_0007_counts_each_words_chats_from_the_index_and_downgrades_to_0006(
    database_url: str,
) -> None:
    engine = get_engine(database_url)
    migrate(engine, "0004")
    store_at_0004(engine, "ada", "s1", "Plum jam?", "Plum tart, or plum pie.", "Fig?")
    store_at_0004(engine, "ada", "s2", "Plum cake", "")
    store_at_0004(engine, "bob", "s1", "Plum wine", "Fig roll 🍰")
    migrate(engine, "0006")  # 0005 indexed the messages

    migrate(engine)
    sqlite = engine.dialect.name == "sqlite"
    assert ("message_search_word" in search_objects(engine)) != sqlite
    assert ("chat_messages_unindex" in search_objects(engine)) != sqlite
    assert ("chat_messages_search_delete_terms" in search_objects(engine)) == sqlite
    assert {"session_terms", "chat_messages_search_delete"} <= search_objects(engine)
    assert "message_search_terms" not in search_objects(engine)
    assert_index_matches_messages(engine)
    assert len(session_terms_stored(engine)) > 0
    store = ChatStore(engine)
    assert found(store, "ada", "plum") == ["s2", "s1"]
    assert found(store, "bob", "🍰") == ["s1"]
    with write_transaction(engine) as conn:  # another tool's delete: the trigger follows it
        conn.execute(text("DELETE FROM chat_messages WHERE content = 'Plum cake'"))
    assert_index_matches_messages(engine)
    assert found(store, "ada", "plum") == ["s1"]

    downgrade(engine, "0006")
    assert version(engine) == "0006"
    assert ("message_search_terms" in search_objects(engine)) == sqlite
    assert not {
        "session_terms",
        "ix_session_terms_newest",
        "message_search_word",
        "chat_messages_unindex",
        "chat_messages_search_delete_terms",
    } & search_objects(engine)
    # SQLite's trigger of 0005, PostgreSQL's foreign key (no trigger of its own) are back.
    assert ("chat_messages_search_delete" in search_objects(engine)) == sqlite
    with write_transaction(engine) as conn:  # 0006's own way of following a delete is back
        conn.execute(text("DELETE FROM chat_messages WHERE content = 'Plum wine'"))
    assert index_size(engine) == 4  # of the six with words, two deleted
    migrate(engine)
    assert_index_matches_messages(engine)
    assert found(ChatStore(engine), "bob", "plum") == []
    assert found(ChatStore(engine), "bob", "fig") == ["s1"]
    dispose_engine(database_url)


# 0008: pinned and archived chats, who wrote a title ----------------------------------------------


def test_0008_lists_every_chat_with_its_first_words_title_and_downgrades_to_0007(
    database_url: str,
) -> None:
    engine = get_engine(database_url)
    migrate(engine, "0004")
    store_at_0004(engine, "ada", "s1", "Plum jam?", "Plum tart.")
    store_at_0004(engine, "ada", "s2", "Fig roll?", "Fig roll.")
    migrate(engine, "0007")
    assert sidebar_index_columns(engine) == ["user_id", "updated_at", "session_id", "title"]

    migrate(engine)
    assert version(engine) == HEAD
    assert sidebar_index_columns(engine) == [
        "user_id",
        "shelf",
        "updated_at",
        "session_id",
        "title",
    ]
    store = ChatStore(engine)
    assert {(s.session_id, s.shelf, s.title_source) for s in store.list_sessions("ada")} == {
        ("s1", "listed", "question"),
        ("s2", "listed", "question"),
    }
    store.pin_session("ada", "s1")
    store.archive_session("ada", "s2")
    assert found(store, "ada", "fig") == ["s2"]

    downgrade(engine, "0007")
    assert version(engine) == "0007"
    assert sidebar_index_columns(engine) == ["user_id", "updated_at", "session_id", "title"]
    columns = {c["name"] for c in inspect(engine).get_columns("chat_sessions")}
    assert not {"shelf", "title_source"} & columns
    migrate(engine)  # both chats are back in the list, as before they were moved
    assert {s.session_id for s in ChatStore(engine).list_sessions("ada")} == {"s1", "s2"}
    dispose_engine(database_url)


# 0009: edited questions and retried answers, on branches -------------------------------------


def message_index_columns(engine: Engine) -> list[str]:
    [index] = [
        i
        for i in inspect(engine).get_indexes("chat_messages")
        if i["name"] == "ix_chat_messages_session_order"
    ]
    return list(index["column_names"])


def test_0009_makes_every_chat_one_branch_and_downgrades_to_its_active_path(
    database_url: str,
) -> None:
    engine = get_engine(database_url)
    migrate(engine, "0008")
    now = utcnow()
    with write_transaction(engine) as conn:
        conn.execute(
            SESSIONS_AT_0004.insert(),
            [
                {
                    "user_id": user,
                    "session_id": "s1",
                    "title": "t",
                    "ability": "general knowledge",
                    "created_at": now,
                    "updated_at": now,
                    "message_count": 5,
                    "last_turn": 2,
                }
                for user in ("ada", "bob")
            ],
        )
        # Two tabs at once wrote question 2 before answer 1; (turn, id) still orders them.
        for user in ("ada", "bob"):
            conn.execute(
                MESSAGES_AT_0004.insert(),
                [
                    {
                        "user_id": user,
                        "session_id": "s1",
                        "turn": turn,
                        "role": role,
                        "content": f"{user} {content}",
                        "status": "complete",
                        "created_at": now,
                    }
                    for turn, role, content in (
                        (0, "system", "be brief"),
                        (1, "human", "q1"),
                        (2, "human", "q2"),
                        (1, "ai", "a1"),
                        (2, "ai", "a2"),
                    )
                ],
            )
    assert message_index_columns(engine) == ["user_id", "session_id", "turn", "id"]

    migrate(engine)
    assert version(engine) == HEAD
    assert message_index_columns(engine) == ["user_id", "session_id", "on_path", "turn", "id"]
    store = ChatStore(engine)
    for user in ("ada", "bob"):
        every = store.load_messages(user, "s1", every_version=True)
        assert [m.content for m in every] == [
            f"{user} {c}" for c in ("be brief", "q1", "a1", "q2", "a2")
        ]
        # Each message follows the one before it in its own chat, never another user's.
        assert [m.parent_id for m in every] == [None, *(m.id for m in every[:-1])]
        assert all(m.on_path for m in every)
    assert store.load_page("ada", "s1").versions == {}
    question = store.load_messages("ada", "s1")[3]
    store.finish_turn(store.edit_question("ada", "s1", question.id, "ada Q2"), "ada A2")
    assert [m.content for m in store.load_messages("ada", "s1")][-2:] == ["ada Q2", "ada A2"]
    assert store.get_session("ada", "s1").message_count == 7

    downgrade(engine, "0008")
    assert version(engine) == "0008"
    assert message_index_columns(engine) == ["user_id", "session_id", "turn", "id"]
    assert "on_path" not in {c["name"] for c in inspect(engine).get_columns("chat_messages")}
    with engine.connect() as conn:
        kept = conn.execute(
            text("SELECT content FROM chat_messages WHERE user_id = 'ada' ORDER BY turn, id")
        ).scalars()
        assert list(kept) == ["ada be brief", "ada q1", "ada a1", "ada Q2", "ada A2"]
        counts = conn.execute(text("SELECT user_id, message_count FROM chat_sessions"))
        assert dict(counts.all()) == {"ada": 5, "bob": 5}
    migrate(engine)
    assert found(ChatStore(engine), "ada", "A2") == ["s1"]
    dispose_engine(database_url)


def test_the_memory_models_match_the_migrated_schema(engine: Engine) -> None:
    """Indexes included: the sidebar's index is declared in memory/models.py as 0006 makes it."""
    tables = {ChatSession.__tablename__, ChatMessage.__tablename__}
    assert differences_from_the_models(engine, tables) == []


def test_0011_adds_temporary_passwords_and_its_downgrade_loses_no_account_or_chat(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSWORD_HASH_ROUNDS", "4")
    engine = get_engine(database_url)
    migrate(engine, "0010")
    with write_transaction(engine) as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, username, display_name, email, password_hash, role, "
                "disabled, created_at, sessions_valid_after) VALUES ('u1', 'ada', 'Ada', '', "
                "'x', 'admin', false, :now, :now)"
            ),
            {"now": T0},
        )
        # A row that refers to the account with ON DELETE CASCADE.
        conn.execute(
            text(
                "INSERT INTO user_quotas (user_id, messages_per_day, updated_at) "
                "VALUES ('u1', 5, :now)"
            ),
            {"now": T0},
        )
    ChatStore(engine).finish_turn(ChatStore(engine).begin_turn("u1", "s1", "hello"), "hi")

    migrate(engine)
    assert version(engine) == HEAD
    with write_transaction(engine) as conn:
        assert conn.execute(text("SELECT password_expires_at FROM users")).scalar() is None
        # An account still on its temporary password.
        conn.execute(
            text(
                "INSERT INTO users (id, username, display_name, email, password_hash, role, "
                "disabled, created_at, sessions_valid_after, password_expires_at) VALUES "
                "('u2', 'pupil', 'Pupil', '', 'x', 'user', false, :now, :now, :now)"
            ),
            {"now": T0},
        )

    downgrade(engine, "0010")
    # A plain DROP COLUMN: the users table is not rebuilt, so nothing that refers to an
    # account is cascaded away with it.
    assert "password_expires_at" not in {c["name"] for c in inspect(engine).get_columns("users")}
    with engine.connect() as conn:
        users = conn.execute(text("SELECT username, disabled FROM users ORDER BY id")).all()
        # Without the column its temporary password would become permanent: disabled instead.
        assert [(name, bool(disabled)) for name, disabled in users] == [
            ("ada", False),
            ("pupil", True),
        ]
        assert conn.execute(text("SELECT messages_per_day FROM user_quotas")).scalar() == 5
    assert [m.content for m in ChatStore(engine).load_messages("u1", "s1")] == ["hello", "hi"]
    migrate(engine)
    dispose_engine(database_url)


def test_the_quota_models_match_the_migrated_schema(engine: Engine) -> None:
    # With users, whose id their foreign keys name.
    tables = {"user_quotas", "quota_use", "users"}
    assert differences_from_the_models(engine, tables) == []


def test_the_single_sign_on_models_match_the_migrated_schema(engine: Engine) -> None:
    tables = {"sso_identities", "sso_logins", "users"}
    assert differences_from_the_models(engine, tables) == []


def test_0012_downgrade_disables_accounts_that_only_the_provider_could_sign_in(
    database_url: str,
) -> None:
    engine = get_engine(database_url)
    migrate(engine)
    with write_transaction(engine) as conn:
        for user_id, name, password_hash in (("u1", "ada", "x"), ("u2", "sso-only", "")):
            conn.execute(
                text(
                    "INSERT INTO users (id, username, display_name, email, password_hash, role, "
                    "disabled, created_at, sessions_valid_after) VALUES (:id, :name, :name, '', "
                    ":hash, 'user', false, :now, :now)"
                ),
                {"id": user_id, "name": name, "hash": password_hash, "now": T0},
            )
            conn.execute(
                text(
                    "INSERT INTO sso_identities (issuer, subject, user_id, email, created_at, "
                    "last_sign_in_at) VALUES ('https://id.example', :id, :id, '', :now, :now)"
                ),
                {"id": user_id, "now": T0},
            )
    ChatStore(engine).finish_turn(ChatStore(engine).begin_turn("u2", "s1", "hello"), "hi")

    downgrade(engine, "0011")
    assert not {"sso_identities", "sso_logins"} & set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        users = conn.execute(text("SELECT username, disabled FROM users ORDER BY id")).all()
    # Its chats stay; an admin can give it a password and enable it.
    assert [(name, bool(disabled)) for name, disabled in users] == [
        ("ada", False),
        ("sso-only", True),
    ]
    assert [m.content for m in ChatStore(engine).load_messages("u2", "s1")] == ["hello", "hi"]
    migrate(engine)
    dispose_engine(database_url)


def _policy_roles(engine: Engine, where: str) -> dict[str, list[str]]:
    """Each table's policy matching `where` and the roles it applies to (PUBLIC shows as
    "public")."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                f"SELECT tablename, roles::TEXT[] FROM pg_policies WHERE {where} ORDER BY tablename"
            )
        ).all()
    return {table: list(roles) for table, roles in rows}


def _audited_policies(engine: Engine) -> dict[str, list[str]]:
    return _policy_roles(engine, "policyname LIKE '%\\_audited\\_read'")


def _auditor_may_read(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.scalar(
                text("SELECT has_table_privilege('chat_auditor', 'chat_messages', 'SELECT')")
            )
        )


def test_0014_gives_the_audited_read_its_own_role_and_downgrades_to_0013(
    postgres_url: str,
) -> None:
    engine = get_engine(postgres_url)
    migrate(engine)
    audited_by_the_auditor = {"chat_messages": ["chat_auditor"], "chat_sessions": ["chat_auditor"]}
    assert _audited_policies(engine) == audited_by_the_auditor
    assert _auditor_may_read(engine)

    downgrade(engine, "0013")
    assert _audited_policies(engine) == {"chat_messages": ["public"], "chat_sessions": ["public"]}
    # The role is the cluster's and stays; in this database it may no longer read anything.
    assert not _auditor_may_read(engine)

    migrate(engine)
    assert _audited_policies(engine) == audited_by_the_auditor
    assert version(engine) == HEAD
    dispose_engine(postgres_url)


def _restrictive_policies(engine: Engine) -> dict[str, list[str]]:
    return _policy_roles(engine, "permissive = 'RESTRICTIVE'")


def test_0015_holds_the_auditor_to_its_audit_and_downgrades_to_0014(postgres_url: str) -> None:
    engine = get_engine(postgres_url)
    migrate(engine)
    held = {"chat_messages": ["chat_auditor"], "chat_sessions": ["chat_auditor"]}
    assert _restrictive_policies(engine) == held

    downgrade(engine, "0014")
    assert _restrictive_policies(engine) == {}

    migrate(engine)
    assert _restrictive_policies(engine) == held
    assert version(engine) == HEAD
    dispose_engine(postgres_url)
