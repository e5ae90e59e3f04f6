"""server-side sign-ins, known browsers, and failed sign-ins counted per client

`sign_ins` keeps one row per sign-in: the SHA-256 of the browser's opaque cookie token (NULL
until the one-time handover ticket is exchanged for it), the ticket's hash, the browser it is
bound to and its expiry, and the sign-in's own expiry. `known_browsers` remembers which
browsers have signed in to an account, so the name's ceiling on failed sign-ins cannot shut
its owner out. `login_failures.client` keys the lock on (username, client).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("login_failures") as batch_op:
        batch_op.add_column(
            sa.Column("client", sa.String(length=64), server_default="", nullable=False)
        )
        batch_op.create_index(
            "ix_login_failures_username_client_at", ["username", "client", "at"], unique=False
        )

    op.create_table(
        "sign_ins",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("handover_hash", sa.String(length=64), nullable=True),
        sa.Column("handover_browser", sa.String(length=64), nullable=True),
        sa.Column("handover_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_path", sa.String(length=2048), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("device", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_sign_ins_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_ins")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sign_ins_token_hash")),
        sa.UniqueConstraint("handover_hash", name=op.f("uq_sign_ins_handover_hash")),
    )
    with op.batch_alter_table("sign_ins") as batch_op:
        batch_op.create_index(
            "ix_sign_ins_user_id_created_at", ["user_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_sign_ins_expires_at", ["expires_at"], unique=False)

    op.create_table(
        "known_browsers",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("browser_hash", sa.String(length=64), nullable=False),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_known_browsers_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "browser_hash", name=op.f("pk_known_browsers")),
    )


def downgrade() -> None:
    op.drop_table("known_browsers")
    with op.batch_alter_table("sign_ins") as batch_op:
        batch_op.drop_index("ix_sign_ins_expires_at")
        batch_op.drop_index("ix_sign_ins_user_id_created_at")
    op.drop_table("sign_ins")
    with op.batch_alter_table("login_failures") as batch_op:
        batch_op.drop_index("ix_login_failures_username_client_at")
        batch_op.drop_column("client")
