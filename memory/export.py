"""Export a user's chats (JSON to re-import, Markdown to read) and import a JSON export.

The JSON format, named by EXPORT_FORMAT, is the whole of what a user owns in the memory core:

    {"format": "isolated-chat/1", "exported_at": "2026-01-01T12:00:00+00:00", "user_id": "...",
     "sessions": [{"session_id", "title", "ability", "created_at", "updated_at",
                   "messages": [{"turn", "role", "content", "status", "created_at"}]}]}

Times are ISO-8601 strings in UTC with microseconds, so an import reproduces them exactly.
Sessions come oldest first, messages in conversation order (turn, then storage order).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, select

from database import utcnow, write_transaction
from memory.errors import InvalidContent, InvalidId
from memory.models import ChatMessage, ChatSession
from memory.store import COMPLETE, DEFAULT_ABILITY, INTERRUPTED, ROLES, ChatStore, new_session_id
from memory.validation import (
    MAX_ABILITY_CHARS,
    MAX_TITLE_CHARS,
    check_content,
    check_id,
    check_label,
)

EXPORT_FORMAT = "isolated-chat/1"
STATUSES = (COMPLETE, INTERRUPTED)
ROLE_NAMES = {"human": "User", "ai": "Assistant", "system": "System"}
# Rows per INSERT / ids per IN list: well under both engines' bound-parameter limits.
_BATCH = 500

_sessions = ChatSession.__table__
_messages = ChatMessage.__table__


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
    with store.engine.connect() as conn:
        for row in conn.execute(statement):
            if not sessions or sessions[-1]["session_id"] != row.session_id:
                sessions.append(
                    {
                        "session_id": row.session_id,
                        "title": row.title,
                        "ability": row.ability,
                        "created_at": _iso(row.created_at),
                        "updated_at": _iso(row.updated_at),
                        "messages": [],
                    }
                )
            if row.turn is not None:  # None: the outer join found a session with no message
                sessions[-1]["messages"].append(
                    {
                        "turn": row.turn,
                        "role": row.role,
                        "content": row.content,
                        "status": row.status,
                        "created_at": _iso(row.message_created_at),
                    }
                )
    return sessions


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
    message_total = sum(len(session["messages"]) for session in sessions)
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
            f"Started {_when(session['created_at'])}, last updated {_when(session['updated_at'])}.",
            "",
        ]
        for message in session["messages"]:
            role = ROLE_NAMES.get(message["role"], message["role"])
            suffix = " (interrupted)" if message["status"] == INTERRUPTED else ""
            lines += [f"### {role}, {_when(message['created_at'])}{suffix}", ""]
            lines += [message["content"], ""]
    return "\n".join(lines)


# Import -------------------------------------------------------------------------------------


def _field(record: dict[str, Any], key: str, where: str) -> Any:
    if key not in record:
        raise InvalidContent(f"{where}: the field {key!r} is missing")
    return record[key]


def _time(value: object, where: str) -> datetime:
    if not isinstance(value, str):
        raise InvalidContent(f"{where}: expected an ISO-8601 time string, got {value!r}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidContent(f"{where}: {value!r} is not an ISO-8601 time") from None
    if moment.tzinfo is None:
        raise InvalidContent(f"{where}: {value!r} has no time zone (exports are in UTC)")
    return moment.astimezone(UTC)


def _record(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidContent(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidContent(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _checked(check, where: str, *args: Any) -> Any:
    # Re-raise the store's own checks with the place in the file, so the message says where.
    try:
        return check(*args)
    except (InvalidContent, InvalidId) as error:
        raise InvalidContent(f"{where}: {error}") from None


def _parse_message(value: object, where: str) -> dict[str, Any]:
    record = _record(value, where)
    turn = _field(record, "turn", where)
    if isinstance(turn, bool) or not isinstance(turn, int) or turn < 0:
        raise InvalidContent(f"{where}.turn: expected a whole number >= 0, got {turn!r}")
    role = _field(record, "role", where)
    if role not in ROLES:
        raise InvalidContent(f"{where}.role: {role!r} is not one of {', '.join(ROLES)}")
    status = _field(record, "status", where)
    if status not in STATUSES:
        raise InvalidContent(f"{where}.status: {status!r} is not one of {', '.join(STATUSES)}")
    return {
        "turn": turn,
        "role": role,
        "content": _checked(check_content, f"{where}.content", _field(record, "content", where)),
        "status": status,
        "created_at": _time(_field(record, "created_at", where), f"{where}.created_at"),
    }


def _parse_session(value: object, where: str) -> dict[str, Any]:
    record = _record(value, where)
    messages = [
        _parse_message(message, f"{where}.messages[{index}]")
        for index, message in enumerate(
            _list(_field(record, "messages", where), f"{where}.messages")
        )
    ]
    # Stable: messages of one turn keep their order in the file, which is the stored order.
    messages.sort(key=lambda message: message["turn"])
    ability = _checked(
        check_label,
        f"{where}.ability",
        _field(record, "ability", where),
        "ability",
        MAX_ABILITY_CHARS,
    )
    return {
        "session_id": _checked(
            check_id, f"{where}.session_id", _field(record, "session_id", where), "session_id"
        ),
        "title": _checked(
            check_label, f"{where}.title", _field(record, "title", where), "title", MAX_TITLE_CHARS
        ),
        "ability": ability or DEFAULT_ABILITY,
        "created_at": _time(_field(record, "created_at", where), f"{where}.created_at"),
        "updated_at": _time(_field(record, "updated_at", where), f"{where}.updated_at"),
        "messages": messages,
    }


def _parse_export(data: object) -> list[dict[str, Any]]:
    record = _record(data, "the export")
    if record.get("format") != EXPORT_FORMAT:
        raise InvalidContent(
            f"not an {EXPORT_FORMAT} export: its format is {record.get('format')!r}"
        )
    return [
        _parse_session(session, f"sessions[{index}]")
        for index, session in enumerate(_list(_field(record, "sessions", "the export"), "sessions"))
    ]


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


def import_user_json(store: ChatStore, *, user_id: str, data: dict[str, Any]) -> int:
    """Store the sessions of an `export_user_json` dict under `user_id`, exactly as exported;
    all or nothing. A session id the user already has gets a new id. Returns sessions imported."""
    check_id(user_id, "user_id")
    # Everything is checked before the write transaction starts: a bad file never holds a lock.
    sessions = _parse_export(data)
    if not sessions:
        return 0
    session_rows: list[dict[str, Any]] = []
    message_rows: list[dict[str, Any]] = []
    with write_transaction(store.engine) as conn:
        taken = _taken_session_ids(conn, user_id, (s["session_id"] for s in sessions))
        for session in sessions:
            session_id = session["session_id"]
            # Never merge into an existing conversation (nor two of the file's into one).
            while session_id in taken:
                session_id = new_session_id()
            taken.add(session_id)
            messages = session["messages"]
            session_rows.append(
                {
                    "user_id": user_id,
                    "session_id": session_id,
                    "title": session["title"],
                    "ability": session["ability"],
                    "created_at": session["created_at"],
                    "updated_at": session["updated_at"],
                    "message_count": len(messages),
                    "last_turn": max((message["turn"] for message in messages), default=0),
                }
            )
            message_rows += [
                {"user_id": user_id, "session_id": session_id, **message} for message in messages
            ]
        _insert_in_batches(conn, _sessions, session_rows)
        _insert_in_batches(conn, _messages, message_rows)
    return len(session_rows)


__all__ = [
    "EXPORT_FORMAT",
    "export_user_json",
    "export_user_markdown",
    "import_user_json",
]
