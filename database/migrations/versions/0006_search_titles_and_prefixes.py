"""search: titles read from an index, a last word's prefix listed from FTS5's vocabulary

- The sidebar's index on chat_sessions (user_id, updated_at, session_id) gains the title, so
  that a search tests every title of the user without visiting the table: 1.2 ms for 2,000
  titles became 0.2 ms on SQLite. Same name, same order: the sidebar reads it as before.
- SQLite: `message_search_terms`, an fts5vocab table over message_search, lists the indexed
  words that begin with the last word of a query. A prefix query merges the whole postings of
  every such word before giving its first row (3 ms for a word in all 100k messages of a
  user); the few words listed this way are asked for by name instead, which FTS5 streams
  newest first and stops at once (memory/search.py). The vocabulary is FTS5's own view of its
  index: nothing is stored, so it is exact after every delete and needs no erasure of its own.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SIDEBAR_INDEX = "ix_chat_sessions_user_recent"


def upgrade() -> None:
    # Dropped and made again rather than altered: neither engine adds a column to an index.
    op.drop_index(_SIDEBAR_INDEX, table_name="chat_sessions")
    op.create_index(
        _SIDEBAR_INDEX, "chat_sessions", ["user_id", "updated_at", "session_id", "title"]
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE message_search_terms USING fts5vocab(message_search, row)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS message_search_terms")
    op.drop_index(_SIDEBAR_INDEX, table_name="chat_sessions")
    op.create_index(_SIDEBAR_INDEX, "chat_sessions", ["user_id", "updated_at", "session_id"])
