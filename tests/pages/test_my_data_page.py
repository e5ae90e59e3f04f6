"""The My data page: downloads hold exactly the signed-in user's chats; an export can be
imported again; deleting the account asks for the password and deletes nothing without it."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

import accounts
import audit
import memory.erasure
from accounts import Account
from memory import ChatStore, StoreUnavailable
from tests.pages.app_driver import (
    MY_DATA_PAGE,
    PASSWORD,
    Downloads,
    button,
    errors,
    go_to,
    open_app,
    page_text,
    signed_in,
    text_input,
)

ERASE_BUTTON = "Delete my account and all my chats"


def my_data_page(username: str) -> AppTest:
    at = go_to(signed_in(username), MY_DATA_PAGE)
    assert not at.exception, at.exception
    assert [title.value for title in at.title] == ["My data"]
    return at


def chat(store: ChatStore, user: Account, question: str, answer: str) -> str:
    session_id = store.create_session(user.id).session_id
    turn = store.begin_turn(user.id, session_id, question)
    store.finish_turn(turn, answer)
    return session_id


def download(at: AppTest, downloads: Downloads, label_start: str, account: Account) -> bytes:
    return downloads.content(at, label_start, account)


def erase(at: AppTest, password: str, *, confirmed: bool = True) -> AppTest:
    text_input(at, "Your password", form="erase").input(password)
    [box] = [c for c in at.checkbox if c.form_id == "erase"]
    box.check() if confirmed else box.uncheck()
    return button(at, ERASE_BUTTON).click().run()


def test_the_json_download_holds_exactly_the_users_chats(
    store: ChatStore, downloads: Downloads, bob: Account, cleo: Account
) -> None:
    jvm = chat(store, bob, "What is jvm?", "A virtual machine.")
    pasta = chat(store, bob, "Pasta time?", "Nine minutes.")
    chat(store, cleo, "cleo-only question", "cleo-only answer")
    at = my_data_page("bob")

    exported = json.loads(download(at, downloads, "All chats as JSON", bob))

    assert exported["format"] == "isolated-chat/1"
    assert exported["user_id"] == bob.id
    assert {s["session_id"] for s in exported["sessions"]} == {jvm, pasta}
    by_id = {s["session_id"]: s for s in exported["sessions"]}
    assert [(m["role"], m["content"]) for m in by_id[jvm]["messages"]] == [
        ("human", "What is jvm?"),
        ("ai", "A virtual machine."),
    ]
    assert "cleo-only" not in json.dumps(exported)
    markdown = download(at, downloads, "All chats as Markdown", bob).decode()
    assert "What is jvm?" in markdown and "Nine minutes." in markdown
    assert "cleo-only" not in markdown


def test_a_user_without_chats_downloads_an_empty_export(downloads: Downloads, bob: Account) -> None:
    at = my_data_page("bob")

    exported = json.loads(download(at, downloads, "All chats as JSON", bob))

    assert (exported["user_id"], exported["sessions"]) == (bob.id, [])


def test_an_exported_file_imports_into_another_account_as_theirs(
    store: ChatStore, downloads: Downloads, bob: Account, cleo: Account
) -> None:
    jvm = chat(store, bob, "What is jvm?", "A virtual machine.")
    exported = download(my_data_page("bob"), downloads, "All chats as JSON", bob)
    at = my_data_page("cleo")

    at.get("file_uploader")[0].upload("my-chats.json", exported, "application/json")
    at = button(at, "Import").click().run()

    assert [s.value for s in at.success] == ["Imported 1 chat."]
    [summary] = store.list_sessions(cleo.id)
    assert [(m.role, m.content) for m in store.load_messages(cleo.id, summary.session_id)] == [
        ("human", "What is jvm?"),
        ("ai", "A virtual machine."),
    ]
    assert len(store.load_messages(bob.id, jvm)) == 2  # bob's own chat is untouched


def test_a_file_that_is_not_an_export_imports_nothing(store: ChatStore, bob: Account) -> None:
    at = my_data_page("bob")

    at.get("file_uploader")[0].upload("my-chats.json", b"{not json", "application/json")
    at = button(at, "Import").click().run()

    [error] = errors(at)
    assert error.startswith("Nothing was imported:")
    assert store.list_sessions(bob.id) == []


def test_deleting_the_account_with_a_wrong_password_is_refused_and_deletes_nothing(
    store: ChatStore, db: Engine, bob: Account
) -> None:
    jvm = chat(store, bob, "What is jvm?", "A virtual machine.")
    at = my_data_page("bob")

    at = erase(at, "not my password")

    assert errors(at) == ["That password is not right."]
    assert accounts.get_account(db, user_id=bob.id) is not None
    assert len(store.load_messages(bob.id, jvm)) == 2
    assert audit.list_events(db, action=audit.ACCOUNT_ERASED) == []
    # Still signed in: the next click shows the page again.
    assert [title.value for title in at.run().title] == ["My data"]


def test_deleting_the_account_without_ticking_the_box_deletes_nothing(
    store: ChatStore, db: Engine, bob: Account
) -> None:
    jvm = chat(store, bob, "What is jvm?", "A virtual machine.")
    at = my_data_page("bob")

    at = erase(at, PASSWORD, confirmed=False)

    assert errors(at) == ["Tick the box to confirm."]
    assert accounts.get_account(db, user_id=bob.id) is not None
    assert len(store.load_messages(bob.id, jvm)) == 2


def test_deleting_the_account_with_the_password_erases_it_and_signs_out(
    store: ChatStore, db: Engine, bob: Account, cleo: Account
) -> None:
    chat(store, bob, "What is jvm?", "A virtual machine.")
    kept = chat(store, cleo, "cleo-only question", "cleo-only answer")
    at = my_data_page("bob")

    at = erase(at, PASSWORD)

    assert not at.exception, at.exception
    assert accounts.get_account(db, user_id=bob.id) is None
    assert store.list_sessions(bob.id) == []
    assert len(store.load_messages(cleo.id, kept)) == 2
    [event] = audit.list_events(db, action=audit.ACCOUNT_ERASED)
    assert (event.subject_user_id, event.detail) == (bob.id, "sessions=1 messages=2")
    assert "jvm" not in event.detail + event.reason
    # Signed out, told why, and the name no longer signs in.
    assert "account" not in at.session_state
    assert [info.value for info in at.info] == ["Your account and all your chats are deleted."]
    assert list(at.chat_input) == []
    assert "account" not in open_app().session_state
    assert "jvm" not in page_text(at)


def test_the_last_administrator_cannot_delete_their_account_and_keeps_their_chats(
    store: ChatStore, db: Engine, ada: Account, bob: Account
) -> None:
    jvm = chat(store, ada, "What is jvm?", "A virtual machine.")
    at = my_data_page("ada")

    at = erase(at, PASSWORD)

    [error] = errors(at)
    assert "last enabled administrator" in error
    assert accounts.get_account(db, user_id=ada.id) is not None
    assert len(store.load_messages(ada.id, jvm)) == 2
    assert audit.list_events(db, action=audit.ACCOUNT_ERASED) == []


def test_if_erasing_the_chats_fails_the_account_stays_so_the_user_can_try_again(
    store: ChatStore, db: Engine, monkeypatch: pytest.MonkeyPatch, bob: Account
) -> None:
    """The chats are erased before the account is deleted (as accounts.delete_account asks):
    a failure in between leaves the owner able to try again, never ownerless chats."""
    jvm = chat(store, bob, "What is jvm?", "A virtual machine.")

    def database_gone(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable()

    monkeypatch.setattr(memory.erasure, "delete_user_content", database_gone)
    at = my_data_page("bob")

    erase(at, PASSWORD)

    assert len(store.load_messages(bob.id, jvm)) == 2  # the chats are still there...
    assert accounts.get_account(db, user_id=bob.id) is not None  # ...and so is their owner
