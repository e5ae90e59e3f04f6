"""The whole database behind an app engine, for tests that check what is truly stored.

On PostgreSQL the app's engine connects as a role that row security holds to one user per
transaction (migration 0013), so it cannot count every user's rows; the owner (the cluster's
superuser here) sees them all. On SQLite the app's engine already sees everything."""

from __future__ import annotations

from sqlalchemy import Engine

from database import get_engine, is_sqlite

OWNER = "postgres"


def owner_url(engine: Engine) -> str:
    return engine.url.set(username=OWNER).render_as_string(hide_password=False)


def whole_database(engine: Engine) -> Engine:
    """`engine` itself on SQLite; on PostgreSQL the same database as its owner, past row
    security (the `engine` fixture disposes it)."""
    if is_sqlite(engine):
        return engine
    return get_engine(owner_url(engine))
