"""Three app servers (`streamlit run app.py` three times) through PgBouncer in transaction
mode, each as the app's own role held by row security, as the README's production layout
has them: a user who moves from one to the next keeps one history, in order and without
duplicates, and another user on the third sees none of it. (The 50 users x 20 turns load
runs through the same layout in test_load_through_pgbouncer.py, with the app's core in three
processes.)"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, expect
from sqlalchemy.engine import make_url

import accounts
from tests.browser.conftest import PASSWORD, RunningApp, messages, open_app, send, settle, sign_up
from tests.scale.conftest import (
    StubServer,
    chat_app_env,
    cheap_hashes,
    session_id_of,
    start_app_process,
    stored_messages,
    warm_up,
)
from tests.support.pgbouncer import PgBouncer
from tests.support.postgres import PostgresCluster

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def direct_url(postgres_cluster: PostgresCluster) -> str:
    """A fresh database, migrated and granted as production has it; its URL straight to the
    server, for the test's own reads."""
    url = postgres_cluster.create_app_database()
    with cheap_hashes():
        from database import get_engine

        # The first account of a database is its administrator: not one of the users here.
        accounts.create_account(get_engine(url), username="root", password=PASSWORD)
    return url


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory,
    stub: StubServer,
    pgbouncer: PgBouncer,
    direct_url: str,
    browser: Browser,
) -> Iterator[list[RunningApp]]:
    through_pgbouncer = pgbouncer.url(make_url(direct_url).database or "")
    cookie_key = secrets.token_urlsafe(48)
    started: list[RunningApp] = []
    try:
        for name in ("a", "b", "c"):
            data_dir = tmp_path_factory.mktemp(f"server-{name}")
            env = chat_app_env(
                data_dir, model_url=stub.url, cookie_key=cookie_key, database_url=through_pgbouncer
            )
            env["DATABASE_POOLER"] = "pgbouncer"
            started.append(start_app_process(env, data_dir / "app.log"))
            warm_up(browser, started[-1])
        yield started
    finally:
        for server in started:
            server.stop()


def test_a_user_moves_across_three_servers_through_pgbouncer_and_keeps_one_history(
    servers: list[RunningApp], context: BrowserContext, browser: Browser, direct_url: str
) -> None:
    a, b, c = servers
    page = context.new_page()
    page.set_default_timeout(20_000)
    sign_up(page, a.url, "mover")
    send(page, "asked on A")
    chat = session_id_of(page)
    for server, question in ((b, "asked on B"), (c, "asked on C")):
        # The sign-in cookie belongs to the host, whatever the port, as behind one address.
        open_app(page, f"{server.url}/?session={chat}")
        expect(page.get_by_test_id("stChatMessage").first).to_be_visible()
        settle(page)
        send(page, question)

    expected = ["asked on A", "asked on B", "asked on C"]
    assert messages(page) == [t for q in expected for t in (q, f"Echo: {q}")]
    assert stored_messages(direct_url, "mover") == [
        (chat, turn, role, text, "complete")
        for turn, question in enumerate(expected, start=1)
        for role, text in (("human", question), ("ai", f"Echo: {question}"))
    ]

    other = browser.new_context(viewport={"width": 1280, "height": 860})
    try:
        stranger = other.new_page()
        sign_up(stranger, c.url, "stranger")
        open_app(stranger, f"{c.url}/?session={chat}")
        settle(stranger)
        assert messages(stranger) == []  # the same address opens an empty chat of theirs
        expect(stranger.get_by_role("heading", name="New chat")).to_be_visible()
    finally:
        other.close()
    assert stored_messages(direct_url, "stranger") == []
