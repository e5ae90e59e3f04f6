"""The memory core: per-user, per-session chat histories in SQL, and the chain that uses them.

store = open_store()                     # embedded SQLite, or DATABASE_URL
chain = build_chain(llm, store)
chain.invoke({"ability": "Java", "input": "What is jvm?"},
             config={"configurable": {"user_id": "user1", "session_id": "session1"}})
"""

from __future__ import annotations

from database import get_engine
from database.migrate import migrate_as_owner
from database.outages import outages_raise
from database.row_security import RowSecurityBypassed, check_app_role
from memory.chain import SYSTEM_PROMPT, build_chain, build_prompt, fit_history, stream_reply
from memory.errors import (
    ChatFull,
    InvalidContent,
    InvalidId,
    SessionNotFound,
    StoreError,
    StoreUnavailable,
)
from memory.history import SessionHistory
from memory.store import (
    DEFAULT_ABILITY,
    ChatStore,
    SessionCursor,
    SessionSummary,
    StoredMessage,
    Turn,
    cursor_of,
)
from memory.validation import MAX_CONTENT_CHARS


@outages_raise(StoreUnavailable)
def open_store(url: str | None = None) -> ChatStore:
    """A store on `url` (default: DATABASE_URL, else the embedded SQLite file), with the
    schema migrated to the newest version (on PostgreSQL as DATABASE_OWNER_URL when set).
    Raises RowSecurityBypassed when a PostgreSQL role would see past row security."""
    engine = get_engine(url)
    migrate_as_owner(engine)
    check_app_role(engine)
    return ChatStore(engine)


__all__ = [
    "DEFAULT_ABILITY",
    "MAX_CONTENT_CHARS",
    "SYSTEM_PROMPT",
    "ChatFull",
    "ChatStore",
    "InvalidContent",
    "InvalidId",
    "RowSecurityBypassed",
    "SessionCursor",
    "SessionHistory",
    "SessionNotFound",
    "SessionSummary",
    "StoreError",
    "StoreUnavailable",
    "StoredMessage",
    "Turn",
    "build_chain",
    "build_prompt",
    "cursor_of",
    "fit_history",
    "open_store",
    "stream_reply",
]
