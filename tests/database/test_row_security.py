"""PostgreSQL's row-level security (migrations 0013 to 0015), on a real server, as the role the app
itself connects as: the database refuses what the application must never do."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, ProgrammingError

import accounts
import audit
from database import get_engine, migrate, utcnow
from database.engine import dispose_engine
from database.row_security import (
    AUDITOR_ROLE,
    PROTECTED_TABLES,
    RowSecurityBypassed,
    act_for,
    bypass_reasons,
    check_app_role,
    grant_app_role,
    reading_for,
)
from memory import ChatStore
from memory.stats import user_usage
from memory.store import AuditedReader
from tests.support.databases import whole_database
from tests.support.pgbouncer import PgBouncer
from tests.support.postgres import APP_ROLE, PostgresCluster


@pytest.fixture(params=["direct", "pgbouncer"])
def app_engine(
    request: pytest.FixtureRequest,
    postgres_cluster: PostgresCluster,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Engine]:
    """A migrated database, as the app's role, straight to the server and then through
    PgBouncer in transaction mode; alice and bob each have a chat named "same"."""
    url = postgres_cluster.create_app_database()
    if request.param == "pgbouncer":
        bouncer: PgBouncer = request.getfixturevalue("pgbouncer")
        monkeypatch.setenv("DATABASE_POOLER", "pgbouncer")
        url = bouncer.url(make_url(url).database or "")
    engine = get_engine(url)
    store = ChatStore(engine)
    for user in ("alice", "bob"):
        turn = store.begin_turn(user, "same", f"{user}'s secret question")
        store.finish_turn(turn, f"{user}'s secret answer")
    yield engine
    dispose_engine(url)
    dispose_engine(whole_database(engine).url.render_as_string(hide_password=False))


def _rows(conn, table: str) -> list[str]:
    return list(conn.scalars(text(f"SELECT user_id FROM {table}")))


def _session_terms_owners(conn) -> set[str]:
    return set(conn.scalars(text("SELECT split_part(term, 'x', 1) FROM session_terms")))


def test_the_owner_sees_both_users_rows_in_every_protected_table(app_engine: Engine) -> None:
    # The baseline for the tests below: the rows are there.
    with whole_database(app_engine).connect() as conn:
        for table in ("chat_sessions", "chat_messages", "message_search", "search_owners"):
            assert set(_rows(conn, table)) == {"alice", "bob"}, table
        assert len(_session_terms_owners(conn)) == 2


def test_a_raw_select_with_no_user_set_returns_no_row_of_any_chat_table(
    app_engine: Engine,
) -> None:
    with app_engine.connect() as conn:
        for table in PROTECTED_TABLES:
            assert conn.scalar(text(f"SELECT count(*) FROM {table}")) == 0, table


def test_with_a_user_set_a_raw_select_returns_only_that_users_rows(app_engine: Engine) -> None:
    with app_engine.connect() as conn:
        act_for(conn, "alice")
        for table in ("chat_sessions", "chat_messages", "message_search", "search_owners"):
            assert set(_rows(conn, table)) == {"alice"}, table
        alice_key = conn.scalar(text("SELECT key FROM search_owners"))
        assert _session_terms_owners(conn) == {str(alice_key)}
        contents = list(conn.scalars(text("SELECT content FROM chat_messages")))
    assert contents == ["alice's secret question", "alice's secret answer"]


def test_an_insert_naming_another_user_fails(app_engine: Engine) -> None:
    with app_engine.connect() as conn:
        act_for(conn, "alice")
        with pytest.raises(ProgrammingError, match="row-level security"):
            conn.execute(
                text(
                    "INSERT INTO chat_sessions (user_id, session_id, title, ability, created_at, "
                    "updated_at, message_count, last_turn, shelf, title_source) VALUES "
                    "('bob', 'planted', '', 'x', now(), now(), 0, 0, 'listed', 'user')"
                )
            )


def test_an_update_cannot_hand_a_row_to_another_user_nor_reach_theirs(app_engine: Engine) -> None:
    with app_engine.connect() as conn:
        act_for(conn, "alice")
        with pytest.raises(ProgrammingError, match="row-level security"):
            conn.execute(text("UPDATE chat_messages SET user_id = 'bob'"))
    with app_engine.begin() as conn:
        act_for(conn, "alice")
        # Bob's rows are simply not there for this transaction: nothing is changed.
        changed = conn.execute(
            text("UPDATE chat_messages SET content = 'defaced' WHERE user_id = 'bob'")
        ).rowcount
        deleted = conn.execute(text("DELETE FROM chat_sessions WHERE user_id = 'bob'")).rowcount
    assert (changed, deleted) == (0, 0)
    with whole_database(app_engine).connect() as conn:
        assert "defaced" not in conn.scalars(text("SELECT content FROM chat_messages")).all()


def test_the_user_setting_does_not_outlive_its_transaction_on_a_pooled_connection(
    app_engine: Engine, postgres_cluster: PostgresCluster
) -> None:
    # One pooled connection, used twice: the second transaction sets no user. Another client
    # next: straight to the server it has its own backend; through PgBouncer it is handed the
    # very backend alice's transaction ran on (checked), where a leaked setting would show.
    options = {"prepare_threshold": None}
    single = create_engine(app_engine.url, pool_size=1, max_overflow=0, connect_args=options)
    other = create_engine(app_engine.url, connect_args=options)
    try:
        with single.connect() as conn:
            act_for(conn, "alice")
            assert conn.scalar(text("SELECT count(*) FROM chat_messages")) == 2
            backend = conn.scalar(text("SELECT pg_backend_pid()"))
            conn.commit()
            assert conn.scalar(text("SELECT count(*) FROM chat_messages")) == 0
        for engine in (single, other):
            with engine.connect() as conn:
                assert conn.scalar(text("SELECT count(*) FROM chat_messages")) == 0
                setting = conn.scalar(text("SELECT current_setting('app.user_id', true)"))
                assert setting in ("", None)
                served_by = conn.scalar(text("SELECT pg_backend_pid()"))
        if app_engine.url.port != postgres_cluster.port:
            assert served_by == backend
    finally:
        single.dispose()
        other.dispose()


def _admin(engine: Engine, username: str = "root", role: str = "user") -> accounts.Account:
    """The first account is an admin whatever `role` says; later ones take `role`."""
    return accounts.create_account(
        engine, username=username, password="a long password 1", role=role, via_signup=False
    )


def _opening(engine: Engine, admin_id: str, owner: str, session: str, **kwargs) -> int:
    return audit.record(
        engine,
        actor_id=admin_id,
        action=audit.HISTORY_VIEWED,
        subject_user_id=owner,
        session_id=session,
        reason="a support ticket",
        **kwargs,
    ).id


def _read_as(engine: Engine, admin_id: str, audit_id: int, owner: str = "bob") -> list:
    store = ChatStore(engine)
    reader = AuditedReader(admin_id=admin_id, audit_id=audit_id)
    return store.load_messages(owner, "same", every_version=True, reader=reader)


def test_an_admin_read_without_an_audit_row_returns_nothing(app_engine: Engine) -> None:
    admin = _admin(app_engine)
    with app_engine.connect() as conn:
        act_for(conn, admin.id)
        assert conn.scalar(text("SELECT count(*) FROM chat_messages WHERE user_id = 'bob'")) == 0
    # An audit id that names no row, and one that names an event of another kind.
    assert _read_as(app_engine, admin.id, 987654) == []
    other_event = audit.record(
        app_engine,
        actor_id=admin.id,
        action=audit.RETENTION_CHANGED,
        subject_user_id="bob",
        session_id="same",
    )
    assert _read_as(app_engine, admin.id, other_event.id) == []


def test_an_admin_read_under_a_fresh_audit_row_sees_exactly_that_chat(app_engine: Engine) -> None:
    admin = _admin(app_engine)
    store = ChatStore(app_engine)
    turn = store.begin_turn("bob", "other", "bob's other chat")
    store.finish_turn(turn, "unseen")
    audit_id = _opening(app_engine, admin.id, "bob", "same")

    seen = _read_as(app_engine, admin.id, audit_id)
    reader = AuditedReader(admin_id=admin.id, audit_id=audit_id)

    assert [message.content for message in seen] == ["bob's secret question", "bob's secret answer"]
    assert store.get_session("bob", "same", reader=reader) is not None
    # The audit row names one chat: bob's other one, and alice's, stay closed.
    assert store.load_messages("bob", "other", reader=reader) == []
    assert store.load_messages("alice", "same", reader=reader) == []
    # Reading only: under the same audit row, writing is refused outright (the audited
    # reader's role, migration 0014, may only SELECT), and nothing is changed.
    with app_engine.begin() as conn:
        act_for(conn, admin.id, audit_id=audit_id)
        with pytest.raises(ProgrammingError, match="permission denied"):
            conn.execute(text("DELETE FROM chat_messages WHERE user_id = 'bob'"))
    assert len(_read_as(app_engine, admin.id, audit_id)) == 2


def test_an_audit_row_older_than_ten_minutes_opens_nothing(app_engine: Engine) -> None:
    admin = _admin(app_engine)
    stale = _opening(app_engine, admin.id, "bob", "same", now=utcnow() - timedelta(minutes=11))
    fresh = _opening(app_engine, admin.id, "bob", "same", now=utcnow() - timedelta(minutes=9))
    assert _read_as(app_engine, admin.id, stale) == []
    assert len(_read_as(app_engine, admin.id, fresh)) == 2


def test_an_audit_row_of_another_admin_or_of_a_non_admin_opens_nothing(app_engine: Engine) -> None:
    admin = _admin(app_engine)  # the first account: an admin
    other_admin = _admin(app_engine, "second", role="admin")
    ordinary = _admin(app_engine, "plain")
    by_other = _opening(app_engine, other_admin.id, "bob", "same")
    by_ordinary = _opening(app_engine, ordinary.id, "bob", "same")
    # Someone else's audit row, claimed by this admin: refused by the database.
    assert _read_as(app_engine, admin.id, by_other) == []
    # An audit row written for an account that is not an admin: refused too.
    assert _read_as(app_engine, ordinary.id, by_ordinary) == []
    assert len(_read_as(app_engine, other_admin.id, by_other)) == 2


def test_a_disabled_admins_audit_row_opens_nothing(app_engine: Engine) -> None:
    _admin(app_engine)
    second = _admin(app_engine, "second", role="admin")
    opening = _opening(app_engine, second.id, "bob", "same")
    assert len(_read_as(app_engine, second.id, opening)) == 2
    accounts.set_disabled(app_engine, user_id=second.id, disabled=True)
    assert _read_as(app_engine, second.id, opening) == []


def test_usage_figures_come_through_the_narrow_function_without_content(
    app_engine: Engine,
) -> None:
    usage = user_usage(ChatStore(app_engine), user_ids=["alice", "bob", "nobody"])
    assert (usage["alice"].sessions, usage["alice"].messages) == (1, 2)
    assert (usage["bob"].sessions, usage["bob"].messages) == (1, 2)
    assert usage["nobody"].messages == 0


def test_the_narrow_functions_are_refused_to_a_role_not_granted_them(
    postgres_cluster: PostgresCluster, app_engine: Engine
) -> None:
    database = app_engine.url.database
    with psycopg.connect(
        f"host=127.0.0.1 port={postgres_cluster.port} user=postgres dbname={database}",
        autocommit=True,
    ) as conn:
        conn.execute("DROP ROLE IF EXISTS stranger")
        conn.execute("CREATE ROLE stranger LOGIN")
        conn.execute(f'GRANT CONNECT ON DATABASE "{database}" TO stranger')
        conn.execute("GRANT USAGE ON SCHEMA public TO stranger")
    try:
        with (
            psycopg.connect(
                f"host=127.0.0.1 port={postgres_cluster.port} user=stranger dbname={database}"
            ) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute("SELECT * FROM chat_usage(ARRAY['alice'])")
    finally:
        with psycopg.connect(
            f"host=127.0.0.1 port={postgres_cluster.port} user=postgres dbname={database}",
            autocommit=True,
        ) as conn:
            conn.execute("REVOKE ALL ON SCHEMA public FROM stranger")
            conn.execute(f'REVOKE ALL ON DATABASE "{database}" FROM stranger')
            conn.execute("DROP ROLE stranger")


def test_the_apps_own_role_passes_the_start_up_check(app_engine: Engine) -> None:
    assert bypass_reasons(app_engine) == []
    check_app_role(app_engine)


def test_a_superuser_is_refused_at_start_up_with_the_reason(
    app_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_ALLOW_RLS_BYPASS", raising=False)
    owner = whole_database(app_engine)
    with pytest.raises(RowSecurityBypassed, match="postgres is a superuser") as refused:
        check_app_role(owner)
    assert "owns chat_messages" in str(refused.value)
    assert "DATABASE_OWNER_URL" in str(refused.value)


def test_a_development_setting_lets_a_superuser_start(
    app_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_ALLOW_RLS_BYPASS", "1")
    check_app_role(whole_database(app_engine))


def _plan(conn, query: str) -> str:
    return "\n".join(conn.scalars(text(f"EXPLAIN {query}")))


def test_the_apps_own_queries_carry_no_audited_read_policy(app_engine: Engine) -> None:
    # Migration 0014: the audited-read policy belongs to the auditor's role alone, so the
    # plan of an everyday read names no audit function (0013's two InitPlans were its cost).
    admin = _admin(app_engine)
    audit_id = _opening(app_engine, admin.id, "bob", "same")
    query = "SELECT * FROM chat_messages WHERE user_id = 'bob' AND session_id = 'same'"
    with app_engine.connect() as conn:
        act_for(conn, "bob")
        assert "chat_audited_chat" not in _plan(conn, query)
    with app_engine.connect() as conn:
        act_for(conn, admin.id, audit_id=audit_id)
        assert "chat_audited_chat" in _plan(conn, query)


def test_the_auditors_role_does_not_outlive_its_transaction_on_a_pooled_connection(
    app_engine: Engine, postgres_cluster: PostgresCluster
) -> None:
    admin = _admin(app_engine)
    audit_id = _opening(app_engine, admin.id, "bob", "same")
    options = {"prepare_threshold": None}
    single = create_engine(app_engine.url, pool_size=1, max_overflow=0, connect_args=options)
    try:
        for end in ("commit", "rollback"):
            with single.connect() as conn:
                act_for(conn, admin.id, audit_id=audit_id)
                assert conn.scalar(text("SELECT current_user")) == AUDITOR_ROLE
                assert conn.scalar(text("SELECT count(*) FROM chat_messages")) == 2
                getattr(conn, end)()
                # The next transaction on this connection is the app's again and, with no
                # audit row named, reads nothing of bob's.
                assert conn.scalar(text("SELECT current_user")) == APP_ROLE
                assert conn.scalar(text("SELECT count(*) FROM chat_messages")) == 0
    finally:
        single.dispose()


def test_the_apps_role_may_take_the_auditors_role_but_inherits_nothing(
    app_engine: Engine,
) -> None:
    with app_engine.connect() as conn:
        member, inherited, inherits = conn.execute(
            text(
                "SELECT pg_has_role(current_user, :auditor, 'MEMBER'), "
                "pg_has_role(current_user, :auditor, 'USAGE'), rolinherit "
                "FROM pg_roles WHERE rolname = current_user"
            ),
            {"auditor": AUDITOR_ROLE},
        ).one()
    assert (member, inherited, inherits) == (True, False, False)


def test_a_role_the_app_may_become_that_bypasses_row_security_is_refused_at_start_up(
    postgres_cluster: PostgresCluster, app_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_ALLOW_RLS_BYPASS", raising=False)
    superuser = f"host=127.0.0.1 port={postgres_cluster.port} user=postgres dbname=postgres"
    with psycopg.connect(superuser, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS lifted")
        conn.execute(f"CREATE ROLE lifted NOLOGIN BYPASSRLS ROLE {APP_ROLE}")
    try:
        # A NOINHERIT member gains no privilege from it, yet could SET ROLE lifted.
        with pytest.raises(RowSecurityBypassed, match=f"{APP_ROLE} may become lifted"):
            check_app_role(app_engine)
    finally:
        with psycopg.connect(superuser, autocommit=True) as conn:
            conn.execute("DROP ROLE lifted")


def test_a_read_is_read_only_and_writes_nothing(app_engine: Engine) -> None:
    with (
        reading_for(app_engine, "alice") as conn,
        pytest.raises(DBAPIError, match="read-only transaction"),
    ):
        conn.execute(text("DELETE FROM chat_messages"))
    assert len(ChatStore(app_engine).load_messages("alice", "same")) == 2


def test_the_stores_reads_keep_psycopgs_prepared_statements(
    postgres_cluster: PostgresCluster,
) -> None:
    # Reads end in COMMIT: at a ROLLBACK psycopg forgets every prepared statement of the
    # connection, and no query of the store would ever reach its prepare_threshold.
    url = postgres_cluster.create_app_database()
    one_connection = create_engine(url, pool_size=1, max_overflow=0)
    try:
        store = ChatStore(one_connection)
        store.finish_turn(store.begin_turn("alice", "same", "a question"), "an answer")
        for _ in range(6):
            assert len(store.load_messages("alice", "same")) == 2
        with one_connection.connect() as conn:
            prepared = conn.scalars(text("SELECT statement FROM pg_prepared_statements")).all()
        assert any("FROM chat_messages" in statement for statement in prepared), prepared
        assert any("set_config('app.user_id'" in statement for statement in prepared), prepared
    finally:
        one_connection.dispose()


def test_the_auditors_role_naming_a_user_without_an_audit_row_sees_nothing(
    app_engine: Engine,
) -> None:
    # Migration 0015: the owner policy opens nothing to the auditor's role. Taken by hand, with
    # bob named and no audit row, it reads none of bob's rows.
    with app_engine.connect() as conn:
        act_for(conn, "bob")
        conn.execute(text(f"SET LOCAL ROLE {AUDITOR_ROLE}"))
        assert conn.scalar(text("SELECT count(*) FROM chat_messages")) == 0
        assert conn.scalar(text("SELECT count(*) FROM chat_sessions")) == 0


def test_another_databases_app_role_cannot_read_here_through_the_auditors_role(
    postgres_cluster: PostgresCluster, app_engine: Engine
) -> None:
    # chat_auditor is the cluster's: the app role of another database is a member too, and
    # CONNECT is PUBLIC's. Even with a real, fresh audit row of this database's admin named,
    # it reads nothing here, while this database's own app role reads that chat.
    admin = _admin(app_engine)
    audit_id = _opening(app_engine, admin.id, "bob", "same")
    superuser = f"host=127.0.0.1 port={postgres_cluster.port} user=postgres dbname=postgres"
    with psycopg.connect(superuser, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS neighbour_app")
        conn.execute("CREATE ROLE neighbour_app LOGIN NOSUPERUSER NOBYPASSRLS")
    neighbour_db = postgres_cluster.create_database()
    neighbour_owner = get_engine(neighbour_db)
    try:
        migrate(neighbour_owner)
        grant_app_role(neighbour_owner, "neighbour_app")
        audited = "SELECT set_config('app.user_id', %s, true), set_config('app.audit_id', %s, true)"
        for role, seen in (("neighbour_app", 0), (APP_ROLE, 2)):
            with psycopg.connect(
                f"host=127.0.0.1 port={postgres_cluster.port} user={role} "
                f"dbname={app_engine.url.database}"
            ) as conn:
                conn.execute(audited, (admin.id, str(audit_id)))
                conn.execute(f"SET LOCAL ROLE {AUDITOR_ROLE}")
                count = conn.execute("SELECT count(*) FROM chat_messages").fetchone()
                assert count == (seen,), role
    finally:
        dispose_engine(neighbour_db)
        with psycopg.connect(superuser, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{make_url(neighbour_db).database}"')
            conn.execute("DROP ROLE neighbour_app")
