"""chat_messages: edited questions and retried answers kept as versions, on branches

A chat becomes a tree. Each message points at the message it follows (`parent_id`). Messages
with the same parent, turn and role are versions of one another: an edited question is a new
human message beside the old one, a retried answer a new ai message beside the old answer.

- `selected` marks the version shown among its siblings. It is kept when the user goes to
  another branch, so coming back shows the branch as they left it.
- `on_path` marks the messages of the active path: from the first message down through the
  selected versions. It is derived from `selected` and written when a version is chosen,
  so that every read of a chat (its pages, the prompt's window) stays one keyset range of
  the index, whatever the other branches hold.
- The index that serves those reads gains `on_path` after the chat's ids; the other
  versions of a page's messages are one more range of it (`on_path` false).

Every existing chat is a single branch: each message's parent is the message before it in
(turn, id) order, every message selected and on the path.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ORDER_INDEX = "ix_chat_messages_session_order"

# The message before each one in its chat: one pass of a window function over the old order
# index, on both engines (SQLite has UPDATE ... FROM since 3.33).
_FILL_PARENTS = """
UPDATE chat_messages SET parent_id = previous.parent_id
FROM (
    SELECT id, LAG(id) OVER (
        PARTITION BY user_id, session_id ORDER BY turn, id
    ) AS parent_id
    FROM chat_messages
) AS previous
WHERE chat_messages.id = previous.id AND previous.parent_id IS NOT NULL
"""


def upgrade() -> None:
    id_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.add_column("chat_messages", sa.Column("parent_id", id_type, nullable=True))
    op.add_column(
        "chat_messages",
        sa.Column("selected", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.add_column(
        "chat_messages",
        sa.Column("on_path", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.execute(_FILL_PARENTS)
    # Dropped and made again rather than altered: neither engine adds a column to an index.
    op.drop_index(_ORDER_INDEX, table_name="chat_messages")
    op.create_index(
        _ORDER_INDEX, "chat_messages", ["user_id", "session_id", "on_path", "turn", "id"]
    )


def downgrade() -> None:
    # Going back to one branch per chat: only the active path survives.
    op.execute("DELETE FROM chat_messages WHERE NOT on_path")
    op.execute(
        "UPDATE chat_sessions SET message_count = (SELECT count(*) FROM chat_messages AS m"
        " WHERE m.user_id = chat_sessions.user_id AND m.session_id = chat_sessions.session_id)"
    )
    op.drop_index(_ORDER_INDEX, table_name="chat_messages")
    op.create_index(_ORDER_INDEX, "chat_messages", ["user_id", "session_id", "turn", "id"])
    op.drop_column("chat_messages", "on_path")
    op.drop_column("chat_messages", "selected")
    op.drop_column("chat_messages", "parent_id")
