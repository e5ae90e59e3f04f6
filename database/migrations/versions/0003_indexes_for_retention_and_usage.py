"""indexes for retention and usage: sessions by last update, messages by day

Retention deletes sessions untouched since a cut-off and the admin's usage chart counts
messages per day; without these both would scan every row as the database grows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("chat_sessions") as batch_op:
        batch_op.create_index("ix_chat_sessions_updated_at", ["updated_at"])
    with op.batch_alter_table("chat_messages") as batch_op:
        batch_op.create_index("ix_chat_messages_created_at", ["created_at"])


def downgrade() -> None:
    with op.batch_alter_table("chat_messages") as batch_op:
        batch_op.drop_index("ix_chat_messages_created_at")
    with op.batch_alter_table("chat_sessions") as batch_op:
        batch_op.drop_index("ix_chat_sessions_updated_at")
