"""Alembic environment: runs on the connection `database.migrate` hands over, or, from the
alembic command line, on DATABASE_URL."""

from __future__ import annotations

from alembic import context

import accounts.models  # noqa: F401  (registers tables on Base.metadata for autogenerate)
import audit.models  # noqa: F401
import database.app_settings  # noqa: F401
import memory.models  # noqa: F401
import quotas.models  # noqa: F401
import sso.models  # noqa: F401
from database import Base, get_engine, migrate

config = context.config
connection = config.attributes.get("connection")

if connection is None:
    # `alembic upgrade head` from a shell: go through migrate() for its lock.
    migrate(get_engine())
else:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()
