"""Operator commands for the chat app: accounts, retention, export and import.

Run from the project directory: `python -m manage COMMAND ...`. The database is the app's own:
DATABASE_URL, else the embedded SQLite file in DATA_DIR (migrated to the newest schema first).

  create-user USERNAME [--admin] [--display-name NAME] [--password-stdin]
        Create an account (an ordinary user unless --admin; the very first account is always
        an admin). The password is asked twice on the terminal, or read as one line from
        standard input with --password-stdin.
  reset-password USERNAME [--password-stdin]
        Set a new password (asked the same way); the user is signed out everywhere and any
        lockout is lifted.
  purge
        Delete the sessions older than the retention period set on the admin page (nothing
        when it is "keep forever") and print the counts.
  export USERNAME [--format json|markdown] [--output FILE]
        Write all of the user's chats to FILE, or to standard output. JSON can be imported
        again; Markdown is for reading. Recorded in the audit log as a reading of the user's
        chats, so the user sees it on their My data page.
  import USERNAME FILE
        Add the chats of a JSON export (FILE, or - for standard input) to USERNAME's chats,
        with their titles, messages and times; all or nothing.
  import-users FILE [--output FILE]
        Create the accounts of a CSV file (FILE, or - for standard input): a first line naming
        the columns username, display_name, role (admin or user; blank is user) and email,
        then one account per line. All or nothing: a bad line fails the whole file, named
        with its line number. Each account gets a temporary password, to be replaced at its
        first sign-in; they are written once, as CSV, to --output (a new file only its owner
        can read) or to standard output.
  migrate
        Bring the schema to the newest version. On PostgreSQL this needs the tables' owner:
        DATABASE_OWNER_URL (else DATABASE_URL is used, which then must own them).
  grant-app-role ROLE
        As the owner (DATABASE_OWNER_URL), after migrating: let ROLE, the role the app
        connects as, use every table, sequence and narrow function, now and after later
        migrations. PostgreSQL only.

Only `migrate` and `grant-app-role` need the owner; every other command runs as the app's
role (DATABASE_URL), held by row security like the app itself.

Each command prints one line saying what it did (to standard error when the data itself goes
to standard output) and exits 0; on an error it prints "error: ..." and exits 1 (2 for a
command line that does not parse). Account creation, password resets, purges and exports are
recorded in the audit log with no actor and the detail "cli" (ids and counts, no content).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from sqlalchemy.exc import SQLAlchemyError

import audit
import settings
from accounts import Account, AccountNotFound, create_account, find_account, reset_password
from accounts.bulk_import import import_accounts, issued_csv, read_accounts_csv
from database import get_engine, is_sqlite, migrate
from database.migrate import OwnerNeeded
from database.outages import DatabaseUnavailable
from database.row_security import RowSecurityBypassed, grant_app_role
from memory import ChatStore, open_store
from memory.export import export_user_json, export_user_markdown, import_user_json
from memory.retention import purge_expired

CLI_DETAIL = "cli"
EXPORT_REASON = "export by the operator (command line)"


class CommandError(Exception):
    """A problem the operator can fix; printed as one line, exit status 1."""


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        # Only the line break goes: any other character belongs to the password.
        password = line.removesuffix("\n").removesuffix("\r")
        if not password:
            raise CommandError("no password on standard input")
        return password
    if not sys.stdin.isatty():
        raise CommandError("no terminal to ask for the password: use --password-stdin")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Repeat the password: ") != password:
        raise CommandError("the two passwords differ; nothing was changed")
    return password


def _account(store: ChatStore, username: str) -> Account:
    account = find_account(store.engine, username=username)
    if account is None:
        raise CommandError(f"no account is named {username.strip().lower()!r}")
    return account


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _say(line: str, stream: TextIO | None = None) -> None:
    print(line, file=stream or sys.stdout)


def create_user(store: ChatStore, args: argparse.Namespace) -> None:
    """create-user: a new account, audited."""
    password = _read_password(args)
    account = create_account(
        store.engine,
        username=args.username,
        password=password,
        display_name=args.display_name,
        role="admin" if args.admin else None,
        via_signup=False,
    )
    audit.record(
        store.engine,
        action=audit.USER_CREATED,
        actor_id=None,
        subject_user_id=account.id,
        detail=f"{CLI_DETAIL}: role={account.role}",
    )
    _say(f"created {account.role} {account.username} (id {account.id})")


def reset_user_password(store: ChatStore, args: argparse.Namespace) -> None:
    """reset-password: a new password for an existing account, audited."""
    account = _account(store, args.username)
    password = _read_password(args)
    try:
        reset_password(store.engine, username=account.username, new_password=password)
    except AccountNotFound as error:  # deleted while the password was being typed
        raise CommandError(str(error)) from None
    audit.record(
        store.engine,
        action=audit.PASSWORD_RESET,
        actor_id=None,
        subject_user_id=account.id,
        detail=CLI_DETAIL,
    )
    _say(f"reset the password of {account.username}; their sign-ins are revoked")


def purge(store: ChatStore, args: argparse.Namespace) -> None:
    """purge: apply the retention policy now, audited."""
    counts = purge_expired(store)
    audit.record_purge(
        store.engine, sessions=counts.sessions, messages=counts.messages, via=CLI_DETAIL
    )
    if counts.cutoff is None:
        _say("retention is set to keep forever: nothing purged")
    else:
        _say(
            f"purged {_count(counts.sessions, 'session')} and "
            f"{_count(counts.messages, 'message')} "
            f"not updated since {counts.cutoff:%Y-%m-%d %H:%M} UTC"
        )


def export(store: ChatStore, args: argparse.Namespace) -> None:
    """export: all of a user's chats as JSON or Markdown, audited as a reading of them."""
    account = _account(store, args.username)
    data = export_user_json(store, user_id=account.id)
    if args.format == "json":
        text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    else:
        text = export_user_markdown(store, user_id=account.id)
    sessions = len(data["sessions"])
    messages = sum(len(session["messages"]) for session in data["sessions"])
    # Recorded before the data leaves: a failed write leaves a record too, never the reverse.
    audit.record(
        store.engine,
        action=audit.HISTORY_VIEWED,
        actor_id=None,
        subject_user_id=account.id,
        reason=EXPORT_REASON,
        detail=f"{CLI_DETAIL}: export {args.format} sessions={sessions} messages={messages}",
    )
    where = args.output or "standard output"
    line = (
        f"exported {_count(sessions, 'session')} ({_count(messages, 'message')}) "
        f"of {account.username} to {where}"
    )
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as error:
            raise CommandError(f"cannot write {args.output}: {error.strerror}") from None
        _say(line)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
        _say(line, sys.stderr)


def import_chats(store: ChatStore, args: argparse.Namespace) -> None:
    """import: add the chats of a JSON export to an account."""
    account = _account(store, args.username)
    try:
        raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as error:
        raise CommandError(f"cannot read {args.file}: {error.strerror}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise CommandError(f"{args.file} is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise CommandError(f"{args.file} is not valid JSON: {error}") from None
    imported = import_user_json(store, user_id=account.id, data=data)
    _say(f"imported {_count(imported, 'session')} into {account.username}")


def import_users(store: ChatStore, args: argparse.Namespace) -> None:
    """import-users: the accounts of a CSV, all or none, each with a temporary password."""
    try:
        raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as error:
        raise CommandError(f"cannot read {args.file}: {error.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError(f"{args.file} is not UTF-8 text") from None
    output = Path(args.output) if args.output else None
    if output is not None and output.exists():
        # Checked before anything is created: the passwords could not be written anywhere.
        raise CommandError(f"{output} exists: name a new file for the temporary passwords")
    accounts = read_accounts_csv(text, engine=store.engine)
    issued = import_accounts(store.engine, accounts, actor_id=None, detail=CLI_DETAIL)
    passwords = issued_csv(issued)
    line = f"created {_count(len(issued), 'account')}; their temporary passwords are in "
    if output is None:
        sys.stdout.write(passwords)
        sys.stdout.flush()
        _say(line + "the CSV above", sys.stderr)
        return
    try:
        # Readable by its owner only, from the moment it exists.
        with os.fdopen(os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
            file.write(passwords)
    except OSError as error:
        sys.stdout.write(passwords)  # the accounts exist: their passwords must not be lost
        raise CommandError(
            f"cannot write {output}: {error.strerror}; the passwords went to standard output"
        ) from None
    _say(line + str(output))


def _owner_engine():
    return get_engine(settings.database_owner_url() or settings.database_url())


def migrate_schema(args: argparse.Namespace) -> None:
    engine = _owner_engine()
    migrate(engine)
    _say("the schema is up to date")


def grant_role(args: argparse.Namespace) -> None:
    engine = _owner_engine()
    if is_sqlite(engine):
        raise CommandError("roles exist on PostgreSQL only: SQLite needs no grant")
    migrate(engine)
    grant_app_role(engine, args.role)
    _say(f"{args.role} may now use the app's tables; row security holds it to one user")


def build_parser() -> argparse.ArgumentParser:
    """The command line, documented by this module's docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m manage",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def password_input(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password as one line from standard input instead of asking",
        )

    command = commands.add_parser("create-user", help="create an account")
    command.add_argument("username")
    command.add_argument("--admin", action="store_true", help="make it an administrator")
    command.add_argument("--display-name", default="", metavar="NAME", help="name shown in the app")
    password_input(command)
    command.set_defaults(run=create_user)

    command = commands.add_parser("reset-password", help="set a new password for an account")
    command.add_argument("username")
    password_input(command)
    command.set_defaults(run=reset_user_password)

    command = commands.add_parser("purge", help="delete chats older than the retention period")
    command.set_defaults(run=purge)

    command = commands.add_parser("export", help="write all of a user's chats")
    command.add_argument("username")
    command.add_argument("--format", choices=("json", "markdown"), default="json")
    command.add_argument("--output", metavar="FILE", help="write here instead of standard output")
    command.set_defaults(run=export)

    command = commands.add_parser("import", help="add the chats of a JSON export to a user")
    command.add_argument("username")
    command.add_argument("file", metavar="FILE", help="a JSON export, or - for standard input")
    command.set_defaults(run=import_chats)

    command = commands.add_parser("migrate", help="bring the schema up to date (as the owner)")
    command.set_defaults(run=None, owner_run=migrate_schema)

    command = commands.add_parser(
        "grant-app-role", help="let the app's PostgreSQL role use the tables (as the owner)"
    )
    command.add_argument("role", help="the role DATABASE_URL connects as")
    command.set_defaults(run=None, owner_run=grant_role)

    command = commands.add_parser("import-users", help="create the accounts of a CSV file")
    command.add_argument("file", metavar="FILE", help="a CSV file, or - for standard input")
    command.add_argument(
        "--output", metavar="FILE", help="a new file for the temporary passwords (else stdout)"
    )
    command.set_defaults(run=import_users)
    return parser


def _database_problem(error: SQLAlchemyError) -> str:
    # The driver's own message names the problem; SQLAlchemy's adds the statement and its
    # parameters, which may hold a password hash.
    cause = getattr(error, "orig", None) or error
    first_line = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    return f"database error: {first_line}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        if args.run is None:
            args.owner_run(args)
            return 0
        store = open_store()
        args.run(store, args)
    except KeyboardInterrupt:
        print("\ncancelled; nothing was changed", file=sys.stderr)
        return 130
    except DatabaseUnavailable as error:
        cause = error.__cause__
        detail = _database_problem(cause) if isinstance(cause, SQLAlchemyError) else str(error)
        print(f"error: {detail}", file=sys.stderr)
        return 1
    except SQLAlchemyError as error:
        print(f"error: {_database_problem(error)}", file=sys.stderr)
        return 1
    except (
        CommandError,
        ValueError,
        LookupError,
        OSError,
        RowSecurityBypassed,
        OwnerNeeded,
    ) as error:
        # The cores' named exceptions are ValueError/LookupError subclasses worded for people.
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
