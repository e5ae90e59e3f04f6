"""Export a user's chats (JSON to re-import, Markdown to read) and import a JSON export.

The JSON format, named by EXPORT_FORMAT, is the whole of what a user owns in the memory core:

    {"format": "isolated-chat/1", "exported_at": "2026-01-01T12:00:00+00:00", "user_id": "...",
     "sessions": [{"session_id", "title", "ability", "created_at", "updated_at",
                   "pinned", "archived", "title_source",
                   "messages": [{"turn", "role", "content", "status", "created_at",
                                 "number", "parent", "selected"}]}]}

`pinned` and `archived` are booleans (never both true); `title_source` says who wrote the title
(question, model or user). A file written before they existed imports as unpinned, listed, with
its titles the user's.

Every version of every message is exported: `number` is a message's place in its chat's list
(from 1), `parent` the number of the message it follows (null for the first), and `selected`
whether it is the version shown among those with its parent, turn and role. The active path is
what those choices give, so it is not written down twice. A file without them (written before
migration 0009) is one branch: each message follows the one before it.

Times are ISO-8601 strings in UTC with microseconds, so an import reproduces them exactly.
Sessions come oldest first, messages in conversation order (turn, then storage order).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

from sqlalchemy import Connection, and_, bindparam, select, update

import settings
from database import utcnow
from database.outages import module_outages_raise
from database.row_security import reading_for, writing_for
from memory.errors import ImportTooLarge, InvalidContent, StoreUnavailable
from memory.export_format import EXPORT_FORMAT, Export, parse_export
from memory.models import ChatMessage, ChatSession
from memory.search import index_messages
from memory.store import (
    ARCHIVED,
    COMPLETE,
    DEFAULT_ABILITY,
    INTERRUPTED,
    LISTED,
    PINNED,
    ChatStore,
    new_session_id,
)
from memory.validation import (
    check_id,
)

# One import file's caps, documented in the README; the operator sets MAX_IMPORT_MB and
# MAX_IMPORT_MESSAGES. A file is refused by size before it is parsed.
DEFAULT_MAX_IMPORT_MB = 20
DEFAULT_MAX_IMPORT_MESSAGES = 50_000
STATUSES = (COMPLETE, INTERRUPTED)
ROLE_NAMES = {"human": "User", "ai": "Assistant", "system": "System"}
# Rows per INSERT / ids per IN list: well under both engines' bound-parameter limits.
_BATCH = 500

_sessions = ChatSession.__table__
_messages = ChatMessage.__table__


@dataclass(frozen=True)
class ImportLimits:
    max_bytes: int
    max_messages: int


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _read_user_content(store: ChatStore, user_id: str) -> list[dict[str, Any]]:
    """All of the user's sessions with their messages, from one statement (so one snapshot on
    either engine: a session and its messages never disagree)."""
    statement = (
        select(
            _sessions.c.session_id,
            _sessions.c.title,
            _sessions.c.ability,
            _sessions.c.created_at,
            _sessions.c.updated_at,
            _sessions.c.shelf,
            _sessions.c.title_source,
            _messages.c.id,
            _messages.c.parent_id,
            _messages.c.selected,
            _messages.c.on_path,
            _messages.c.turn,
            _messages.c.role,
            _messages.c.content,
            _messages.c.status,
            _messages.c.created_at.label("message_created_at"),
        )
        .select_from(
            _sessions.outerjoin(
                _messages,
                and_(
                    _messages.c.user_id == _sessions.c.user_id,
                    _messages.c.session_id == _sessions.c.session_id,
                ),
            )
        )
        .where(_sessions.c.user_id == user_id)
        .order_by(
            _sessions.c.created_at,
            _sessions.c.session_id,
            _messages.c.turn,
            _messages.c.id,
        )
    )
    sessions: list[dict[str, Any]] = []
    numbers: dict[int, int] = {}
    with reading_for(store.engine, user_id) as conn:
        for row in conn.execute(statement):
            if not sessions or sessions[-1]["session_id"] != row.session_id:
                numbers = {}
                sessions.append(
                    {
                        "session_id": row.session_id,
                        "title": row.title,
                        "ability": row.ability,
                        "created_at": _iso(row.created_at),
                        "updated_at": _iso(row.updated_at),
                        "pinned": row.shelf == PINNED,
                        "archived": row.shelf == ARCHIVED,
                        "title_source": row.title_source,
                        "messages": [],
                    }
                )
            if row.turn is not None:  # None: the outer join found a session with no message
                numbers[row.id] = len(numbers) + 1
                sessions[-1]["messages"].append(
                    {
                        "turn": row.turn,
                        "role": row.role,
                        "content": row.content,
                        "status": row.status,
                        "created_at": _iso(row.message_created_at),
                        "number": numbers[row.id],
                        # A parent is always earlier in (turn, id) order, so already numbered.
                        "parent": None if row.parent_id is None else numbers.get(row.parent_id),
                        "selected": bool(row.selected),
                    }
                )
    return sessions


def active_path(messages: list[dict[str, Any]]) -> list[int]:
    """Places (from 0) in an exported chat's `messages` of its active path, in order: from
    the first message down through the selected versions."""
    children: dict[int | None, list[int]] = {}
    for place, message in enumerate(messages):
        children.setdefault(message["parent"], []).append(place)
    path: list[int] = []
    frontier = [p for p in children.get(None, []) if messages[p]["selected"]]
    while frontier:
        place = frontier.pop()
        path.append(place)
        number = messages[place]["number"]
        frontier.extend(p for p in children.get(number, []) if messages[p]["selected"])
    return sorted(path, key=lambda place: (messages[place]["turn"], place))


def _versions_count(messages: list[dict[str, Any]]) -> dict[int, int]:
    """How many versions each message has (itself included), by place."""
    groups: dict[tuple[Any, int, str], int] = {}
    for message in messages:
        key = (message["parent"], message["turn"], message["role"])
        groups[key] = groups.get(key, 0) + 1
    return {place: groups[(m["parent"], m["turn"], m["role"])] for place, m in enumerate(messages)}


def export_user_json(store: ChatStore, *, user_id: str) -> dict[str, Any]:
    """Every session and message of `user_id` (and nothing of anyone else) as a JSON-ready dict."""
    check_id(user_id, "user_id")
    return {
        "format": EXPORT_FORMAT,
        "exported_at": _iso(utcnow()),
        "user_id": user_id,
        "sessions": _read_user_content(store, user_id),
    }


# A title or ability is a label, not markdown: every ASCII punctuation mark is escaped, so a
# markdown viewer shows exactly the characters typed (`**x**`, `:material/x:`, `&lt;`).
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def _literal(text: str) -> str:
    return _PUNCTUATION.sub(r"\\\1", text)


def _when(iso: str) -> str:
    return f"{datetime.fromisoformat(iso):%Y-%m-%d %H:%M:%S} UTC"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def export_user_markdown(store: ChatStore, *, user_id: str) -> str:
    """Every session of `user_id` as readable Markdown: one section per session, each message
    under a heading with its role and time. Content is verbatim: this is a download."""
    data = export_user_json(store, user_id=user_id)
    sessions = data["sessions"]
    message_total = sum(len(active_path(session["messages"])) for session in sessions)
    lines = [
        "# Chats",
        "",
        f"Exported {_when(data['exported_at'])}: {_count(len(sessions), 'chat')}, "
        f"{_count(message_total, 'message')}.",
        "",
    ]
    for session in sessions:
        lines += [
            f"## {_literal(session['title']) if session['title'] else 'Untitled chat'}",
            "",
            f"Chat `{session['session_id']}`, ability: {_literal(session['ability'])}. "
            f"Started {_when(session['created_at'])}, last updated {_when(session['updated_at'])}."
            + (" Pinned." if session["pinned"] else " Archived." if session["archived"] else ""),
            "",
        ]
        messages = session["messages"]
        path = active_path(messages)
        versions = _versions_count(messages)
        hidden = len(messages) - len(path)
        if hidden:
            lines += [
                f"This chat also holds {_count(hidden, 'other version')} of its messages "
                "(edited questions, retried answers and what followed them). Only the "
                "versions shown in the app are below; the JSON export has all of them.",
                "",
            ]
        for place in path:
            message = messages[place]
            role = ROLE_NAMES.get(message["role"], message["role"])
            suffix = " (interrupted)" if message["status"] == INTERRUPTED else ""
            if versions[place] > 1:
                suffix += f" (one of {versions[place]} versions)"
            lines += [f"### {role}, {_when(message['created_at'])}{suffix}", ""]
            lines += [message["content"], ""]
    return "\n".join(lines)


# Import -------------------------------------------------------------------------------------


def _sessions_of(export: Export) -> list[dict[str, Any]]:
    """The export's sessions as rows to insert, each with its messages and the places of its
    active path. A file of one branch (no numbers) is put in turn order (stable: messages of
    one turn keep their order in the file, which is the stored order) and each message made to
    follow the one before it."""
    sessions = []
    for session in export.sessions:
        messages = [message.model_dump() for message in session.messages]
        if messages and messages[0]["number"] is None:
            messages.sort(key=lambda message: message["turn"])
            for place, message in enumerate(messages, start=1):
                message.update(number=place, parent=place - 1 or None, selected=True)
        sessions.append(
            {
                **session.model_dump(exclude={"messages"}),
                "ability": session.ability or DEFAULT_ABILITY,
                "messages": messages,
                "path": set(active_path(messages)),
            }
        )
    return sessions


def _taken_session_ids(conn: Connection, user_id: str, wanted: Iterable[str]) -> set[str]:
    wanted = list(dict.fromkeys(wanted))
    taken: set[str] = set()
    for start in range(0, len(wanted), _BATCH):
        taken.update(
            conn.scalars(
                select(_sessions.c.session_id).where(
                    _sessions.c.user_id == user_id,
                    _sessions.c.session_id.in_(wanted[start : start + _BATCH]),
                )
            )
        )
    return taken


def _insert_in_batches(conn: Connection, table, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), _BATCH):
        conn.execute(table.insert(), rows[start : start + _BATCH])


def import_limits() -> ImportLimits:
    """The operator's caps on one import file (MAX_IMPORT_MB, MAX_IMPORT_MESSAGES)."""
    return ImportLimits(
        max_bytes=settings.get_int("MAX_IMPORT_MB", DEFAULT_MAX_IMPORT_MB) * 1024 * 1024,
        max_messages=settings.get_int("MAX_IMPORT_MESSAGES", DEFAULT_MAX_IMPORT_MESSAGES),
    )


def read_export_file(stream: BinaryIO, *, max_bytes: int | None = None) -> Any:
    """Parse an uploaded export file. A file larger than `max_bytes` (default: the operator's
    MAX_IMPORT_MB) is refused after reading one byte past the cap and before any parsing."""
    limit = import_limits().max_bytes if max_bytes is None else max_bytes
    raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise ImportTooLarge(
            f"the file is larger than {_size(limit)}, the most one import may be. Split it, "
            "or ask your administrator."
        )
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidContent("the file is not UTF-8 text, so it is not an export") from None
    except json.JSONDecodeError as error:
        raise InvalidContent(f"the file is not valid JSON ({error})") from None
    except RecursionError:
        raise InvalidContent("the file is nested too deeply to be an export") from None


def check_import_size(
    data: Any, *, max_messages_per_chat: int, max_messages: int | None = None
) -> None:
    """Refuse an export holding more messages than one import may, or a chat longer than one
    chat may be, from the lengths of its lists alone."""
    limit = import_limits().max_messages if max_messages is None else max_messages
    sessions = data.get("sessions") if isinstance(data, dict) else None
    if not isinstance(sessions, list):
        return  # not an export at all: parse_export says what is wrong with it
    total = 0
    for index, session in enumerate(sessions):
        messages = session.get("messages") if isinstance(session, dict) else None
        count = len(messages) if isinstance(messages, list) else 0
        if count > max_messages_per_chat:
            raise ImportTooLarge(
                f"chat {index + 1} of the file holds {count:,} messages; one chat may hold at "
                f"most {max_messages_per_chat:,}"
            )
        total += count
        if total > limit:
            raise ImportTooLarge(
                f"the file holds more than {limit:,} messages, the most one import may hold"
            )


def _size(byte_count: int) -> str:
    return f"{byte_count / (1024 * 1024):,.0f} MB"


def import_user_json(store: ChatStore, *, user_id: str, data: dict[str, Any]) -> int:
    """Store the sessions of an `export_user_json` dict under `user_id`, exactly as exported;
    all or nothing. A session id the user already has gets a new id. Returns sessions imported."""
    check_id(user_id, "user_id")
    # Counted on the raw structure, before a single message is checked or copied.
    check_import_size(data, max_messages_per_chat=store.max_messages_per_chat)
    # Everything is checked before the write transaction starts: a bad file never holds a lock.
    sessions = _sessions_of(parse_export(data))
    if not sessions:
        return 0
    session_rows: list[dict[str, Any]] = []
    message_rows: list[dict[str, Any]] = []
    with writing_for(store.engine, user_id) as conn:
        taken = _taken_session_ids(conn, user_id, (s["session_id"] for s in sessions))
        for session in sessions:
            session_id = session["session_id"]
            # Never merge into an existing conversation (nor two of the file's into one).
            while session_id in taken:
                session_id = new_session_id()
            taken.add(session_id)
            messages, path = session["messages"], session["path"]
            session_rows.append(
                {
                    "user_id": user_id,
                    "session_id": session_id,
                    "title": session["title"],
                    "ability": session["ability"],
                    "created_at": session["created_at"],
                    "updated_at": session["updated_at"],
                    "shelf": PINNED
                    if session["pinned"]
                    else ARCHIVED
                    if session["archived"]
                    else LISTED,
                    "title_source": session["title_source"],
                    "message_count": len(messages),
                    # The turn the active path ends at: the next question follows it.
                    "last_turn": max((messages[p]["turn"] for p in path), default=0),
                }
            )
            message_rows += [
                {
                    "user_id": user_id,
                    "session_id": session_id,
                    **{key: message[key] for key in _MESSAGE_FIELDS},
                    "on_path": place in path,
                    # Resolved to a row id once the parent is inserted (below).
                    "parent_number": message["parent"],
                    "chat": len(session_rows),
                    "number": message["number"],
                }
                for place, message in enumerate(messages)
            ]
        _insert_in_batches(conn, _sessions, session_rows)
        _insert_messages(conn, user_id, message_rows)
    return len(session_rows)


_MESSAGE_FIELDS = ("turn", "role", "content", "status", "created_at", "selected")


def _insert_messages(conn: Connection, user_id: str, rows: list[dict[str, Any]]) -> None:
    """Insert the messages, each batch indexed for search in this same transaction, then point
    each at its parent's new row id. Parents come first in the file, so each is inserted (and
    its id known) by the time its children are."""
    row_ids: dict[tuple[int, int], int] = {}
    parents: list[dict[str, int]] = []
    columns = (*_MESSAGE_FIELDS, "user_id", "session_id", "on_path")
    for start in range(0, len(rows), _BATCH):
        batch = rows[start : start + _BATCH]
        ids = list(
            conn.execute(
                _messages.insert().returning(_messages.c.id, sort_by_parameter_order=True),
                [{key: row[key] for key in columns} for row in batch],
            ).scalars()
        )
        for row_id, row in zip(ids, batch, strict=True):
            row_ids[(row["chat"], row["number"])] = row_id
            if row["parent_number"] is not None:
                parent = row_ids[(row["chat"], row["parent_number"])]
                parents.append({"row_id": row_id, "parent": parent})
        index_messages(
            conn, [(i, user_id, row["content"]) for i, row in zip(ids, batch, strict=True)]
        )
    for start in range(0, len(parents), _BATCH):
        conn.execute(
            update(_messages)
            .where(_messages.c.id == bindparam("row_id"))
            .values(parent_id=bindparam("parent")),
            parents[start : start + _BATCH],
        )


# Every public function here reports an unreachable database as StoreUnavailable.
module_outages_raise(globals(), StoreUnavailable)


__all__ = [
    "EXPORT_FORMAT",
    "ImportLimits",
    "active_path",
    "check_import_size",
    "export_user_json",
    "export_user_markdown",
    "import_limits",
    "import_user_json",
    "read_export_file",
]
