"""Erase a user's chats: every session and every message stored under their user id.

Deletion runs in batches of sessions, each its own short transaction, so erasing a user with a
huge history never holds one long write lock (on SQLite that would stall every other writer).
A session the user creates while the erasure runs (another tab still open) is caught by the
loop, which only stops when a batch finds nothing left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, select, tuple_

from database.outages import module_outages_raise
from database.row_security import act_for, writing_for
from memory.errors import StoreUnavailable
from memory.models import ChatMessage, ChatSession
from memory.search import forget_chats, forget_owner
from memory.store import ChatStore
from memory.validation import check_id

# Sessions per transaction: small enough to keep each write lock short.
ERASE_BATCH_SESSIONS = 500

_sessions = ChatSession.__table__
_messages = ChatMessage.__table__


@dataclass(frozen=True)
class ErasedCounts:
    sessions: int
    messages: int


def delete_sessions(conn: Connection, keys: Sequence[tuple[str, str]]) -> ErasedCounts:
    """Delete the sessions named by (user_id, session_id) pairs and all their messages, inside
    the caller's transaction; returns what was deleted."""
    if not keys:
        return ErasedCounts(0, 0)
    owners: dict[str, list[tuple[str, str]]] = {}
    for user_id, session_id in keys:
        owners.setdefault(user_id, []).append((user_id, session_id))
    sessions = messages = 0
    # Owner by owner: on PostgreSQL row security lets the transaction touch one user's rows
    # at a time, and the retention purge hands over several users' chats at once.
    for user_id, pairs in owners.items():
        act_for(conn, user_id)
        forget_chats(conn, pairs)
        # Messages go first explicitly: the cascade would do it, but not on an SQLite
        # connection opened without PRAGMA foreign_keys (the store follows the same rule).
        messages += conn.execute(
            delete(_messages).where(tuple_(_messages.c.user_id, _messages.c.session_id).in_(pairs))
        ).rowcount
        sessions += conn.execute(
            delete(_sessions).where(tuple_(_sessions.c.user_id, _sessions.c.session_id).in_(pairs))
        ).rowcount
    return ErasedCounts(sessions=sessions, messages=messages)


def delete_user_content(store: ChatStore, *, user_id: str) -> ErasedCounts:
    """Delete every session and message of `user_id`, leaving other users untouched; returns
    the counts deleted."""
    check_id(user_id, "user_id")
    sessions = messages = 0
    while True:
        with writing_for(store.engine, user_id) as conn:
            batch = conn.scalars(
                select(_sessions.c.session_id)
                .where(_sessions.c.user_id == user_id)
                .limit(ERASE_BATCH_SESSIONS)
                .with_for_update()
            ).all()
            counts = delete_sessions(conn, [(user_id, session_id) for session_id in batch])
            sessions += counts.sessions
            messages += counts.messages
            if not batch:
                # Nothing left: also sweep messages whose session row is gone (only possible on a
                # database written without foreign keys), so truly nothing of the user is left.
                messages += conn.execute(
                    delete(_messages).where(_messages.c.user_id == user_id)
                ).rowcount
                # The search index went with each message; its key for the user holds the id.
                forget_owner(conn, user_id)
                break
    return ErasedCounts(sessions=sessions, messages=messages)


# Every public function here reports an unreachable database as StoreUnavailable.
module_outages_raise(globals(), StoreUnavailable)


__all__ = ["ERASE_BATCH_SESSIONS", "ErasedCounts", "delete_sessions", "delete_user_content"]
