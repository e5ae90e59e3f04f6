"""A database that cannot be reached is reported by each core in its own error family, with
SQLAlchemy's error as the cause; every other error passes through unchanged."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

import accounts
import audit
from database import get_engine
from database.engine import dispose_engine
from database.outages import DatabaseUnavailable
from memory import ChatStore, InvalidId, StoreError, StoreUnavailable, open_store
from memory.export import export_user_json

# Nothing listens on the discard port of the loopback address: every connection is refused.
UNREACHABLE = "postgresql+psycopg://chat@127.0.0.1:9/chat?connect_timeout=2"


@pytest.fixture
def unreachable() -> Iterator[Engine]:
    yield get_engine(UNREACHABLE)
    dispose_engine(UNREACHABLE)


def test_the_store_reports_an_unreachable_database_as_store_unavailable(
    unreachable: Engine,
) -> None:
    store = ChatStore(unreachable)

    with pytest.raises(StoreUnavailable, match="not reachable") as raised:
        store.begin_turn("ann", "s", "a question")

    assert isinstance(raised.value, StoreError)
    assert isinstance(raised.value, DatabaseUnavailable)
    assert "refused" in str(raised.value.__cause__).lower()
    for read in (store.list_sessions, store.count_sessions):
        with pytest.raises(StoreUnavailable):
            read("ann")
    with pytest.raises(StoreUnavailable):
        store.load_page("ann", "s")
    with pytest.raises(StoreUnavailable):
        export_user_json(store, user_id="ann")


def test_opening_a_store_on_an_unreachable_database_is_store_unavailable(
    unreachable: Engine,
) -> None:
    with pytest.raises(StoreUnavailable):
        open_store(UNREACHABLE)


def test_accounts_and_audit_report_it_in_their_own_families(unreachable: Engine) -> None:
    with pytest.raises(accounts.AccountsUnavailable) as raised:
        accounts.get_account(unreachable, user_id="someone")
    assert isinstance(raised.value, accounts.AccountError)
    assert isinstance(raised.value, DatabaseUnavailable)
    with pytest.raises(accounts.AccountsUnavailable):
        accounts.authenticate(
            unreachable, username="ann", password="whatever", client="local", browser="b"
        )
    with pytest.raises(audit.AuditUnavailable) as logged:
        audit.list_events(unreachable)
    assert isinstance(logged.value, audit.AuditError)


def test_errors_that_are_not_outages_pass_through_unchanged(engine: Engine) -> None:
    store = ChatStore(engine)
    with pytest.raises(InvalidId):
        store.begin_turn("", "s", "a question")
    with pytest.raises(accounts.AccountNotFound):
        accounts.set_role(engine, user_id="nobody", role="user")
