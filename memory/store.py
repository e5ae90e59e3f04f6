"""The chat store: SQL-backed conversations, keyed on (user_id, session_id).

Schema (memory/models.py):
- `chat_sessions` has one row per conversation. Its primary key is the pair (user_id,
  session_id): user2's "session1" is a different session from user1's "session1". The row holds
  the title, the assistant's ability, timestamps, a message count and the last turn number.
- `chat_messages` has one row per message, referencing the pair with ON DELETE CASCADE. Content
  is plain text, stored exactly as given.

Branches (memory/branches.py): an edited question or a retried answer is a new version beside
the old one, and the chat is a tree whose active path is what the user sees and what the model
is sent. Every read below reads the active path, except `load_messages(every_version=True)`.

Order: a conversation is a sequence of turns. A turn is one user message and the answer to it,
numbered from 1 per session by an atomic increment on the session row. Messages are read in
(turn, id) order, where id increases monotonically. The user's message is stored when the turn
begins, before any model is called, so a failing or interrupted model never loses it; the answer
joins the same turn later, so two tabs writing to one session never interleave half-turns.

Isolation: every public method takes the user id, and every query carries both ids in its
WHERE clause. There is no method that reaches a session by its session id alone.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import (
    Engine,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    true,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError

import settings
from database import is_sqlite, upsert_ignore, utcnow
from database.outages import outages_raise
from database.row_security import reading_for, writing_for
from memory.branches import (
    Versions,
    choose_version,
    followed_on_path,
    leave_path_from,
    versions_of,
)
from memory.errors import (
    ChatFull,
    InvalidContent,
    MessageNotFound,
    SessionNotFound,
    StoreUnavailable,
)
from memory.models import ChatMessage, ChatSession
from memory.search import Snippet, clean_query, find_sessions, forget_chats, index_messages
from memory.validation import (
    MAX_ABILITY_CHARS,
    MAX_TITLE_CHARS,
    check_content,
    check_id,
    check_label,
)

DEFAULT_ABILITY = "general knowledge"
TITLE_FROM_QUESTION_CHARS = 60
ROLES = ("human", "ai", "system")
COMPLETE = "complete"
# One chat's length is capped (MAX_MESSAGES_PER_CHAT): a page costs what a page costs, but an
# export, an erasure or an admin's look at one chat still reads all of it.
DEFAULT_MAX_MESSAGES_PER_CHAT = 10_000
# Messages the chat page draws at once; "Earlier messages" loads the page before.
MESSAGE_PAGE_SIZE = 50
INTERRUPTED = "interrupted"
# A chat's place in its owner's sidebar (chat_sessions.shelf).
LISTED, PINNED, ARCHIVED = "listed", "pinned", "archived"
SHELVES = (LISTED, PINNED, ARCHIVED)
# Who wrote a chat's title (chat_sessions.title_source).
TITLE_BY_QUESTION, TITLE_BY_MODEL, TITLE_BY_USER = "question", "model", "user"
TITLE_SOURCES = (TITLE_BY_QUESTION, TITLE_BY_MODEL, TITLE_BY_USER)

_sessions = ChatSession.__table__
_messages = ChatMessage.__table__


@dataclass(frozen=True)
class SessionSummary:
    user_id: str
    session_id: str
    title: str
    ability: str
    created_at: datetime
    updated_at: datetime
    message_count: int
    shelf: str
    title_source: str
    # Search results only: the newest matching message around its first match.
    snippet: Snippet | None = None

    @property
    def pinned(self) -> bool:
        return self.shelf == PINNED

    @property
    def archived(self) -> bool:
        return self.shelf == ARCHIVED


@dataclass(frozen=True)
class StoredMessage:
    id: int
    turn: int
    role: str
    content: str
    status: str
    created_at: datetime
    # The message this one follows, and whether it is on the active path (memory/branches.py).
    parent_id: int | None = None
    on_path: bool = True


@dataclass(frozen=True)
class MessageCursor:
    """A message's place in its conversation, (turn, id): pages are read before or from it."""

    turn: int
    id: int


@dataclass(frozen=True)
class MessagePage:
    """Consecutive messages of one conversation, oldest first, and whether older ones exist."""

    messages: list[StoredMessage]
    has_earlier: bool
    # By message id, for the shown messages that have other versions: "< 2 / 3 >".
    versions: dict[int, Versions] = field(default_factory=dict)


@dataclass(frozen=True)
class Turn:
    """A turn whose question is stored; its answer is stored by `ChatStore.finish_turn`."""

    user_id: str
    session_id: str
    number: int
    question_id: int
    question: str


@dataclass(frozen=True)
class SessionCursor:
    """Where the next page of `list_sessions` starts: after this (updated_at, session_id)."""

    updated_at: datetime
    session_id: str


_SUMMARY_COLUMNS = (
    _sessions.c.user_id,
    _sessions.c.session_id,
    _sessions.c.title,
    _sessions.c.ability,
    _sessions.c.created_at,
    _sessions.c.updated_at,
    _sessions.c.message_count,
    _sessions.c.shelf,
    _sessions.c.title_source,
)
_MESSAGE_COLUMNS = (
    _messages.c.id,
    _messages.c.turn,
    _messages.c.role,
    _messages.c.content,
    _messages.c.status,
    _messages.c.created_at,
    _messages.c.parent_id,
    _messages.c.on_path,
)


# The hot reads are built once: building a select costs more than running it on SQLite.
_BY_PAIR = and_(
    _messages.c.user_id == bindparam("user_id"), _messages.c.session_id == bindparam("session_id")
)
# Written as the order index's own term, so that both engines read the path as one range.
_ON_PATH = _messages.c.on_path == true()
_ORDER = (_messages.c.turn, _messages.c.id)
_LOAD_MESSAGES = select(*_MESSAGE_COLUMNS).where(_BY_PAIR, _ON_PATH).order_by(*_ORDER)
_LOAD_EVERY_VERSION = select(*_MESSAGE_COLUMNS).where(_BY_PAIR).order_by(*_ORDER)
_NEWEST_FIRST = (_messages.c.turn.desc(), _messages.c.id.desc())
_LOAD_CONVERSATION = (
    select(_messages.c.id, _messages.c.role, _messages.c.content, _messages.c.status)
    .where(_BY_PAIR, _ON_PATH)
    .order_by(*_ORDER)
)
# A turn's question: whether it is on the path, and its answer shown among its versions there
# (if any), in one round trip of the answer's last statement.
_question, _answer = _messages.alias("question"), _messages.alias("answer")
_QUESTION_AND_SHOWN_ANSWER = select(
    _question.c.on_path,
    select(_answer.c.id)
    .where(
        _answer.c.user_id == _question.c.user_id,
        _answer.c.session_id == _question.c.session_id,
        _answer.c.on_path == _question.c.on_path,
        _answer.c.turn == _question.c.turn,
        _answer.c.parent_id == _question.c.id,
        _answer.c.role == "ai",
        _answer.c.selected == true(),
    )
    .limit(1)
    .scalar_subquery(),
).where(
    _question.c.user_id == bindparam("user_id"),
    _question.c.session_id == bindparam("session_id"),
    _question.c.id == bindparam("question_id"),
)
_SESSIONS_BY_RECENCY = (_sessions.c.updated_at.desc(), _sessions.c.session_id.desc())
_LIST_SESSIONS = (
    select(*_SUMMARY_COLUMNS)
    .where(_sessions.c.user_id == bindparam("user_id"), _sessions.c.shelf == bindparam("shelf"))
    .order_by(*_SESSIONS_BY_RECENCY)
    .limit(bindparam("limit"))
)


@dataclass(frozen=True)
class AuditedReader:
    """An admin reading another user's chat under the audit row that records it (audit_id)."""

    admin_id: str
    audit_id: int


@dataclass(frozen=True)
class SessionOutline:
    """A chat as an admin sees it before giving a reason: when and how big, not what."""

    session_id: str
    created_at: datetime
    updated_at: datetime
    message_count: int
    shelf: str


def _pair(table, user_id: str, session_id: str):
    return and_(table.c.user_id == user_id, table.c.session_id == session_id)


def _path(user_id: str, session_id: str):
    """The chat's active path: its messages that the user sees and the model is sent."""
    return and_(_pair(_messages, user_id, session_id), _ON_PATH)


def lock_session(conn, user_id: str, session_id: str) -> bool:
    """Take the session's row lock (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises
    writers); False if there is no such session. Taken before forget_chats: the search index's
    rows of a chat (session_terms) are only ever locked by a transaction holding the chat's row
    (every insert takes it; a delete's trigger takes it first), so two tabs writing to one chat
    never deadlock over them."""
    row = conn.execute(
        select(_sessions.c.last_turn).where(_pair(_sessions, user_id, session_id)).with_for_update()
    ).first()
    return row is not None


def _before(cursor: MessageCursor):
    position = tuple_(_messages.c.turn, _messages.c.id)
    return position < tuple_(literal(cursor.turn), literal(cursor.id))


def _title_from(question: str) -> str:
    line = " ".join(question.split())
    if len(line) <= TITLE_FROM_QUESTION_CHARS:
        return line
    return line[: TITLE_FROM_QUESTION_CHARS - 1].rstrip() + "…"


def new_session_id() -> str:
    """A fresh, URL-safe, unguessable session id."""
    return secrets.token_urlsafe(12)


@outages_raise(StoreUnavailable)
class ChatStore:
    """Conversations of many users in one SQL database. Thread-safe; share one per process."""

    def __init__(self, engine: Engine, *, max_messages_per_chat: int | None = None) -> None:
        self.engine = engine
        self.max_messages_per_chat = max_messages_per_chat or settings.get_int(
            "MAX_MESSAGES_PER_CHAT", DEFAULT_MAX_MESSAGES_PER_CHAT
        )

    def full_message(self) -> str:
        """What to tell a user whose chat has reached MAX_MESSAGES_PER_CHAT."""
        return (
            f"This chat holds {self.max_messages_per_chat:,} messages, the most one chat may "
            "hold. Start a new chat to go on; this one stays as it is."
        )

    # Sessions -------------------------------------------------------------------------------

    def create_session(
        self,
        user_id: str,
        *,
        session_id: str | None = None,
        title: str = "",
        ability: str = DEFAULT_ABILITY,
    ) -> SessionSummary:
        """Create an empty session for `user_id` (a new random id unless one is given)."""
        check_id(user_id, "user_id")
        session_id = check_id(new_session_id() if session_id is None else session_id, "session_id")
        title = check_label(title, "title", MAX_TITLE_CHARS)
        ability = check_label(ability, "ability", MAX_ABILITY_CHARS) or DEFAULT_ABILITY
        with writing_for(self.engine, user_id) as conn:
            self._ensure_session(conn, user_id, session_id, ability=ability, title=title)
        summary = self.get_session(user_id, session_id)
        assert summary is not None
        return summary

    def _ensure_session(
        self, conn, user_id: str, session_id: str, *, ability: str, title: str = ""
    ) -> None:
        now = utcnow()
        conn.execute(
            upsert_ignore(conn, _sessions).values(
                user_id=user_id,
                session_id=session_id,
                title=title,
                ability=ability,
                created_at=now,
                updated_at=now,
                message_count=0,
                last_turn=0,
                shelf=LISTED,
                # A title given at creation is the user's; an empty one is filled from the
                # first question.
                title_source=TITLE_BY_USER if title else TITLE_BY_QUESTION,
            )
        )

    def _reading(self, user_id: str, reader: AuditedReader | None):
        if reader is None:
            return reading_for(self.engine, user_id)
        return reading_for(self.engine, reader.admin_id, audit_id=reader.audit_id)

    def get_session(
        self, user_id: str, session_id: str, *, reader: AuditedReader | None = None
    ) -> SessionSummary | None:
        """The session, or None if `user_id` has no session with that id. An admin reads
        another user's with `reader` (on PostgreSQL the database checks its audit row)."""
        check_id(user_id, "user_id")
        check_id(session_id, "session_id")
        with self._reading(user_id, reader) as conn:
            row = conn.execute(
                select(*_SUMMARY_COLUMNS).where(_pair(_sessions, user_id, session_id))
            ).first()
        return SessionSummary(*row) if row else None

    def list_sessions(
        self,
        user_id: str,
        limit: int = 50,
        *,
        after: SessionCursor | None = None,
        shelf: str | None = LISTED,
    ) -> list[SessionSummary]:
        """The user's sessions on `shelf` (listed, pinned or archived; None for all of them),
        most recently updated first; pass `after=cursor_of(last)` for the next page. One shelf
        is read from the sidebar's index in order, so a page costs what a page costs."""
        check_id(user_id, "user_id")
        if shelf is not None and shelf not in SHELVES:
            raise InvalidContent(f"unknown shelf {shelf!r}; use one of {SHELVES}")
        if after is None and shelf is not None:
            with reading_for(self.engine, user_id) as conn:
                rows = conn.execute(
                    _LIST_SESSIONS, {"user_id": user_id, "shelf": shelf, "limit": max(1, limit)}
                )
                return [SessionSummary(*row) for row in rows]
        query = select(*_SUMMARY_COLUMNS).where(_sessions.c.user_id == user_id)
        if shelf is not None:
            query = query.where(_sessions.c.shelf == shelf)
        if after is not None:
            query = query.where(
                or_(
                    _sessions.c.updated_at < after.updated_at,
                    and_(
                        _sessions.c.updated_at == after.updated_at,
                        _sessions.c.session_id < after.session_id,
                    ),
                )
            )
        query = query.order_by(*_SESSIONS_BY_RECENCY)
        with reading_for(self.engine, user_id) as conn:
            rows = conn.execute(query.limit(max(1, limit))).all()
        return [SessionSummary(*row) for row in rows]

    def outline_sessions(self, user_id: str, limit: int = 200) -> list[SessionOutline]:
        """The user's chats, newest first, without title or specialty: what an admin may see
        of them before opening one (on PostgreSQL through migration 0013's narrow function)."""
        check_id(user_id, "user_id")
        with self.engine.connect() as conn:
            if is_sqlite(conn):
                rows = conn.execute(
                    select(
                        _sessions.c.session_id,
                        _sessions.c.created_at,
                        _sessions.c.updated_at,
                        _sessions.c.message_count,
                        _sessions.c.shelf,
                    )
                    .where(_sessions.c.user_id == user_id)
                    .order_by(_sessions.c.updated_at.desc(), _sessions.c.session_id.desc())
                    .limit(limit)
                )
            else:
                rows = conn.execute(
                    text("SELECT * FROM chat_sessions_outline(:owner, :wanted)"),
                    {"owner": user_id, "wanted": limit},
                )
            return [SessionOutline(*row) for row in rows]

    def count_sessions(self, user_id: str) -> int:
        """How many sessions the user has."""
        check_id(user_id, "user_id")
        with reading_for(self.engine, user_id) as conn:
            return int(
                conn.scalar(
                    select(func.count())
                    .select_from(_sessions)
                    .where(_sessions.c.user_id == user_id)
                )
                or 0
            )

    def search_sessions(self, user_id: str, query: str, limit: int = 50) -> list[SessionSummary]:
        """The user's sessions matching `query`, newest first: every word in one message (the
        last also as a prefix), or the title containing the text (memory/search.py has the
        rule). Each carries a snippet of its newest matching message; an empty query lists
        every session. Raises InvalidContent for a query over MAX_TITLE_CHARS."""
        check_id(user_id, "user_id")
        text = clean_query(query)
        if not text:
            return self.list_sessions(user_id, limit, shelf=None)
        # One transaction: row security needs the user set in it (no autocommit reads).
        with reading_for(self.engine, user_id) as conn:
            hits = find_sessions(conn, user_id, text, limit, columns=_SUMMARY_COLUMNS)
        return [SessionSummary(*hit.session, snippet=hit.snippet) for hit in hits]

    def rename_session(self, user_id: str, session_id: str, title: str) -> None:
        """Give the session a new title; raises SessionNotFound if it is not the user's."""
        if not self._retitle(user_id, session_id, title, TITLE_BY_USER):
            raise SessionNotFound(f"no session {session_id!r} for this user")

    def set_model_title(self, user_id: str, session_id: str, title: str) -> bool:
        """Store a title the model wrote, unless the user has set one (or the model already
        did): decided in the UPDATE itself, so a rename a moment earlier always wins. True if
        the title was stored."""
        return self._retitle(
            user_id, session_id, title, TITLE_BY_MODEL, only_over=TITLE_BY_QUESTION
        )

    def _retitle(
        self,
        user_id: str,
        session_id: str,
        title: str,
        source: str,
        *,
        only_over: str | None = None,
    ) -> bool:
        """Set the title as written by `source` (over a title by `only_over` alone, if
        given); True if a row was changed."""
        check_id(user_id, "user_id")
        check_id(session_id, "session_id")
        title = check_label(title, "title", MAX_TITLE_CHARS)
        if not title:
            raise InvalidContent("the title is empty")
        statement = update(_sessions).where(_pair(_sessions, user_id, session_id))
        if only_over is not None:
            statement = statement.where(_sessions.c.title_source == only_over)
        with writing_for(self.engine, user_id) as conn:
            result = conn.execute(statement.values(title=title, title_source=source))
        return result.rowcount > 0

    def pin_session(self, user_id: str, session_id: str, pinned: bool = True) -> None:
        """Pin the chat to the top of the sidebar (an archived chat comes back, pinned), or
        unpin it. Its date is left alone: unpinned, it goes back to its place in time."""
        self._move(user_id, session_id, PINNED, pinned)

    def archive_session(self, user_id: str, session_id: str, archived: bool = True) -> None:
        """Take the chat out of the sidebar's list (a pinned chat is unpinned), or restore it.
        An archived chat is still found by search and kept, exported and erased as any other."""
        self._move(user_id, session_id, ARCHIVED, archived)

    def _move(self, user_id: str, session_id: str, shelf: str, onto: bool) -> None:
        check_id(user_id, "user_id")
        check_id(session_id, "session_id")
        # Off a shelf means back to the list, and only from that shelf: unpinning an archived
        # chat leaves it archived.
        value = (
            literal(shelf)
            if onto
            else case((_sessions.c.shelf == shelf, LISTED), else_=_sessions.c.shelf)
        )
        with writing_for(self.engine, user_id) as conn:
            result = conn.execute(
                update(_sessions).where(_pair(_sessions, user_id, session_id)).values(shelf=value)
            )
        if result.rowcount == 0:
            raise SessionNotFound(f"no session {session_id!r} for this user")

    def delete_session(self, user_id: str, session_id: str) -> bool:
        """Delete the session and all its messages. True if there was one to delete."""
        check_id(user_id, "user_id")
        check_id(session_id, "session_id")
        with writing_for(self.engine, user_id) as conn:
            if lock_session(conn, user_id, session_id):
                forget_chats(conn, [(user_id, session_id)])
            # Messages go first explicitly: the cascade would do it, but not on an SQLite
            # connection opened by a tool without PRAGMA foreign_keys.
            conn.execute(delete(_messages).where(_pair(_messages, user_id, session_id)))
            result = conn.execute(delete(_sessions).where(_pair(_sessions, user_id, session_id)))
        return result.rowcount > 0

    # Messages -------------------------------------------------------------------------------

    def get_history(self, user_id: str, session_id: str):
        """A LangChain chat history for exactly this (user_id, session_id) pair."""
        from memory.history import SessionHistory

        return SessionHistory(self, user_id, session_id)

    def load_messages(
        self,
        user_id: str,
        session_id: str,
        *,
        every_version: bool = False,
        reader: AuditedReader | None = None,
    ) -> list[StoredMessage]:
        """The session's active path in conversation order (empty if there is no such
        session); with `every_version`, every message it holds, other versions included. An
        admin reads another user's with `reader`."""
        check_id(user_id, "user_id")
        check_id(session_id, "session_id")
        query = _LOAD_EVERY_VERSION if every_version else _LOAD_MESSAGES
        with self._reading(user_id, reader) as conn:
            rows = conn.execute(query, {"user_id": user_id, "session_id": session_id})
            return [StoredMessage(*row) for row in rows]

    def load_conversation(self, user_id: str, session_id: str) -> list[tuple[int, str, str, str]]:
        """(id, role, content, status) of the session's messages in order: what a prompt needs,
        without the timestamps that `load_messages` also parses."""
        check_id(user_id, "user_id")
        check_id(session_id, "session_id")
        with reading_for(self.engine, user_id) as conn:
            rows = conn.execute(_LOAD_CONVERSATION, {"user_id": user_id, "session_id": session_id})
            return [tuple(row) for row in rows]

    def count_path(self, user_id: str, session_id: str) -> int:
        """How many messages the chat's active path holds (other versions not counted)."""
        check_id(user_id, "user_id")
        check_id(session_id, "session_id")
        with reading_for(self.engine, user_id) as conn:
            count = conn.scalar(
                select(func.count()).select_from(_messages).where(_path(user_id, session_id))
            )
        return int(count or 0)

    def first_exchange(self, user_id: str, session_id: str) -> tuple[str, str] | None:
        """(question, answer) of the session's first turn, or None before it has a complete
        answer: what a title is written from."""
        check_id(user_id, "user_id")
        check_id(session_id, "session_id")
        with reading_for(self.engine, user_id) as conn:
            rows = conn.execute(
                select(_messages.c.turn, _messages.c.role, _messages.c.content, _messages.c.status)
                .where(_path(user_id, session_id))
                .order_by(*_ORDER)
                .limit(3)
            ).all()
        question = next((row for row in rows if row.role == "human"), None)
        if question is None:
            return None
        answer = next(
            (
                row
                for row in rows
                if row.role == "ai" and row.turn == question.turn and row.status == COMPLETE
            ),
            None,
        )
        return None if answer is None else (question.content, answer.content)

    def load_page(
        self,
        user_id: str,
        session_id: str,
        *,
        before: MessageCursor | None = None,
        limit: int = MESSAGE_PAGE_SIZE,
        with_versions: bool = True,
    ) -> MessagePage:
        """The `limit` newest messages of the session (or the newest before `before`), oldest
        first, with where each stands among its versions (unless `with_versions` is false). Read by keyset on (turn, id) from the index's end: the cost is the page's,
        whatever the length of the chat."""
        check_id(user_id, "user_id")
        check_id(session_id, "session_id")
        query = select(*_MESSAGE_COLUMNS).where(_path(user_id, session_id))
        if before is not None:
            query = query.where(_before(before))
        query = query.order_by(*_NEWEST_FIRST).limit(max(1, limit) + 1)
        with reading_for(self.engine, user_id) as conn:
            rows = conn.execute(query).all()
            newest = [StoredMessage(*row) for row in rows[: max(1, limit)]][::-1]
            versions = _versions_shown(conn, user_id, session_id, newest) if with_versions else {}
        return MessagePage(newest, has_earlier=len(rows) > max(1, limit), versions=versions)

    def load_from(self, user_id: str, session_id: str, start: MessageCursor) -> MessagePage:
        """The session's messages from `start` (included) to the newest, oldest first: the
        view a user widened by loading earlier pages, kept as new messages arrive."""
        check_id(user_id, "user_id")
        check_id(session_id, "session_id")
        path = _path(user_id, session_id)
        with reading_for(self.engine, user_id) as conn:
            rows = conn.execute(
                select(*_MESSAGE_COLUMNS).where(path, ~_before(start)).order_by(*_ORDER)
            ).all()
            earlier = conn.scalar(select(exists().where(path, _before(start))))
            shown = [StoredMessage(*row) for row in rows]
            versions = _versions_shown(conn, user_id, session_id, shown)
        return MessagePage(shown, has_earlier=bool(earlier), versions=versions)

    def load_conversation_before(
        self,
        user_id: str,
        session_id: str,
        *,
        before: MessageCursor | None = None,
        limit: int = MESSAGE_PAGE_SIZE,
    ) -> list[tuple[int, int, str, str, str]]:
        """(id, turn, role, content, status) of up to `limit` messages, NEWEST first, before
        `before` (or from the newest): how a prompt's window is read back from the end."""
        check_id(user_id, "user_id")
        check_id(session_id, "session_id")
        query = select(
            _messages.c.id,
            _messages.c.turn,
            _messages.c.role,
            _messages.c.content,
            _messages.c.status,
        ).where(_path(user_id, session_id))
        if before is not None:
            query = query.where(_before(before))
        with reading_for(self.engine, user_id) as conn:
            rows = conn.execute(query.order_by(*_NEWEST_FIRST).limit(max(1, limit)))
            return [tuple(row) for row in rows]

    def begin_turn(
        self,
        user_id: str,
        session_id: str,
        question: str,
        *,
        ability: str = DEFAULT_ABILITY,
    ) -> Turn:
        """Store the user's question as a new turn at the end of the active path, creating
        the session on first use. The Turn returned is what the answer is stored under
        (`finish_turn`, `stream_reply`).

        If the path's last message is this same question still unanswered (the user sending
        it again after a failure), that turn is reused instead of storing the question twice."""
        check_id(user_id, "user_id")
        check_id(session_id, "session_id")
        question = check_content(question, allow_empty=False)
        ability = check_label(ability, "ability", MAX_ABILITY_CHARS) or DEFAULT_ABILITY
        now = utcnow()
        with writing_for(self.engine, user_id) as conn:
            self._ensure_session(conn, user_id, session_id, ability=ability)
            # Held to the end: the path's end read here is still its end when the question
            # joins it, whatever another tab chooses meanwhile. (SQLite's BEGIN IMMEDIATE
            # already holds the whole database.)
            if conn.dialect.name != "sqlite":
                lock_session(conn, user_id, session_id)
            last = conn.execute(
                select(_messages.c.id, _messages.c.turn, _messages.c.role, _messages.c.content)
                .where(_path(user_id, session_id))
                .order_by(*_NEWEST_FIRST)
                .limit(1)
            ).first()
            if last is not None and last.role == "human" and last.content == question:
                conn.execute(
                    update(_sessions)
                    .where(_pair(_sessions, user_id, session_id))
                    .values(updated_at=now)
                )
                return Turn(user_id, session_id, last.turn, last.id, question)
            number = self._take_turn(conn, user_id, session_id, question, now)
            question_id = self._insert_message(
                conn,
                user_id,
                session_id,
                number,
                "human",
                question,
                COMPLETE,
                now,
                parent_id=None if last is None else last.id,
            )
        return Turn(user_id, session_id, number, question_id, question)

    def _take_turn(
        self,
        conn,
        user_id: str,
        session_id: str,
        question: str,
        now: datetime,
        *,
        number: int | None = None,
    ) -> int:
        """Count one more message and hand out the turn `number` (default: the path's next);
        raises ChatFull when there is no room for it and its answer."""
        number = conn.execute(
            update(_sessions)
            .where(
                _pair(_sessions, user_id, session_id),
                # Room for the question and its answer, decided in the same statement that
                # takes the turn number, so two tabs cannot both take the last place.
                _sessions.c.message_count + 2 <= self.max_messages_per_chat,
            )
            .values(
                last_turn=_sessions.c.last_turn + 1 if number is None else number,
                message_count=_sessions.c.message_count + 1,
                updated_at=now,
                title=func.coalesce(func.nullif(_sessions.c.title, ""), _title_from(question)),
            )
            .returning(_sessions.c.last_turn)
        ).scalar_one_or_none()
        if number is None:
            raise ChatFull(self.full_message())
        return number

    @staticmethod
    def _insert_message(
        conn,
        user_id: str,
        session_id: str,
        turn: int,
        role: str,
        content: str,
        status: str,
        now: datetime,
        *,
        parent_id: int | None,
        selected: bool = True,
        on_path: bool = True,
    ) -> int:
        message_id = conn.execute(
            _messages.insert()
            .values(
                user_id=user_id,
                session_id=session_id,
                turn=turn,
                role=role,
                content=content,
                status=status,
                created_at=now,
                parent_id=parent_id,
                selected=selected,
                on_path=on_path,
            )
            .returning(_messages.c.id)
        ).scalar_one()
        index_messages(conn, [(message_id, user_id, content)])
        return message_id

    def edit_question(self, user_id: str, session_id: str, message_id: int, question: str) -> Turn:
        """Ask `question` in place of the question `message_id` (one on the chat's active
        path): a new version of it, on a new branch that the path now follows. The old
        question and everything after it stay, one "< >" away. Returns the new turn, to be
        answered like any other. Raises MessageNotFound if the chat has no such question on
        its path, ChatFull if it has no room."""
        check_id(user_id, "user_id")
        check_id(session_id, "session_id")
        question = check_content(question, allow_empty=False)
        now = utcnow()
        with writing_for(self.engine, user_id) as conn:
            if not lock_session(conn, user_id, session_id):
                raise SessionNotFound(f"no session {session_id!r} for this user")
            old = conn.execute(
                select(_messages.c.turn, _messages.c.parent_id).where(
                    _path(user_id, session_id),
                    _messages.c.id == message_id,
                    _messages.c.role == "human",
                )
            ).first()
            if old is None:
                raise MessageNotFound(
                    "that question is no longer shown in this chat (another tab may have "
                    "changed it)"
                )
            self._take_turn(conn, user_id, session_id, question, now, number=old.turn)
            # The new version has nothing after it yet: the path is what it was before this
            # turn, then the new question. The old one was its group's selected version.
            leave_path_from(conn, user_id, session_id, old.turn)
            conn.execute(
                update(_messages).where(_messages.c.id == message_id).values(selected=False)
            )
            new_id = self._insert_message(
                conn,
                user_id,
                session_id,
                old.turn,
                "human",
                question,
                COMPLETE,
                now,
                parent_id=old.parent_id,
            )
        return Turn(user_id, session_id, old.turn, new_id, question)

    def show_version(self, user_id: str, session_id: str, message_id: int) -> None:
        """Show the version `message_id` of a question or an answer: the active path then
        runs through it and on through the versions last shown below it. Raises
        MessageNotFound if the chat has no such message."""
        check_id(user_id, "user_id")
        check_id(session_id, "session_id")
        with writing_for(self.engine, user_id) as conn:
            if not lock_session(conn, user_id, session_id):
                raise SessionNotFound(f"no session {session_id!r} for this user")
            end = choose_version(conn, user_id, session_id, message_id)
            conn.execute(
                update(_sessions).where(_pair(_sessions, user_id, session_id)).values(last_turn=end)
            )

    def finish_turn(self, turn: Turn, answer: str, *, status: str = COMPLETE) -> None:
        """Store the answer to `turn` as the version shown of its answers. An answer the
        question already had (Retry) stays, as an earlier version: unless another tab went on
        from it meanwhile (then the new answer is added beside it, not shown, so that tab's
        messages stay on screen), or the chat is full (then the new answer takes the shown
        one's place, or ChatFull if messages follow it). Raises SessionNotFound if the session
        or the question was deleted."""
        answer = check_content(answer)
        if status not in (COMPLETE, INTERRUPTED):
            raise ValueError(f"unknown status {status!r}")
        now = utcnow()
        user_id, session_id = turn.user_id, turn.session_id
        try:
            with writing_for(self.engine, user_id) as conn:
                # First, so that the row lock is held before the question's place is read.
                count = conn.execute(
                    update(_sessions)
                    .where(_pair(_sessions, user_id, session_id))
                    .values(message_count=_sessions.c.message_count + 1, updated_at=now)
                    .returning(_sessions.c.message_count)
                ).scalar_one_or_none()
                question = conn.execute(
                    _QUESTION_AND_SHOWN_ANSWER,
                    {
                        "user_id": user_id,
                        "session_id": session_id,
                        "question_id": turn.question_id,
                    },
                ).first()
                if count is None or question is None:
                    raise SessionNotFound("the session was deleted before the answer arrived")
                shown, earlier = bool(question[0]), question[1]
                # Only a shown answer can be followed on the path; one off it is not looked at.
                followed = (
                    earlier is not None
                    and shown
                    and followed_on_path(conn, user_id, session_id, earlier, turn.number)
                )
                if earlier is not None and count > self.max_messages_per_chat:
                    if followed or not shown:
                        raise ChatFull(self.full_message())
                    # No room for one more version: the new answer replaces the shown one.
                    conn.execute(delete(_messages).where(_messages.c.id == earlier))
                    conn.execute(
                        update(_sessions)
                        .where(_pair(_sessions, user_id, session_id))
                        .values(message_count=_sessions.c.message_count - 1)
                    )
                    earlier = None
                if earlier is not None and not followed:
                    # The old answer steps aside; nothing follows it, so the path is the same
                    # up to it and then the new answer.
                    conn.execute(
                        update(_messages)
                        .where(_messages.c.id == earlier)
                        .values(selected=False, on_path=False)
                    )
                self._insert_message(
                    conn,
                    user_id,
                    session_id,
                    turn.number,
                    "ai",
                    answer,
                    status,
                    now,
                    parent_id=turn.question_id,
                    selected=not followed,
                    on_path=shown and not followed,
                )
        except IntegrityError as error:
            raise SessionNotFound("the session was deleted before the answer arrived") from error

    def reopen_last_turn(self, user_id: str, session_id: str) -> Turn | None:
        """The turn of the active path's last question, to be answered again: its new answer
        is added beside the old ones (`finish_turn`). None when the session has no turn."""
        check_id(user_id, "user_id")
        check_id(session_id, "session_id")
        with reading_for(self.engine, user_id) as conn:
            question = conn.execute(
                select(_messages.c.id, _messages.c.turn, _messages.c.content)
                .where(_path(user_id, session_id), _messages.c.role == "human")
                .order_by(*_NEWEST_FIRST)
                .limit(1)
            ).first()
        if question is None:
            return None
        return Turn(user_id, session_id, question.turn, question.id, question.content)

    def append_messages(
        self, user_id: str, session_id: str, messages: Sequence[tuple[str, str]]
    ) -> None:
        """Append (role, content) pairs in order: each human message opens a new turn, other
        roles join the current one. Used by the LangChain adapter and by imports."""
        check_id(user_id, "user_id")
        check_id(session_id, "session_id")
        checked = []
        for role, content in messages:
            if role not in ROLES:
                raise InvalidContent(f"unsupported message role {role!r}; use one of {ROLES}")
            checked.append((role, check_content(content)))
        if not checked:
            return
        now = utcnow()
        first_question = next((content for role, content in checked if role == "human"), "")
        with writing_for(self.engine, user_id) as conn:
            self._ensure_session(conn, user_id, session_id, ability=DEFAULT_ABILITY)
            # The row lock (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers)
            # makes the turn numbers below ours alone.
            turn, stored = conn.execute(
                select(_sessions.c.last_turn, _sessions.c.message_count)
                .where(_pair(_sessions, user_id, session_id))
                .with_for_update()
            ).one()
            if stored + len(checked) > self.max_messages_per_chat:
                raise ChatFull(self.full_message())
            parent_id = conn.scalar(
                select(_messages.c.id)
                .where(_path(user_id, session_id))
                .order_by(*_NEWEST_FIRST)
                .limit(1)
            )
            rows = []
            for role, content in checked:
                # A question opens a turn; answers before any question stay in turn 0.
                turn += role == "human"
                rows.append(
                    {
                        "user_id": user_id,
                        "session_id": session_id,
                        "turn": turn,
                        "role": role,
                        "content": content,
                        "status": COMPLETE,
                        "created_at": now,
                    }
                )
            conn.execute(
                update(_sessions)
                .where(_pair(_sessions, user_id, session_id))
                .values(
                    last_turn=turn,
                    message_count=_sessions.c.message_count + len(rows),
                    updated_at=now,
                    title=func.coalesce(
                        func.nullif(_sessions.c.title, ""), _title_from(first_question)
                    ),
                )
            )
            ids = list(
                conn.execute(
                    _messages.insert().returning(_messages.c.id, sort_by_parameter_order=True),
                    rows,
                ).scalars()
            )
            # Each message follows the one before it, the first the path's end: ids are only
            # known once inserted.
            conn.execute(
                update(_messages)
                .where(_messages.c.id == bindparam("row_id"))
                .values(parent_id=bindparam("parent")),
                [
                    {"row_id": row_id, "parent": parent}
                    for row_id, parent in zip(ids, [parent_id, *ids[:-1]], strict=True)
                ],
            )
            index_messages(
                conn, [(i, user_id, r["content"]) for i, r in zip(ids, rows, strict=True)]
            )

    def clear_session(self, user_id: str, session_id: str) -> None:
        """Delete every message of the session, keeping the session itself."""
        check_id(user_id, "user_id")
        check_id(session_id, "session_id")
        with writing_for(self.engine, user_id) as conn:
            if lock_session(conn, user_id, session_id):
                forget_chats(conn, [(user_id, session_id)])
            conn.execute(delete(_messages).where(_pair(_messages, user_id, session_id)))
            conn.execute(
                update(_sessions)
                .where(_pair(_sessions, user_id, session_id))
                .values(message_count=0, updated_at=utcnow())
            )


def _versions_shown(
    conn, user_id: str, session_id: str, shown: Sequence[StoredMessage]
) -> dict[int, Versions]:
    return versions_of(
        conn, user_id, session_id, [(m.id, m.parent_id, m.turn, m.role) for m in shown]
    )


def position_of(message: StoredMessage) -> MessageCursor:
    """The cursor naming `message`'s place in its conversation."""
    return MessageCursor(message.turn, message.id)


def cursor_of(summary: SessionSummary) -> SessionCursor:
    """The cursor that continues a listing after `summary`."""
    return SessionCursor(summary.updated_at, summary.session_id)
