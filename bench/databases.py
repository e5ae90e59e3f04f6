"""The database a benchmark runs on, for one engine name: a new SQLite file, or a database in a
throwaway PostgreSQL cluster (tests/support/postgres.py), destroyed afterwards."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def bench_database(engine: str, file_name: str, database_url: str | None = None) -> Iterator[str]:
    """The URL of an empty database for `engine` ("sqlite" or "postgresql"); `database_url`,
    when given, is used for PostgreSQL instead of a throwaway cluster."""
    if engine == "sqlite":
        yield f"sqlite:///{Path(tempfile.mkdtemp()) / file_name}"
        return
    if database_url:
        yield database_url
        return
    from tests.support.postgres import PostgresCluster

    cluster = PostgresCluster().start()
    # As the cluster's superuser, which fills tables in bulk past row security: the figures
    # are the store's without RLS, and bench/rls_cost.py measures what RLS adds. The app
    # itself refuses such a role; this process says it on purpose.
    os.environ["DATABASE_ALLOW_RLS_BYPASS"] = "1"
    try:
        yield cluster.create_database()
    finally:
        cluster.destroy()
