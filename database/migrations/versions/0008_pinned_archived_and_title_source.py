"""chat_sessions: pinned and archived chats, and who wrote a chat's title

- `shelf` is where a chat sits in its owner's sidebar: `listed` (by date), `pinned` (on top)
  or `archived` (out of the list, still searchable). One column rather than two flags: a chat
  is in one place at a time, and the sidebar's index can then serve each place's list,
  newest first, without reading a row of another place.
- `title_source` says who wrote the title: `question` (its first words, set with the first
  question), `model` (written by the model after the first answer) or `user` (renamed, or
  imported as it was). The model's title is stored only over a `question` title, in the same
  UPDATE, so a title the user set is never overwritten.
- The sidebar's index gains `shelf` after the owner. Every existing chat is `listed`, and its
  title came from its first question as far as anyone knows.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SIDEBAR_INDEX = "ix_chat_sessions_user_recent"


def upgrade() -> None:
    op.add_column(
        "chat_sessions",
        sa.Column("shelf", sa.String(16), nullable=False, server_default="listed"),
    )
    op.add_column(
        "chat_sessions",
        sa.Column("title_source", sa.String(16), nullable=False, server_default="question"),
    )
    # Dropped and made again rather than altered: neither engine adds a column to an index.
    op.drop_index(_SIDEBAR_INDEX, table_name="chat_sessions")
    op.create_index(
        _SIDEBAR_INDEX,
        "chat_sessions",
        ["user_id", "shelf", "updated_at", "session_id", "title"],
    )


def downgrade() -> None:
    op.drop_index(_SIDEBAR_INDEX, table_name="chat_sessions")
    op.create_index(
        _SIDEBAR_INDEX, "chat_sessions", ["user_id", "updated_at", "session_id", "title"]
    )
    op.drop_column("chat_sessions", "title_source")
    op.drop_column("chat_sessions", "shelf")
