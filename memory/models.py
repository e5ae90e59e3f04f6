"""Tables of the memory core: chat sessions and their messages.

A session is identified by the pair (user_id, session_id): the composite primary key. A message
references that pair (never a joined string), so a row cannot belong to two users.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from database import Base

ID_MAX_CHARS = 255
_ROW_ID = BigInteger().with_variant(Integer, "sqlite")


class ChatSession(Base):
    __tablename__ = "chat_sessions"

    user_id: Mapped[str] = mapped_column(String(ID_MAX_CHARS), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(ID_MAX_CHARS), primary_key=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    ability: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    # Highest turn number handed out; a turn is one user message and the answers to it.
    last_turn: Mapped[int] = mapped_column(Integer, default=0)
    # Where the chat sits in its owner's sidebar: listed, pinned or archived (migration 0008).
    shelf: Mapped[str] = mapped_column(String(16), default="listed", server_default="listed")
    # Who wrote the title: question (its first words), model or user. Only a question title
    # is ever replaced by the model's.
    title_source: Mapped[str] = mapped_column(
        String(16), default="question", server_default="question"
    )

    __table_args__ = (
        # Serves the sidebar: one user's sessions of one shelf, newest first, keyset-paged; and
        # search, which tests every title of the user from the index alone (migrations 0006,
        # 0008).
        Index(
            "ix_chat_sessions_user_recent", "user_id", "shelf", "updated_at", "session_id", "title"
        ),
        # Serves retention: sessions untouched since a cut-off, across all users.
        Index("ix_chat_sessions_updated_at", "updated_at"),
    )


class ChatMessage(Base):
    __tablename__ = "chat_messages"

    id: Mapped[int] = mapped_column(_ROW_ID, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(ID_MAX_CHARS))
    session_id: Mapped[str] = mapped_column(String(ID_MAX_CHARS))
    turn: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    # complete, or interrupted for an answer cut short (stop, rerun, closed tab, model failure).
    status: Mapped[str] = mapped_column(String(16), default="complete")
    created_at: Mapped[datetime]
    # The message this one follows (None for a chat's first). Messages with one parent, turn
    # and role are versions of each other: an edited question, a retried answer (0009).
    parent_id: Mapped[int | None] = mapped_column(_ROW_ID, nullable=True)
    # The version shown among its siblings, remembered while another branch is shown.
    selected: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # On the active path: reached from the first message through selected versions. Derived
    # from `selected`, stored so that a chat's pages are one range of the order index.
    on_path: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    __table_args__ = (
        ForeignKeyConstraint(
            ["user_id", "session_id"],
            ["chat_sessions.user_id", "chat_sessions.session_id"],
            ondelete="CASCADE",
        ),
        # Serves "one session's active path in order": (turn, id) keeps a turn's answer right
        # after its question even when two tabs write to the same session at once; the other
        # versions of a page's messages are the on_path=false range beside it (0009).
        Index("ix_chat_messages_session_order", "user_id", "session_id", "on_path", "turn", "id"),
        # Serves the admin's usage chart: messages per day.
        Index("ix_chat_messages_created_at", "created_at"),
    )
