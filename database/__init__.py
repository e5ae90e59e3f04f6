"""The shared database layer: one Engine per URL per process, the declarative Base that every
core's tables hang on, and Alembic migrations that create and upgrade the schema."""

from database.base import Base, utcnow
from database.engine import get_engine, is_sqlite, upsert_ignore, write_transaction
from database.migrate import migrate

__all__ = [
    "Base",
    "get_engine",
    "is_sqlite",
    "migrate",
    "upsert_ignore",
    "utcnow",
    "write_transaction",
]
