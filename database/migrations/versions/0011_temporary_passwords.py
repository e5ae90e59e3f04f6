"""users.password_expires_at: a temporary password, to be replaced at first sign-in

Accounts created in bulk (accounts/bulk_import.py) get a random temporary password. While this
column is set, signing in leads only to the page that asks for a password of the user's own,
and once it has passed the temporary password no longer signs anyone in. NULL (every account
before this revision) is a password the user chose.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE on both engines (SQLite has DROP COLUMN since 3.35): a batch operation
# would rebuild `users` on SQLite, and dropping the old table would cascade to every row that
# references an account.
def upgrade() -> None:
    op.add_column("users", sa.Column("password_expires_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    # Without the column a temporary password would become a permanent one, hashed at cost 4
    # and never replaced: such accounts are disabled instead (an admin can enable them).
    op.execute("UPDATE users SET disabled = TRUE WHERE password_expires_at IS NOT NULL")
    op.drop_column("users", "password_expires_at")
