"""user_quotas and quota_use: per-user daily limits, and what each user used on each day

- `user_quotas` holds a user's own limits; a NULL column follows the instance's default, which
  lives in app_settings (quota_messages_per_day, quota_tokens_per_day).
- `quota_use` has one row per user per UTC day. Admitting a question is one conditional
  UPDATE of that row (messages + 1 within the limit), so two app processes can never both
  take the last question of a quota.
- Both go with their user (ON DELETE CASCADE): erasing an account erases its counts.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "user_quotas",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("messages_per_day", sa.Integer(), nullable=True),
        sa.Column("tokens_per_day", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_quotas_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_quotas")),
    )
    op.create_table(
        "quota_use",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_quota_use_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "day", name=op.f("pk_quota_use")),
    )


def downgrade() -> None:
    op.drop_table("quota_use")
    op.drop_table("user_quotas")
