"""Accounts in bulk: a CSV of new accounts is checked whole, then every account is created in
one transaction, each with a temporary password that must be changed at first sign-in.

Temporary passwords, not sign-in links: they go through the one sign-in form, its guess limits
and its server-side sessions, with nothing new to reach from outside; a link would be a second
way in. Each is 16 characters drawn by `secrets` from 62 letters and digits (95 bits) and ends
after TEMPORARY_PASSWORD_DAYS.

Why they are hashed at bcrypt cost 4 (about 1 ms) instead of PASSWORD_HASH_ROUNDS: a slow hash
protects passwords people choose, which are few enough to guess. A 95-bit random secret is not:
at a billion cost-4 guesses a second, finding one takes about 10^12 years. So 10,000 accounts
take seconds instead of the 40 minutes cost 12 would, and the password the user chooses at
first sign-in is hashed at the full cost like any other.

A file is refused as a whole, naming the line and the reason of every bad row (up to
MAX_PROBLEMS_SHOWN): an invalid username, display name, e-mail or role, a username twice in
the file or already taken, an unknown column. Nothing is created unless every row is good."""

from __future__ import annotations

import csv
import io
import secrets
import string
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, delete, insert, select, update

import settings
from accounts.errors import AccountError, AccountsUnavailable
from accounts.lockout import clear_failures, forget_known_browsers
from accounts.models import LoginFailure, User
from accounts.passwords import hash_password_at
from accounts.transactions import serialised_transaction
from accounts.users import ACCOUNTS_KEY, ADMIN, USER, has_accounts, require_row, revoke
from accounts.validation import check_display_name, check_email, check_role, check_username
from audit.log import PASSWORD_RESET, USER_CREATED, append_events, safe_cell
from database import utcnow
from database.outages import module_outages_raise

COLUMNS = ("username", "display_name", "role", "email")
REQUIRED_COLUMNS = ("username",)
# Another spelling a spreadsheet user may type for a column.
COLUMN_ALIASES = {"display name": "display_name", "name": "display_name", "e-mail": "email"}
MAX_ROWS = 50_000
MAX_PROBLEMS_SHOWN = 20
TEMPORARY_PASSWORD_CHARS = 16
TEMPORARY_PASSWORD_ALPHABET = string.ascii_letters + string.digits
TEMPORARY_HASH_ROUNDS = 4
DEFAULT_TEMPORARY_PASSWORD_DAYS = 7
# Usernames per IN (...) query: well under SQLite's and PostgreSQL's parameter limits.
_CHUNK = 500
_ISSUED_COLUMNS = ("username", "display_name", "role", "temporary_password", "expires_at_utc")

_users = User.__table__
_failures = LoginFailure.__table__


@dataclass(frozen=True)
class RowProblem:
    """Why one line of the file cannot be imported."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class ImportRefused(AccountError):
    """The file was not imported, for the reasons in `problems`; nothing was created."""

    def __init__(self, problems: Sequence[RowProblem]) -> None:
        self.problems = list(problems)
        shown = "; ".join(str(problem) for problem in self.problems[:MAX_PROBLEMS_SHOWN])
        more = len(self.problems) - MAX_PROBLEMS_SHOWN
        super().__init__(
            "nothing was imported: " + shown + (f"; and {more:,} more problems" if more > 0 else "")
        )


@dataclass(frozen=True)
class NewAccount:
    """One checked row of the file: an account to create."""

    line: int
    username: str
    display_name: str
    role: str
    email: str


@dataclass(frozen=True)
class IssuedAccount:
    """An account the import created, with its temporary password (shown once, never
    stored in clear)."""

    id: str
    username: str
    display_name: str
    role: str
    temporary_password: str
    expires_at: datetime


def temporary_password_days() -> int:
    days = settings.get_int("TEMPORARY_PASSWORD_DAYS", DEFAULT_TEMPORARY_PASSWORD_DAYS)
    if not 1 <= days <= 90:
        raise ValueError(f"setting TEMPORARY_PASSWORD_DAYS must be from 1 to 90, got {days}")
    return days


def new_temporary_password() -> str:
    return "".join(
        secrets.choice(TEMPORARY_PASSWORD_ALPHABET) for _ in range(TEMPORARY_PASSWORD_CHARS)
    )


def _header(row: list[str]) -> list[str] | RowProblem:
    """The column of each cell of the first line; "" for an empty cell, as a spreadsheet
    leaves after the last column."""
    names = [COLUMN_ALIASES.get(name.strip().lower(), name.strip().lower()) for name in row]
    if len(names) == 1 and ";" in names[0]:
        return RowProblem(
            1,
            "the columns must be separated by commas, not semicolons: in a spreadsheet, save "
            'as "CSV UTF-8 (comma delimited)"',
        )
    unknown = [name for name in names if name and name not in COLUMNS]
    if unknown:
        return RowProblem(
            1,
            f"unknown column {unknown[0]!r}: the columns are {', '.join(COLUMNS)} "
            "(only username is required)",
        )
    twice = [name for name in names if name and names.count(name) > 1]
    if twice:
        return RowProblem(1, f"the column {twice[0]!r} appears twice")
    if "username" not in names:
        return RowProblem(1, "the first line must name the columns, username among them")
    return names


def _records(
    reader: Iterator[list[str]], line_of_last: Callable[[], int]
) -> Iterator[tuple[int, list[str]]]:
    """Each record with the line it starts on (a quoted cell may span several lines)."""
    while True:
        start = line_of_last() + 1
        row = next(reader, None)
        if row is None:
            return
        yield start, row


def read_accounts_csv(text: str, *, engine: Engine | None = None) -> list[NewAccount]:
    """The rows of a CSV (a header line naming the columns, then one account per line), each
    checked on its own, against the others and, given `engine`, against the accounts there;
    ImportRefused naming every bad line if any is bad. A blank role is an ordinary user; a
    blank display name is the username."""
    # strict: a quote left open is an error, not the rest of the file read as one cell.
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")), strict=True)
    try:
        first = next(reader, None)
        if first is None:
            raise ImportRefused([RowProblem(1, "the file is empty")])
        header = _header(first)
        if isinstance(header, RowProblem):
            raise ImportRefused([header])
        accounts: list[NewAccount] = []
        problems: list[RowProblem] = []
        seen: dict[str, int] = {}
        for line, row in _records(reader, lambda: reader.line_num):
            if not any(cell.strip() for cell in row):
                continue  # a blank line, as spreadsheets often leave at the end
            if len(accounts) + len(problems) >= MAX_ROWS:
                raise ImportRefused(
                    [RowProblem(line, f"a file can hold at most {MAX_ROWS:,} accounts")]
                )
            unnamed = [cell for column, cell in zip(header, row, strict=False) if not column]
            if any(cell.strip() for cell in unnamed + row[len(header) :]):
                problems.append(
                    RowProblem(line, "a value in a column the first line does not name")
                )
                continue
            cells = {column: cell for column, cell in zip(header, row, strict=False) if column}
            try:
                account = NewAccount(
                    line=line,
                    username=check_username(cells.get("username", "")),
                    display_name=check_display_name(cells.get("display_name", "")),
                    role=check_role(cells.get("role", "").strip().lower() or USER),
                    email=check_email(cells.get("email", "")),
                )
            except AccountError as error:
                problems.append(RowProblem(line, str(error)))
                continue
            if account.username in seen:
                problems.append(
                    RowProblem(
                        line,
                        f"the username {account.username!r} is already on line "
                        f"{seen[account.username]}",
                    )
                )
                continue
            seen[account.username] = line
            accounts.append(account)
    except csv.Error as error:
        raise ImportRefused(
            [RowProblem(reader.line_num, f"not readable as CSV: {error}")]
        ) from None
    if engine is not None:
        with engine.connect() as conn:
            problems.extend(_taken(conn, accounts))
    if problems:
        raise ImportRefused(sorted(problems, key=lambda problem: problem.line))
    if not accounts:
        raise ImportRefused([RowProblem(1, "the file names no account")])
    return accounts


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _taken(conn: Connection, accounts: Sequence[NewAccount]) -> list[RowProblem]:
    taken: set[str] = set()
    for chunk in _chunks([account.username for account in accounts]):
        taken.update(conn.scalars(select(_users.c.username).where(_users.c.username.in_(chunk))))
    return [
        RowProblem(account.line, f"the username {account.username!r} is taken")
        for account in accounts
        if account.username in taken
    ]


def import_accounts(
    engine: Engine,
    accounts: Sequence[NewAccount],
    *,
    actor_id: str | None,
    detail: str = "bulk import",
    now: datetime | None = None,
) -> list[IssuedAccount]:
    """Create every account of `accounts` (from `read_accounts_csv`) in one transaction, each
    with a temporary password, and record each creation in the audit log in that same
    transaction. ImportRefused, with nothing created, if a username is taken meanwhile, or if
    the instance has no account yet and no row is an admin."""
    now = now or utcnow()
    expires_at = now + timedelta(days=temporary_password_days())
    with engine.connect() as conn:
        # Refused before any password is hashed; checked again below, under the lock.
        problems = _taken(conn, accounts)
    if problems:
        raise ImportRefused(problems)
    issued = [
        IssuedAccount(
            id=uuid.uuid4().hex,
            username=account.username,
            display_name=account.display_name or account.username,
            role=account.role,
            temporary_password=new_temporary_password(),
            expires_at=expires_at,
        )
        for account in accounts
    ]
    rows = [
        {
            "id": account.id,
            "username": account.username,
            "display_name": account.display_name,
            "email": new.email,
            "role": account.role,
            "disabled": False,
            "created_at": now,
            "last_active_at": None,
            "sessions_valid_after": now,
            "locked_until": None,
            "password_expires_at": expires_at,
            "password_hash": hash_password_at(
                account.temporary_password, rounds=TEMPORARY_HASH_ROUNDS
            ),
        }
        for account, new in zip(issued, accounts, strict=True)
    ]
    with serialised_transaction(engine, key=ACCOUNTS_KEY) as conn:
        problems = _taken(conn, accounts)
        if problems:
            raise ImportRefused(problems)
        if not has_accounts(conn) and not any(account.role == ADMIN for account in accounts):
            raise ImportRefused(
                [RowProblem(1, "this instance has no account yet: give one row the role admin")]
            )
        conn.execute(insert(_users), rows)
        # Failures counted while a name had no account belong to nobody (as for one account).
        for chunk in _chunks([account.username for account in accounts]):
            conn.execute(delete(_failures).where(_failures.c.username.in_(chunk)))
        append_events(
            conn,
            action=USER_CREATED,
            actor_id=actor_id,
            events=[(account.id, f"{detail}: role={account.role}") for account in issued],
            now=now,
        )
    return issued


def issue_temporary_password(
    engine: Engine, *, user_id: str, actor_id: str | None, now: datetime | None = None
) -> IssuedAccount:
    """Give one account a new temporary password (an admin's "Reset password", or a new one
    for a temporary password that expired): the old password stops working, every sign-in
    ends, and it must be replaced at the next sign-in. Audited as PASSWORD_RESET in the same
    transaction. Raises AccountNotFound."""
    now = now or utcnow()
    password = new_temporary_password()
    expires_at = now + timedelta(days=temporary_password_days())
    password_hash = hash_password_at(password, rounds=TEMPORARY_HASH_ROUNDS)
    with serialised_transaction(engine, key=ACCOUNTS_KEY) as conn:
        row = require_row(conn, user_id)
        conn.execute(
            update(_users)
            .where(_users.c.id == user_id)
            .values(password_hash=password_hash, password_expires_at=expires_at)
        )
        revoke(conn, user_id, now)
        forget_known_browsers(conn, user_id)
        clear_failures(conn, row.username)
        append_events(
            conn,
            action=PASSWORD_RESET,
            actor_id=actor_id,
            events=[(user_id, "temporary password issued")],
            now=now,
        )
    return IssuedAccount(
        id=user_id,
        username=row.username,
        display_name=row.display_name,
        role=row.role,
        temporary_password=password,
        expires_at=expires_at,
    )


def issued_csv(issued: Sequence[IssuedAccount]) -> str:
    """The new accounts with their temporary passwords, as CSV for the administrator to hand
    out. A username or display name that a spreadsheet would run as a formula is quoted; a
    password is letters and digits only, so it is never changed by that quoting."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(_ISSUED_COLUMNS)
    for account in issued:
        writer.writerow(
            [
                safe_cell(account.username),
                safe_cell(account.display_name),
                account.role,
                account.temporary_password,
                f"{account.expires_at:%Y-%m-%d %H:%M}",
            ]
        )
    return buffer.getvalue()


# Every public function here reports an unreachable database as AccountsUnavailable.
module_outages_raise(globals(), AccountsUnavailable)
