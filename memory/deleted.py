"""A deleted chat, kept in memory for a few seconds so that Undo can put it back exactly.

Deleting copies the chat's rows (its session row and every message, other versions included)
in the transaction that deletes them; the copy lives only in the caller's memory (the browser
session's state), never in the database, so a deleted chat is gone from lists, search,
exports, retention and the admin's view at once. `restore_chat` writes the same rows back, with
the same message ids (so versions keep their parents), and indexes them for search again in the
same transaction. It refuses once UNDO_SECONDS have passed, when the owner's account is gone,
and when a chat with that id exists again."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, exists, select
from sqlalchemy.exc import IntegrityError

from accounts.models import User
from database.outages import module_outages_raise
from database.row_security import writing_for
from memory.errors import StoreUnavailable
from memory.models import ChatMessage, ChatSession
from memory.search import forget_chats, index_messages
from memory.store import ChatStore, lock_session
from memory.validation import check_id

# Long enough to see the notice and click; short enough that a delete means delete.
UNDO_SECONDS = 10.0

_sessions = ChatSession.__table__
_messages = ChatMessage.__table__


class CannotRestore(Exception):
    """The chat cannot be put back: the sentence says why, for the user."""


@dataclass(frozen=True)
class DeletedChat:
    """What was deleted, row for row; held in memory only."""

    user_id: str
    session_id: str
    title: str
    session_row: dict[str, Any]
    message_rows: tuple[dict[str, Any], ...]
    deleted_at: float = field(default_factory=time.monotonic)

    def undo_seconds_left(self, now: float | None = None) -> float:
        return max(0.0, UNDO_SECONDS - ((now or time.monotonic()) - self.deleted_at))


def delete_chat(store: ChatStore, user_id: str, session_id: str) -> DeletedChat | None:
    """Delete the chat and its messages as `ChatStore.delete_session` does, and return the copy
    Undo needs (None if there was no such chat)."""
    check_id(user_id, "user_id")
    check_id(session_id, "session_id")
    pair_of_sessions = (_sessions.c.user_id == user_id) & (_sessions.c.session_id == session_id)
    pair_of_messages = (_messages.c.user_id == user_id) & (_messages.c.session_id == session_id)
    with writing_for(store.engine, user_id) as conn:
        if not lock_session(conn, user_id, session_id):
            return None
        session_row = conn.execute(select(_sessions).where(pair_of_sessions)).mappings().one()
        message_rows = tuple(
            dict(row)
            for row in conn.execute(
                select(_messages).where(pair_of_messages).order_by(_messages.c.id)
            ).mappings()
        )
        forget_chats(conn, [(user_id, session_id)])
        conn.execute(delete(_messages).where(pair_of_messages))
        conn.execute(delete(_sessions).where(pair_of_sessions))
    return DeletedChat(
        user_id=user_id,
        session_id=session_id,
        title=session_row["title"],
        session_row=dict(session_row),
        message_rows=message_rows,
    )


def restore_chat(store: ChatStore, deleted: DeletedChat, *, now: float | None = None) -> None:
    """Put the deleted chat back as it was, search index included, or raise CannotRestore."""
    if deleted.undo_seconds_left(now) <= 0:
        raise CannotRestore("It is too late to undo: the chat is deleted for good.")
    users = User.__table__
    try:
        with writing_for(store.engine, deleted.user_id) as conn:
            owner_is_here = conn.scalar(
                select(exists().where(users.c.id == deleted.user_id, users.c.disabled.is_(False)))
            )
            if not owner_is_here:
                raise CannotRestore("This account can no longer keep chats.")
            conn.execute(_sessions.insert(), [deleted.session_row])
            if deleted.message_rows:
                # Parents have lower ids than their children: in id order each parent is back
                # before any message that points at it.
                conn.execute(_messages.insert(), list(deleted.message_rows))
                index_messages(
                    conn,
                    [(row["id"], deleted.user_id, row["content"]) for row in deleted.message_rows],
                )
    except IntegrityError:
        raise CannotRestore(
            "A chat with the same address exists again, so this one cannot be put back."
        ) from None


# Every public function here reports an unreachable database as StoreUnavailable.
module_outages_raise(globals(), StoreUnavailable)


__all__ = ["UNDO_SECONDS", "CannotRestore", "DeletedChat", "delete_chat", "restore_chat"]
