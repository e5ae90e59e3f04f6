"""Shared fixtures: every storage test runs on a real SQLite file and on a real PostgreSQL
server started here (a throwaway cluster on a free loopback port)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from database import get_engine, migrate
from database.engine import dispose_engine
from database.row_security import grant_app_role
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.scale.conftest import StubServer, running_stub
from tests.support.pgbouncer import PgBouncer
from tests.support.postgres import APP_ROLE, PostgresCluster


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster().start()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="session")
def pgbouncer(postgres_cluster: PostgresCluster) -> Iterator[PgBouncer]:
    """PgBouncer in transaction mode in front of the throwaway cluster, for the whole run."""
    bouncer = PgBouncer(postgres_cluster).start()
    yield bouncer
    bouncer.stop()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'chat.db'}"


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    return postgres_cluster.create_database()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty database on each engine, in turn."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated Engine on each engine, in turn, connected as the app is: on PostgreSQL the
    owner migrates `database_url` and the engine is the app's own role on it, held to row
    security. Disposed after the test."""
    if database_url.startswith("sqlite"):
        url = database_url
        migrate(get_engine(url))
    else:
        owner = get_engine(database_url)
        migrate(owner)
        grant_app_role(owner, APP_ROLE)
        url = make_url(database_url).set(username=APP_ROLE).render_as_string(hide_password=False)
    yield get_engine(url)
    dispose_engine(url)
    dispose_engine(database_url)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One Chromium for the whole run: Playwright's sync API cannot be started twice in one
    thread, so every browser test (tests/browser, faults, scale, security) shares this one."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    page = context.new_page()
    page.set_default_timeout(20_000)
    return page


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StubServer]:
    """The deterministic OpenAI-compatible stub as a process of this module's own, which its
    tests may slow down or break on purpose."""
    with running_stub(tmp_path_factory.mktemp("stub") / "stub.log") as stub:
        yield stub


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A module-level `pytestmark` in a conftest marks nothing, so tests/browser is marked here:
    # `-m "not browser"` then runs everything that needs no Chromium.
    for item in items:
        if "tests/browser/" in item.nodeid:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """When a browser test fails, save a screenshot of every open page and put each page's URL
    and text in the report: a CI log is often all there is to tell a bug from a slow machine."""
    outcome = yield
    report = outcome.get_result()
    browser = getattr(item, "funcargs", {}).get("browser")
    if report.when != "call" or not report.failed or browser is None:
        return
    folder = Path(__file__).resolve().parents[1] / "test-output" / "failures"
    folder.mkdir(parents=True, exist_ok=True)
    pages = [page for context in browser.contexts for page in context.pages]
    for number, page in enumerate(pages):
        try:
            path = folder / f"{item.name}-{number}.png"
            page.screenshot(path=str(path), full_page=True)
            text = page.inner_text("body", timeout=2_000)[:2_000]
            state = page.evaluate(
                "() => { const app = document.querySelector('.stApp'); return app && "
                "[app.dataset.testScriptState, app.dataset.testConnectionState].join(' '); }"
            )
        except Exception as error:  # the page may be closed or crashed: report that instead
            text, state, path = f"(not readable: {error})", "", None
        report.sections.append((f"page {number}: {page.url} [{state}] {path or ''}", text))
