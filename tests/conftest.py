"""Shared fixtures: every storage test runs on a real SQLite file and on a real PostgreSQL
server started here (a throwaway cluster on a free loopback port)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from database import get_engine, migrate
from database.engine import dispose_engine
from tests.support.postgres import PostgresCluster


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster().start()
    yield cluster
    cluster.destroy()


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
    """A migrated Engine on each engine, in turn; disposed after the test."""
    engine = get_engine(database_url)
    migrate(engine)
    yield engine
    dispose_engine(database_url)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A module-level `pytestmark` in a conftest marks nothing, so tests/browser is marked here:
    # `-m "not browser"` then runs everything that needs no Chromium.
    for item in items:
        if "tests/browser/" in item.nodeid:
            item.add_marker(pytest.mark.browser)
