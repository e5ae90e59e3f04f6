"""The memory core's named exceptions. All are ValueError or LookupError subclasses, so
callers that only know LangChain's conventions still catch them."""

from __future__ import annotations

from database.outages import DatabaseUnavailable


class StoreError(Exception):
    """Base of every error the memory core raises on purpose."""


class InvalidId(StoreError, ValueError):
    """A user or session id that is empty, too long, or holds control characters."""


class InvalidContent(StoreError, ValueError):
    """Message content, a title or an ability the store refuses (too long, NUL, not text)."""


class SessionNotFound(StoreError, LookupError):
    """The (user_id, session_id) pair names no session of that user."""


class MessageNotFound(StoreError, LookupError):
    """The message id names no message of that user's chat (or not one that can be edited)."""


class ChatFull(InvalidContent):
    """The chat already holds the most messages one chat may (MAX_MESSAGES_PER_CHAT)."""


class StoreUnavailable(StoreError, DatabaseUnavailable):
    """The chat database cannot be reached now (down, restarting, locked for too long)."""


class ImportTooLarge(InvalidContent):
    """An import file over the operator's caps (bytes, messages, messages in one chat)."""
