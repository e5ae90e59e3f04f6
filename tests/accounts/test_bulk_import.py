"""accounts/bulk_import.py on both engines: a CSV of accounts is created whole or not at all,
every bad line named with its number; each new account signs in once with its temporary
password, must replace it, and is refused once it has expired."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

import audit
from accounts import (
    AccountNotFound,
    WrongPassword,
    authenticate,
    change_password,
    count_accounts,
    create_account,
    find_account,
    get_sign_in,
    list_sign_ins,
    passwords,
    start_sign_in,
)
from accounts.bulk_import import (
    MAX_ROWS,
    TEMPORARY_PASSWORD_CHARS,
    ImportRefused,
    import_accounts,
    issue_temporary_password,
    issued_csv,
    read_accounts_csv,
)
from accounts.models import User
from accounts.passwords import password_matches

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
GOOD = """username,display_name,role,email
ada.l,Ada Lovelace,admin,ada@example.org
bob,Bob,user,
cleo,,,
"""


def refusal(text: str) -> list[tuple[int, str]]:
    with pytest.raises(ImportRefused) as refused:
        read_accounts_csv(text)
    return [(problem.line, problem.reason) for problem in refused.value.problems]


def test_a_good_file_creates_every_account_with_a_temporary_password(engine: Engine) -> None:
    root = create_account(engine, username="root", password=PASSWORD)

    issued = import_accounts(engine, read_accounts_csv(GOOD), actor_id=root.id, now=T0)

    assert [(a.username, a.display_name, a.role) for a in issued] == [
        ("ada.l", "Ada Lovelace", "admin"),
        ("bob", "Bob", "user"),
        ("cleo", "cleo", "user"),  # no display name: the username; no role: an ordinary user
    ]
    assert count_accounts(engine) == 4
    for account in issued:
        stored = find_account(engine, username=account.username)
        assert stored is not None and stored.must_choose_password
        assert stored.password_expires_at == T0 + timedelta(days=7)
        assert len(account.temporary_password) == TEMPORARY_PASSWORD_CHARS
        assert account.temporary_password.isalnum()
    assert find_account(engine, username="ada.l").email == "ada@example.org"
    assert len({account.temporary_password for account in issued}) == 3
    # Each creation is in the audit log, by whom, with no password.
    created = audit.list_events(engine, action=audit.USER_CREATED)
    assert {event.subject_user_id for event in created} == {account.id for account in issued}
    assert {(event.subject_user_id, event.actor_id, event.detail) for event in created} == {
        (account.id, root.id, f"bulk import: role={account.role}") for account in issued
    }


def test_the_temporary_password_is_stored_only_as_a_hash(engine: Engine) -> None:
    create_account(engine, username="root", password=PASSWORD)
    [bob] = import_accounts(engine, read_accounts_csv("username\nbob\n"), actor_id=None)
    with engine.connect() as conn:
        stored = conn.scalar(select(User.password_hash).where(User.username == "bob"))
    assert bob.temporary_password not in stored
    assert stored.startswith("$2b$04$")  # cost 4: a 95-bit random secret needs no slow hash
    assert password_matches(bob.temporary_password, stored)


def test_a_new_account_signs_in_with_its_temporary_password_until_it_expires(
    engine: Engine,
) -> None:
    create_account(engine, username="root", password=PASSWORD)
    [bob] = import_accounts(engine, read_accounts_csv("username\nbob\n"), actor_id=None, now=T0)

    signed_in = authenticate(engine, username="bob", password=bob.temporary_password, now=T0)
    assert signed_in.account is not None and signed_in.account.must_choose_password

    later = T0 + timedelta(days=7)
    expired = authenticate(engine, username="bob", password=bob.temporary_password, now=later)
    assert expired.account is None and expired.temporary_password_expired
    wrong = authenticate(engine, username="bob", password="not the password", now=T0)
    assert not wrong.temporary_password_expired  # only the right password learns it expired
    with pytest.raises(WrongPassword, match="expired"):
        change_password(
            engine,
            user_id=bob.id,
            current_password=bob.temporary_password,
            new_password="my own password",
            now=later,
        )


def test_replacing_the_temporary_password_makes_the_account_an_ordinary_one(
    engine: Engine,
) -> None:
    create_account(engine, username="root", password=PASSWORD)
    [bob] = import_accounts(engine, read_accounts_csv("username\nbob\n"), actor_id=None, now=T0)

    change_password(
        engine,
        user_id=bob.id,
        current_password=bob.temporary_password,
        new_password="my own password",
        now=T0,
    )

    assert not find_account(engine, username="bob").must_choose_password
    far_later = T0 + timedelta(days=400)
    assert authenticate(engine, username="bob", password="my own password", now=far_later).account
    assert not authenticate(engine, username="bob", password=bob.temporary_password, now=T0).account


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        (
            "username,role\nbob,user\nBad Name!,user\ncleo,owner\n",
            [
                (3, "'Bad Name!' is not a valid username"),
                (4, "role must be one of admin, user, got 'owner'"),
            ],
        ),
        ("username\nbob\ncleo\nBOB\n", [(4, "the username 'bob' is already on line 2")]),
        ("username,colour\nbob,red\n", [(1, "unknown column 'colour'")]),
        ("display_name\nBob\n", [(1, "the first line must name the columns")]),
        ("username,email\nbob,not-an-address\n", [(2, "'not-an-address' is not an e-mail")]),
        ("username\nbob,extra\n", [(2, "a value in a column the first line does not name")]),
        ("", [(1, "the file is empty")]),
        ("username\n\n\n", [(1, "the file names no account")]),
    ],
)
def test_a_bad_line_refuses_the_file_naming_every_bad_line_and_its_reason(
    text: str, problems: list[tuple[int, str]]
) -> None:
    found = refusal(text)
    assert [line for line, _ in found] == [line for line, _ in problems]
    for (_, reason), (_, expected) in zip(found, problems, strict=True):
        assert reason.startswith(expected), reason


def test_a_refused_file_creates_nothing(engine: Engine) -> None:
    create_account(engine, username="root", password=PASSWORD)
    create_account(engine, username="bob", password=PASSWORD, via_signup=False)
    accounts = read_accounts_csv("username\nada\nbob\ncleo\n")

    with pytest.raises(ImportRefused) as refused:
        import_accounts(engine, accounts, actor_id=None)

    assert str(refused.value) == "nothing was imported: line 3: the username 'bob' is taken"
    assert count_accounts(engine) == 2
    assert find_account(engine, username="ada") is None
    assert audit.list_events(engine, action=audit.USER_CREATED) == []


def test_an_empty_instance_needs_an_admin_in_the_file(engine: Engine) -> None:
    with pytest.raises(ImportRefused, match="no account yet: give one row the role admin"):
        import_accounts(engine, read_accounts_csv("username\nbob\n"), actor_id=None)
    assert count_accounts(engine) == 0
    [root] = import_accounts(
        engine, read_accounts_csv("username,role\nroot,admin\n"), actor_id=None
    )
    assert root.role == "admin" and find_account(engine, username="root").is_admin


def test_a_spreadsheet_export_is_read_as_typed() -> None:
    # Excel's "CSV UTF-8" starts with a byte-order mark and ends lines with CRLF; column names
    # may be capitalised or spelled with a space; a quoted cell may hold a comma.
    text = '\ufeffUsername,Display Name,Role\r\nbob,"Builder, Bob",User\r\n'
    [bob] = read_accounts_csv(text)
    assert (bob.line, bob.username, bob.display_name, bob.role) == (
        2,
        "bob",
        "Builder, Bob",
        "user",
    )


def test_more_rows_than_a_file_may_hold_are_refused() -> None:
    text = "username\n" + "".join(f"user{number}\n" for number in range(MAX_ROWS + 1))
    assert refusal(text) == [(MAX_ROWS + 2, f"a file can hold at most {MAX_ROWS:,} accounts")]


def test_the_passwords_csv_has_every_account_and_no_formula(engine: Engine) -> None:
    create_account(engine, username="root", password=PASSWORD)
    issued = import_accounts(
        engine,
        read_accounts_csv('username,display_name\n-dash,=HYPERLINK("x")\nbob,Bob\n'),
        actor_id=None,
        now=T0,
    )
    rows = list(csv.reader(io.StringIO(issued_csv(issued))))
    assert rows[0] == ["username", "display_name", "role", "temporary_password", "expires_at_utc"]
    assert rows[1][:3] == ["'-dash", '\'=HYPERLINK("x")', "user"]
    assert rows[2] == ["bob", "Bob", "user", issued[1].temporary_password, "2030-01-08 12:00"]


def test_two_imports_of_the_same_name_at_once_create_it_once(engine: Engine) -> None:
    from tests.accounts.at_once import run_at_once

    create_account(engine, username="root", password=PASSWORD)
    accounts = read_accounts_csv("username\nsame\n")
    outcomes = run_at_once([lambda: import_accounts(engine, accounts, actor_id=None)] * 4)
    assert sum(isinstance(outcome, list) for outcome in outcomes) == 1
    assert all(isinstance(outcome, (list, ImportRefused)) for outcome in outcomes), outcomes
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).where(User.username == "same")) == 1


def test_a_thousand_accounts_are_created_in_one_go(engine: Engine) -> None:
    create_account(engine, username="root", password=PASSWORD)
    text = "username,display_name\n" + "".join(
        f"pupil{number:04d},Pupil {number}\n" for number in range(1000)
    )
    issued = import_accounts(engine, read_accounts_csv(text), actor_id=None)
    assert len(issued) == 1000 and count_accounts(engine) == 1001
    assert len(audit.list_events(engine, action=audit.USER_CREATED, limit=2000)) == 1000


def test_checked_against_the_database_every_bad_line_is_named_in_line_order(
    engine: Engine,
) -> None:
    create_account(engine, username="root", password=PASSWORD)
    create_account(engine, username="bob", password=PASSWORD, via_signup=False)

    with pytest.raises(ImportRefused) as refused:
        read_accounts_csv("username,role\nbob,user\nada,teacher\n", engine=engine)

    assert [(problem.line, problem.reason[:24]) for problem in refused.value.problems] == [
        (2, "the username 'bob' is ta"),
        (3, "role must be one of admi"),
    ]


def test_a_sign_in_made_with_a_temporary_password_ends_when_the_password_does(
    engine: Engine,
) -> None:
    create_account(engine, username="root", password=PASSWORD)
    [bob] = import_accounts(engine, read_accounts_csv("username\nbob\n"), actor_id=None, now=T0)
    sign_in, _ = start_sign_in(
        engine, user_id=bob.id, device="x", browser=None, lifetime=timedelta(days=30), now=T0
    )
    assert get_sign_in(engine, sign_in_id=sign_in.id, now=T0 + timedelta(days=6)) is not None
    assert get_sign_in(engine, sign_in_id=sign_in.id, now=T0 + timedelta(days=7)) is None


def test_signing_in_with_a_cheap_temporary_hash_costs_a_full_check_too(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_account(engine, username="root", password=PASSWORD)
    [bob] = import_accounts(engine, read_accounts_csv("username\nbob\n"), actor_id=None)
    monkeypatch.setenv("PASSWORD_HASH_ROUNDS", "5")  # above the temporary hash's cost, 4
    spent: list[str] = []
    monkeypatch.setattr(passwords, "spend_a_check", spent.append)

    assert authenticate(engine, username="bob", password=bob.temporary_password).account
    assert not authenticate(engine, username="bob", password="a wrong guess").account

    # Right or wrong, the same full-cost check as for a name that has no account.
    assert spent == [bob.temporary_password, "a wrong guess"]


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        # A quoted cell over two lines: the record is named by the line it starts on.
        (
            'username,display_name\nbob,"Bob\nthe Builder"\nBad Name,x\n',
            [(2, "cannot contain control characters"), (4, "'Bad Name'")],
        ),
        ('username,display_name\nbob,"never closed\ncleo,Cleo\n', [(3, "not readable as CSV")]),
        ("username;role\nbob;user\n", [(1, "the columns must be separated by commas")]),
        ("username,role,\nbob,user,surprise\n", [(2, "a value in a column the first line")]),
    ],
)
def test_spreadsheet_quirks_are_named_by_the_line_they_start_on(
    text: str, problems: list[tuple[int, str]]
) -> None:
    found = refusal(text)
    assert [line for line, _ in found] == [line for line, _ in problems]
    for (_, reason), (_, expected) in zip(found, problems, strict=True):
        assert expected in reason, reason


def test_a_trailing_empty_column_and_blank_cells_are_ignored() -> None:
    [bob] = read_accounts_csv("username,role,\nbob,user,\n")
    assert (bob.line, bob.username, bob.role) == (2, "bob", "user")


def test_a_reset_gives_a_new_temporary_password_that_must_be_replaced(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = create_account(engine, username="root", password=PASSWORD)
    bob = create_account(engine, username="bob", password="bob's own password")
    start_sign_in(engine, user_id=bob.id, device="x", browser=None, lifetime=timedelta(days=1))

    issued = issue_temporary_password(engine, user_id=bob.id, actor_id=admin.id, now=T0)

    assert len(issued.temporary_password) == 16
    assert issued.expires_at == T0 + timedelta(days=7)
    assert not authenticate(engine, username="bob", password="bob's own password", now=T0).account
    signed_in = authenticate(engine, username="bob", password=issued.temporary_password, now=T0)
    assert signed_in.account is not None and signed_in.account.must_choose_password
    assert list_sign_ins(engine, user_id=bob.id, now=T0) == []
    [event] = audit.list_events(engine, action=audit.PASSWORD_RESET)
    assert (event.actor_id, event.subject_user_id, event.detail) == (
        admin.id,
        bob.id,
        "temporary password issued",
    )


def test_a_reset_of_no_account_is_refused(engine: Engine) -> None:
    with pytest.raises(AccountNotFound):
        issue_temporary_password(engine, user_id="0" * 32, actor_id=None)
