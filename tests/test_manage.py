"""The operator CLI, run as an operator would: `python -m manage ...` in a subprocess against a
real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text, update
from sqlalchemy.engine import make_url

import audit
from accounts import authenticate, create_account, find_account
from database import get_engine, migrate, utcnow, write_transaction
from database.engine import dispose_engine
from database.row_security import grant_app_role, reading_for
from memory import ChatStore
from memory.models import ChatSession
from memory.retention import last_purge, set_retention_days
from memory.store import AuditedReader
from tests.support.databases import whole_database
from tests.support.postgres import APP_ROLE, PostgresCluster

PROJECT_DIR = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Run:
    status: int
    stdout: str
    stderr: str


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    if database_url.startswith("postgresql"):
        # As in production: the commands run as the app's role, the owner migrates.
        env["DATABASE_OWNER_URL"] = database_url
        owner = get_engine(database_url)
        migrate(owner)
        grant_app_role(owner, APP_ROLE)
        dispose_engine(database_url)
        database_url = make_url(database_url).set(username=APP_ROLE).render_as_string(False)
    env.update(
        DATABASE_URL=database_url,
        DATA_DIR=str(tmp_path / "data"),
        SECRETS_FILE=str(tmp_path / "no-secrets.toml"),
        # The lowest bcrypt cost keeps each hash to milliseconds.
        PASSWORD_HASH_ROUNDS="4",
    )
    return env


@pytest.fixture
def manage(cli_env: dict[str, str]):
    def run(*args: str, stdin: str = "") -> Run:
        done = subprocess.run(
            [sys.executable, "-m", "manage", *args],
            cwd=PROJECT_DIR,
            env=cli_env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return Run(done.returncode, done.stdout, done.stderr)

    return run


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def _create(manage, username: str, *extra: str) -> str:
    run = manage("create-user", username, "--password-stdin", *extra, stdin=PASSWORD + "\n")
    assert run.status == 0, run.stderr
    return _one_line(run.stdout)


def _chat(store: ChatStore, user_id: str, session_id: str, *questions: str) -> None:
    for question in questions:
        turn = store.begin_turn(user_id, session_id, question, ability="Java")
        store.finish_turn(turn, f"answer to {question}")


def _snapshot(store: ChatStore, user_id: str) -> dict[str, tuple]:
    return {
        summary.session_id: (
            summary.title,
            summary.ability,
            summary.created_at,
            summary.updated_at,
            summary.message_count,
            [
                (m.turn, m.role, m.content, m.status, m.created_at)
                for m in store.load_messages(user_id, summary.session_id)
            ],
        )
        for summary in store.list_sessions(user_id, limit=1000)
    }


def test_help_documents_every_command(manage) -> None:
    run = manage("--help")

    assert run.status == 0
    for command in ("create-user", "reset-password", "purge", "export", "import", "import-users"):
        assert command in run.stdout


def test_an_unknown_command_is_a_usage_error(manage) -> None:
    run = manage("frobnicate")

    assert run.status == 2
    assert "invalid choice" in run.stderr


def test_create_user_makes_an_account_that_can_sign_in(manage, engine: Engine) -> None:
    line = _create(manage, "Ada", "--display-name", "Ada Lovelace")
    second = _create(manage, "bob")
    third = _create(manage, "carol", "--admin")

    ada = find_account(engine, username="ada")
    assert line == f"created admin ada (id {ada.id})"  # the first account is always an admin
    assert ada.display_name == "Ada Lovelace"
    assert second.startswith("created user bob ")
    assert third.startswith("created admin carol ")
    assert authenticate(engine, username="bob", password=PASSWORD).account is not None
    events = audit.list_events(engine, action=audit.USER_CREATED)
    assert {event.subject_user_id for event in events} == {
        find_account(engine, username=name).id for name in ("ada", "bob", "carol")
    }
    assert all(event.actor_id is None and event.detail.startswith("cli") for event in events)


def test_create_user_refuses_a_taken_username_with_one_clear_line(manage) -> None:
    _create(manage, "ada")

    run = manage("create-user", "ada", "--password-stdin", stdin=PASSWORD + "\n")

    assert run.status == 1
    assert _one_line(run.stderr).startswith("error: ") and "taken" in run.stderr


def test_create_user_refuses_a_weak_password(manage, engine: Engine) -> None:
    run = manage("create-user", "ada", "--password-stdin", stdin="short\n")

    assert run.status == 1
    assert "at least" in _one_line(run.stderr)
    assert find_account(engine, username="ada") is None


def test_without_a_terminal_the_password_must_come_on_stdin(manage, engine: Engine) -> None:
    run = manage("create-user", "ada")

    assert run.status == 1
    assert "--password-stdin" in _one_line(run.stderr)
    assert find_account(engine, username="ada") is None


def test_reset_password_sets_a_new_password_and_is_audited(manage, engine: Engine) -> None:
    _create(manage, "ada")

    run = manage("reset-password", "ADA", "--password-stdin", stdin="a new password\n")

    assert run.status == 0, run.stderr
    assert "ada" in _one_line(run.stdout)
    assert authenticate(engine, username="ada", password="a new password").account is not None
    assert authenticate(engine, username="ada", password=PASSWORD).account is None
    (event,) = audit.list_events(engine, action=audit.PASSWORD_RESET)
    assert event.subject_user_id == find_account(engine, username="ada").id
    assert event.actor_id is None and event.detail == "cli"


def test_reset_password_of_an_unknown_user_fails(manage, engine: Engine) -> None:
    run = manage("reset-password", "nobody", "--password-stdin", stdin=PASSWORD + "\n")

    assert run.status == 1
    assert _one_line(run.stderr) == "error: no account is named 'nobody'"
    assert audit.list_events(engine, action=audit.PASSWORD_RESET) == []


def test_purge_deletes_expired_sessions_and_prints_the_counts(manage, engine: Engine) -> None:
    store = ChatStore(engine)
    _chat(store, "u1", "old", "one", "two")
    _chat(store, "u1", "new", "three")
    sessions = ChatSession.__table__
    with write_transaction(whole_database(engine)) as conn:
        conn.execute(
            update(sessions)
            .where(sessions.c.session_id == "old")
            .values(updated_at=utcnow() - timedelta(days=40))
        )
    set_retention_days(engine, days=30)

    run = manage("purge")

    assert run.status == 0, run.stderr
    assert _one_line(run.stdout).startswith("purged 1 session and 4 messages not updated since")
    assert [s.session_id for s in store.list_sessions("u1")] == ["new"]
    assert last_purge(engine).sessions == 1
    (event,) = audit.list_events(engine, action=audit.RETENTION_PURGED)
    assert event.actor_id is None and event.detail == "cli: sessions=1 messages=4"


def test_purge_with_keep_forever_deletes_nothing(manage, engine: Engine) -> None:
    store = ChatStore(engine)
    _chat(store, "u1", "s1", "one")

    run = manage("purge")

    assert run.status == 0
    assert _one_line(run.stdout) == "retention is set to keep forever: nothing purged"
    assert store.count_sessions("u1") == 1


def test_json_export_and_import_round_trip_to_another_user(
    manage, engine: Engine, tmp_path: Path
) -> None:
    _create(manage, "ada")
    _create(manage, "bob")
    ada = find_account(engine, username="ada")
    bob = find_account(engine, username="bob")
    store = ChatStore(engine)
    _chat(store, ada.id, "s1", "What is jvm?", "And jdk?")
    _chat(store, ada.id, "s2", "Ünïcode ✓ and\nlines")
    _chat(store, bob.id, "s1", "Bob's own question")
    export_file = tmp_path / "ada.json"

    exported = manage("export", "ada", "--output", str(export_file))
    imported = manage("import", "bob", str(export_file))

    assert exported.status == 0, exported.stderr
    assert _one_line(exported.stdout) == (
        f"exported 2 sessions (6 messages) of ada to {export_file}"
    )
    assert imported.status == 0, imported.stderr
    assert _one_line(imported.stdout) == "imported 2 sessions into bob"
    bob_chats = _snapshot(store, bob.id)
    ada_chats = _snapshot(store, ada.id)
    own = bob_chats.pop("s1")  # ada's "s1" came in under a new id beside it
    assert own[5][0][2] == "Bob's own question"
    assert bob_chats["s2"] == ada_chats["s2"]
    assert sorted(bob_chats.values()) == sorted(ada_chats.values())


def test_export_to_stdout_is_the_json_alone_and_is_audited(manage, engine: Engine) -> None:
    _create(manage, "ada")
    ada = find_account(engine, username="ada")
    _chat(ChatStore(engine), ada.id, "s1", "hello")

    run = manage("export", "ada")

    assert run.status == 0, run.stderr
    data = json.loads(run.stdout)
    assert [m["content"] for m in data["sessions"][0]["messages"]] == ["hello", "answer to hello"]
    assert _one_line(run.stderr) == "exported 1 session (2 messages) of ada to standard output"
    (event,) = audit.list_events(engine, action=audit.HISTORY_VIEWED)
    assert event.subject_user_id == ada.id and event.actor_id is None
    assert event.reason and event.detail == "cli: export json sessions=1 messages=2"


def test_markdown_export_holds_every_message(manage, engine: Engine, tmp_path: Path) -> None:
    _create(manage, "ada")
    ada = find_account(engine, username="ada")
    store = ChatStore(engine)
    _chat(store, ada.id, "s1", "first question", "second question")

    run = manage("export", "ada", "--format", "markdown", "--output", str(tmp_path / "ada.md"))

    assert run.status == 0, run.stderr
    text = (tmp_path / "ada.md").read_text(encoding="utf-8")
    for message in store.load_messages(ada.id, "s1"):
        assert message.content in text


def test_export_of_an_unknown_user_fails(manage) -> None:
    run = manage("export", "nobody")

    assert run.status == 1
    assert run.stdout == ""
    assert _one_line(run.stderr) == "error: no account is named 'nobody'"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json at all", "is not valid JSON"),
        ('{"format": "other/1", "sessions": []}', "not an isolated-chat/1 export"),
        (
            '{"format": "isolated-chat/1", "sessions": [{"session_id": "s"}]}',
            "sessions[0].title: the field is missing",
        ),
    ],
)
def test_a_malformed_import_fails_and_stores_nothing(
    manage, engine: Engine, tmp_path: Path, content: str, message: str
) -> None:
    _create(manage, "ada")
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")

    run = manage("import", "ada", str(path))

    assert run.status == 1
    assert message in _one_line(run.stderr)
    assert ChatStore(engine).count_sessions(find_account(engine, username="ada").id) == 0


def test_import_reads_standard_input_when_the_file_is_a_dash(manage, engine: Engine) -> None:
    _create(manage, "ada")
    _create(manage, "bob")
    ada = find_account(engine, username="ada")
    _chat(ChatStore(engine), ada.id, "s1", "hello")
    exported = manage("export", "ada").stdout

    run = manage("import", "bob", "-", stdin=exported)

    assert run.status == 0, run.stderr
    assert ChatStore(engine).count_sessions(find_account(engine, username="bob").id) == 1


def test_import_of_a_missing_file_fails(manage, tmp_path: Path) -> None:
    _create(manage, "ada")

    run = manage("import", "ada", str(tmp_path / "missing.json"))

    assert run.status == 1
    assert "cannot read" in _one_line(run.stderr)


def test_an_unreachable_database_is_one_clear_error(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.update(
        DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:9/none",
        SECRETS_FILE=str(tmp_path / "no-secrets.toml"),
    )

    done = subprocess.run(
        [sys.executable, "-m", "manage", "purge"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 1
    assert _one_line(done.stderr).startswith("error: database error:")


# The interactive prompt needs a terminal: a pseudo-terminal stands in for the operator's.


def _read_until(fd: int, seen: str, done: Callable[[str], bool], timeout: float = 60.0) -> str:
    """`seen` plus what the terminal shows next, until `done(all of it)` or the other end
    closes."""
    deadline = time.monotonic() + timeout
    while not done(seen):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"the terminal showed only {seen!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # the program ended and closed the terminal
                return seen
            if not chunk:
                return seen
            seen += chunk.decode(errors="replace")
    return seen


def _run_on_a_terminal(env: dict[str, str], args: list[str], answers: list[str]) -> tuple[int, str]:
    """Run the CLI on a pseudo-terminal, typing each answer once its prompt is shown."""
    main_end, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "manage", *args],
        cwd=PROJECT_DIR,
        env=env,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
    )
    os.close(terminal)
    seen = ""
    try:
        for number, answer in enumerate(answers, start=1):
            # getpass flushes typed-ahead input, so each answer waits for its own prompt.
            seen = _read_until(main_end, seen, lambda text, n=number: text.count(": ") >= n)
            os.write(main_end, answer.encode() + b"\n")
        seen = _read_until(main_end, seen, lambda text: False)
        status = process.wait(timeout=120)
    finally:
        os.close(main_end)
        if process.poll() is None:
            process.kill()
            process.wait()
    return status, seen


@pytest.fixture
def terminal_env(sqlite_url: str, tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=sqlite_url,
        DATA_DIR=str(tmp_path / "data"),
        SECRETS_FILE=str(tmp_path / "no-secrets.toml"),
        PASSWORD_HASH_ROUNDS="4",
    )
    return env


def test_the_password_is_asked_twice_on_the_terminal(
    terminal_env: dict[str, str], sqlite_url: str
) -> None:
    status, seen = _run_on_a_terminal(terminal_env, ["create-user", "ada"], [PASSWORD, PASSWORD])

    assert status == 0, seen
    assert "Password:" in seen and "Repeat the password:" in seen
    assert PASSWORD not in seen  # not echoed
    assert "created admin ada" in seen


def test_two_different_passwords_on_the_terminal_change_nothing(
    terminal_env: dict[str, str], sqlite_url: str
) -> None:
    status, seen = _run_on_a_terminal(
        terminal_env, ["create-user", "ada"], [PASSWORD, "another password"]
    )

    assert status == 1
    assert "error: the two passwords differ; nothing was changed" in seen
    probe = subprocess.run(
        [sys.executable, "-m", "manage", "export", "ada"],
        cwd=PROJECT_DIR,
        env=terminal_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 1 and "no account is named 'ada'" in probe.stderr


# import-users --------------------------------------------------------------------------------

ACCOUNTS_CSV = "username,display_name,role\nada,Ada,user\nbob,Bob,user\n"


def test_import_users_creates_the_accounts_and_writes_their_passwords_once(
    manage, engine: Engine, tmp_path: Path
) -> None:
    _create(manage, "root", "--admin")
    source = tmp_path / "accounts.csv"
    source.write_text(ACCOUNTS_CSV, encoding="utf-8")
    output = tmp_path / "passwords.csv"

    run = manage("import-users", str(source), "--output", str(output))

    assert run.status == 0, run.stderr
    assert _one_line(run.stdout) == f"created 2 accounts; their temporary passwords are in {output}"
    assert output.stat().st_mode & 0o777 == 0o600
    rows = [line.split(",") for line in output.read_text().strip().splitlines()]
    assert [row[0] for row in rows] == ["username", "ada", "bob"]
    for username, _, _, password, _ in rows[1:]:
        signed_in = authenticate(engine, username=username, password=password).account
        assert signed_in is not None and signed_in.must_choose_password
    created = audit.list_events(engine, action=audit.USER_CREATED)
    assert [event.detail for event in created[:2]] == ["cli: role=user", "cli: role=user"]

    again = manage("import-users", str(source), "--output", str(tmp_path / "other.csv"))
    assert again.status == 1
    assert _one_line(again.stderr).startswith(
        "error: nothing was imported: line 2: the username 'ada' is taken; line 3:"
    )
    assert not (tmp_path / "other.csv").exists()


def test_import_users_reads_stdin_and_prints_the_passwords_as_csv(manage, engine: Engine) -> None:
    _create(manage, "root", "--admin")

    run = manage("import-users", "-", stdin=ACCOUNTS_CSV)

    assert run.status == 0, run.stderr
    assert run.stdout.splitlines()[0] == (
        "username,display_name,role,temporary_password,expires_at_utc"
    )
    assert len(run.stdout.splitlines()) == 3
    assert _one_line(run.stderr) == (
        "created 2 accounts; their temporary passwords are in the CSV above"
    )


def test_import_users_with_a_bad_line_creates_nothing_and_names_the_line(
    manage, engine: Engine, tmp_path: Path
) -> None:
    _create(manage, "root", "--admin")

    run = manage("import-users", "-", stdin="username,role\nada,user\nbob,owner\n")

    assert run.status == 1 and run.stdout == ""
    assert _one_line(run.stderr) == (
        "error: nothing was imported: line 3: role must be one of admin, user, got 'owner'"
    )
    assert find_account(engine, username="ada") is None


def test_import_users_refuses_an_existing_output_file_before_creating_anything(
    manage, engine: Engine, tmp_path: Path
) -> None:
    _create(manage, "root", "--admin")
    output = tmp_path / "passwords.csv"
    output.write_text("keep me")

    run = manage("import-users", "-", "--output", str(output), stdin=ACCOUNTS_CSV)

    assert run.status == 1
    assert "exists: name a new file" in run.stderr
    assert output.read_text() == "keep me"
    assert find_account(engine, username="ada") is None


def _roles_env(postgres_cluster: PostgresCluster, tmp_path: Path) -> dict[str, str]:
    """A new, empty database in the production layout: the owner and the app's own role."""
    owner_url = postgres_cluster.create_database()
    env = dict(os.environ)
    env.update(
        DATABASE_OWNER_URL=owner_url,
        DATABASE_URL=make_url(owner_url).set(username=APP_ROLE).render_as_string(False),
        DATA_DIR=str(tmp_path / "data"),
        SECRETS_FILE=str(tmp_path / "no-secrets.toml"),
        PASSWORD_HASH_ROUNDS="4",
    )
    return env


def _run_with(env: dict[str, str], *args: str, stdin: str = "") -> Run:
    done = subprocess.run(
        [sys.executable, "-m", "manage", *args],
        cwd=PROJECT_DIR,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def test_the_owner_migrates_and_grants_then_the_app_role_works_under_row_security(
    postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    env = _roles_env(postgres_cluster, tmp_path)
    # Before anything: the app's role may not create the schema, and says who can.
    without_owner = {key: value for key, value in env.items() if key != "DATABASE_OWNER_URL"}
    refused = _run_with(without_owner, "purge")
    assert refused.status == 1
    assert "DATABASE_OWNER_URL" in refused.stderr and "manage migrate" in refused.stderr

    assert _run_with(env, "migrate").stdout.strip() == "the schema is up to date"
    granted = _run_with(env, "grant-app-role", APP_ROLE)
    assert granted.status == 0, granted.stderr
    assert granted.stdout.strip().startswith(f"{APP_ROLE} may now use the app's tables")

    # Now every other command runs as the app's role, and the schema is the owner's alone.
    created = _run_with(
        without_owner, "create-user", "root", "--password-stdin", stdin=f"{PASSWORD}\n"
    )
    assert created.status == 0, created.stderr
    assert _run_with(without_owner, "purge").status == 0
    app = make_url(env["DATABASE_URL"])
    with psycopg.connect(
        host=app.host, port=app.port, user=app.username, dbname=app.database
    ) as conn:
        owner = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'chat_messages'")
        assert owner.fetchone() == ("postgres",)
        # And the app's role sees no chat row unless it names a user.
        assert conn.execute("SELECT count(*) FROM chat_sessions").fetchone() == (0,)


def test_grant_app_role_refuses_a_role_name_that_is_not_plain(
    postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    env = _roles_env(postgres_cluster, tmp_path)
    run = _run_with(env, "grant-app-role", "chat_app; DROP TABLE users")
    assert run.status == 1
    assert "is not a plain PostgreSQL role name" in run.stderr


def test_the_readmes_roles_with_an_owner_that_is_no_superuser_migrate_grant_and_audit(
    postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    # README, "PostgreSQL roles": the owner only bypasses row security (no CREATEROLE), the
    # app's role inherits nothing, and the DBA made the auditor's role with the owner as its
    # admin. The auditor's role is the cluster's: earlier tests may have made it already.
    superuser = f"host=127.0.0.1 port={postgres_cluster.port} user=postgres dbname=postgres"
    with psycopg.connect(superuser, autocommit=True) as conn:
        conn.execute("CREATE ROLE layout_owner LOGIN BYPASSRLS")
        conn.execute("CREATE ROLE layout_app LOGIN NOINHERIT")
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'chat_auditor'").fetchone():
            conn.execute("GRANT chat_auditor TO layout_owner WITH ADMIN OPTION")
        else:
            conn.execute("CREATE ROLE chat_auditor NOLOGIN ADMIN layout_owner")
        conn.execute("CREATE DATABASE layout OWNER layout_owner")
    base = f"postgresql+psycopg://{{}}@127.0.0.1:{postgres_cluster.port}/layout"
    env = dict(
        os.environ,
        DATABASE_OWNER_URL=base.format("layout_owner"),
        DATABASE_URL=base.format("layout_app"),
        DATA_DIR=str(tmp_path / "data"),
        SECRETS_FILE=str(tmp_path / "no-secrets.toml"),
        PASSWORD_HASH_ROUNDS="4",
    )
    try:
        assert _run_with(env, "migrate").status == 0
        granted = _run_with(env, "grant-app-role", "layout_app")
        assert granted.status == 0, granted.stderr
        app = get_engine(base.format("layout_app"))
        store = ChatStore(app)
        store.finish_turn(store.begin_turn("bob", "same", "bob's question"), "bob's answer")
        admin = create_account(
            app, username="root", password=PASSWORD, role="admin", via_signup=False
        )
        opening = audit.record(
            app,
            actor_id=admin.id,
            action=audit.HISTORY_VIEWED,
            subject_user_id="bob",
            session_id="same",
            reason="a support ticket",
        )
        reader = AuditedReader(admin_id=admin.id, audit_id=opening.id)
        seen = store.load_messages("bob", "same", reader=reader)
        assert [message.content for message in seen] == ["bob's question", "bob's answer"]
        with reading_for(app, admin.id) as conn:
            assert conn.scalar(text("SELECT count(*) FROM chat_messages")) == 0
        dispose_engine(base.format("layout_app"))
    finally:
        with psycopg.connect(superuser, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS layout WITH (FORCE)")
            conn.execute("DROP ROLE IF EXISTS layout_app")
            conn.execute("DROP ROLE IF EXISTS layout_owner")
