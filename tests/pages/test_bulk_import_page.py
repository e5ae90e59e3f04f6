"""Accounts in bulk on the admin page, and a new account's first sign-in, through app.py with
AppTest: a CSV creates every account or none (each bad line shown with its number); the
temporary passwords are offered once, for download; a new user's first sign-in leads only to
choosing a password of their own; an expired temporary password says so."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import Engine, update
from streamlit.testing.v1 import AppTest

import audit
from accounts import Account, count_accounts, find_account
from accounts.models import User
from database import utcnow, write_transaction
from tests.pages.app_driver import (
    ADMIN_PAGE,
    CHAT_PAGE,
    button,
    errors,
    go_to,
    page_text,
    sign_in,
    signed_in,
    text_input,
    titles,
)

ISSUED_KEY = "admin_issued_passwords"
CLASS_CSV = b"username,display_name,role\npupil1,Pupil One,user\npupil2,Pupil Two,\n"


def upload(at: AppTest, data: bytes, name: str = "class.csv") -> AppTest:
    [uploader] = [u for u in at.get("file_uploader") if u.proto.label == "CSV file"]
    uploader.set_value((name, data, "text/csv"))
    return button(at.run(), "Create the accounts").click().run()


def issued_passwords(at: AppTest) -> dict[str, str]:
    """username → temporary password, from what the download button offers."""
    _, _, passwords = at.session_state[ISSUED_KEY]
    return {
        row["username"]: row["temporary_password"] for row in csv.DictReader(io.StringIO(passwords))
    }


def test_an_admin_creates_accounts_from_a_csv_and_gets_their_passwords_once(
    db: Engine, ada: Account
) -> None:
    at = go_to(signed_in("ada"), ADMIN_PAGE)

    at = upload(at, CLASS_CSV)

    assert not at.exception
    assert any("2 accounts created" in s.value for s in at.success)
    [download] = at.get("download_button")
    assert download.proto.label == "Download temporary passwords (CSV)"
    passwords = issued_passwords(at)
    assert set(passwords) == {"pupil1", "pupil2"}
    assert all(password not in page_text(at) for password in passwords.values())
    assert find_account(db, username="pupil2").must_choose_password
    created = audit.list_events(db, action=audit.USER_CREATED)
    assert {(event.actor_id, event.detail) for event in created} == {
        (ada.id, "bulk import: role=user")
    }

    # Once the admin says they are saved, the passwords are gone from the page and the session.
    at = button(at, "I have saved them: forget them").click().run()
    assert ISSUED_KEY not in at.session_state
    assert at.get("download_button") == []


def test_a_csv_with_bad_lines_creates_nothing_and_lists_each_line(
    db: Engine, ada: Account, bob: Account
) -> None:
    at = go_to(signed_in("ada"), ADMIN_PAGE)

    at = upload(at, b"username,role\npupil1,user\nbob,user\nno good,teacher\n")

    assert "Nothing was imported: 2 lines need fixing." in errors(at)
    problems = [frame for frame in at.dataframe if "problem" in frame.value.columns]
    [table] = problems
    assert list(table.value["line"]) == [3, 4]
    assert "the username 'bob' is taken" in table.value["problem"][0]
    assert count_accounts(db) == 2
    assert find_account(db, username="pupil1") is None


def test_a_file_that_is_not_utf8_is_refused_in_a_sentence(db: Engine, ada: Account) -> None:
    at = go_to(signed_in("ada"), ADMIN_PAGE)

    at = upload(at, "username\nzoë\n".encode("latin-1"))

    assert any("not UTF-8 text" in error for error in errors(at))
    assert count_accounts(db) == 1


def first_sign_in(db: Engine, ada: Account) -> tuple[AppTest, str]:
    """An imported pupil signed in with the temporary password: the session and the password."""
    admin = upload(go_to(signed_in("ada"), ADMIN_PAGE), CLASS_CSV)
    temporary = issued_passwords(admin)["pupil1"]
    return sign_in("pupil1", temporary), temporary


def choose_password(at: AppTest, temporary: str, new: str) -> AppTest:
    text_input(at, "Temporary password").input(temporary)
    text_input(at, "New password").input(new)
    text_input(at, "Repeat the new password").input(new)
    return button(at, "Set my password").click().run()


def test_the_first_sign_in_leads_only_to_choosing_a_password(db: Engine, ada: Account) -> None:
    at, temporary = first_sign_in(db, ada)

    assert not at.exception
    assert titles(at) == ["Choose your password"]
    assert at.chat_input == []  # no chat, no other page, until a password of their own
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(CHAT_PAGE)

    at = choose_password(at, temporary, "pupil one's own")
    assert [info.value for info in at.info] == ["Your password is set. Sign in with it."]
    at = sign_in("pupil1", "pupil one's own")
    assert not find_account(db, username="pupil1").must_choose_password
    assert at.chat_input  # the chat page, as for anyone
    assert sign_in("pupil1", temporary).session_state.get("account") is None


def test_the_temporary_password_cannot_be_kept_or_mistyped(db: Engine, ada: Account) -> None:
    at, temporary = first_sign_in(db, ada)

    at = choose_password(at, temporary, temporary)
    assert errors(at) == ["Choose a password of your own, not the temporary one."]
    at = choose_password(at, "not the temporary one", "pupil one's own")
    assert errors(at) == ["your current password is not right"]
    assert find_account(db, username="pupil1").must_choose_password


def test_an_expired_temporary_password_signs_nobody_in_and_says_why(
    db: Engine, ada: Account
) -> None:
    admin = upload(go_to(signed_in("ada"), ADMIN_PAGE), CLASS_CSV)
    temporary = issued_passwords(admin)["pupil1"]
    with write_transaction(db) as conn:
        conn.execute(
            update(User)
            .where(User.username == "pupil1")
            .values(password_expires_at=utcnow() - timedelta(minutes=1))
        )

    at = sign_in("pupil1", temporary)

    assert at.session_state.get("account") is None
    assert errors(at) == [
        "This temporary password has expired. Ask your administrator to reset your password."
    ]
