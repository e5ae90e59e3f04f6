"""The audit log: an append-only record of admin access to chats and of admin actions.

A row is one event: when, which account acted (actor_id, None for the system or the user
themself), what (one of ACTIONS), whose data (subject_user_id), which chat (session_id), the
admin's reason and a short detail. It holds ids, times, counts and the admin's own words, never
message content. Rows are only ever inserted: this module has no update or delete, and
migration 0002 makes the database refuse UPDATE and DELETE on the table. `list_events` returns
newest first, by id, which increases with every record."""

from __future__ import annotations

import csv
import hashlib
import io
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, Engine, Row, select

from audit.models import AuditEvent
from database import utcnow, write_transaction
from database.outages import DatabaseUnavailable, module_outages_raise

HISTORY_VIEWED = "history_viewed"
USER_DISABLED = "user_disabled"
USER_ENABLED = "user_enabled"
USER_UNLOCKED = "user_unlocked"
ROLE_CHANGED = "role_changed"
SIGNUP_TOGGLED = "signup_toggled"
RETENTION_CHANGED = "retention_changed"
RETENTION_PURGED = "retention_purged"
ACCOUNT_ERASED = "account_erased"
USER_CREATED = "user_created"
PASSWORD_RESET = "password_reset"
QUOTA_CHANGED = "quota_changed"
SIGN_IN_METHODS_CHANGED = "sign_in_methods_changed"
ACTIONS: tuple[str, ...] = (
    HISTORY_VIEWED,
    USER_DISABLED,
    USER_ENABLED,
    USER_UNLOCKED,
    ROLE_CHANGED,
    SIGNUP_TOGGLED,
    RETENTION_CHANGED,
    RETENTION_PURGED,
    ACCOUNT_ERASED,
    USER_CREATED,
    PASSWORD_RESET,
    QUOTA_CHANGED,
    SIGN_IN_METHODS_CHANGED,
)

MAX_ID_CHARS = 32
MAX_SESSION_ID_CHARS = 255
MAX_REASON_CHARS = 1000
MAX_DETAIL_CHARS = 2000
MAX_LIST = 10_000
CSV_COLUMNS = (
    "id",
    "at",
    "actor_id",
    "action",
    "subject_user_id",
    "session_id",
    "reason",
    "detail",
)
# A reason must say something a person can read: this many letters or digits, counted after
# NFKC normalisation, with format characters and fillers (Default_Ignorable_Code_Point) left out.
MIN_REASON_VISIBLE = 3
# Default_Ignorable_Code_Point, from Unicode's DerivedCoreProperties.txt (unicodedata lacks it).
# It holds the zero-width characters and the Hangul fillers, which are letters (Lo) to Python.
_IGNORABLE = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection); a leading
# quote makes it text. Tab and carriage return are on OWASP's list too.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

_log = AuditEvent.__table__


class AuditError(ValueError):
    """An event the audit log refuses: unknown action, missing reason, a value too long."""


class AuditUnavailable(AuditError, DatabaseUnavailable):
    """The audit log's database cannot be reached now; nothing was recorded."""


@dataclass(frozen=True)
class AuditEntry:
    """One recorded event."""

    id: int
    at: datetime
    actor_id: str | None
    action: str
    subject_user_id: str | None
    session_id: str | None
    reason: str
    detail: str


def _check_text(value: object, name: str, limit: int, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise AuditError(f"{name} must be text, got {type(value).__name__}")
    if len(value) > limit:
        raise AuditError(f"{name} is {len(value):,} characters long; the limit is {limit:,}")
    # PostgreSQL text cannot hold NUL; refusing it everywhere keeps both engines identical.
    if "\x00" in value:
        raise AuditError(f"{name} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise AuditError(f"{name} contains invalid unicode") from None
    return value


def _ignorable(char: str) -> bool:
    point = ord(char)
    return any(low <= point <= high for low, high in _IGNORABLE)


def visible_letters(text: str) -> int:
    """How many letters and digits of `text` a reader can see."""
    return sum(
        1
        for char in unicodedata.normalize("NFKC", text)
        if unicodedata.category(char)[0] in "LN" and not _ignorable(char)
    )


def check_reason(reason: str) -> str:
    """`reason` as typed, if it holds enough visible letters or digits to be a reason."""
    if visible_letters(reason) < MIN_REASON_VISIBLE:
        raise AuditError(
            f"give a reason for opening this history, in at least {MIN_REASON_VISIBLE} letters "
            "or digits: it is recorded and shown to the user"
        )
    return reason


def show_invisible(text: str) -> str:
    """`text` with every character a reader could not see written as ⟨U+XXXX⟩ (format,
    control and filler characters, spaces other than the plain one), so that a reason shows
    exactly what was typed."""
    return "".join(
        f"⟨U+{ord(char):04X}⟩"
        if _ignorable(char)
        or unicodedata.category(char) in ("Cc", "Cf", "Co", "Cn", "Zl", "Zp")
        or (unicodedata.category(char) == "Zs" and char != " ")
        else char
        for char in text
    )


def chat_handle(user_id: str, session_id: str) -> str:
    """An opaque, stable name for one user's chat: it identifies the chat to an admin without
    showing its id, which an import may have filled with words of the user's."""
    digest = hashlib.sha256(f"{user_id}\x00{session_id}".encode()).hexdigest()
    return f"chat-{digest[:10]}"


def record(
    engine: Engine,
    *,
    action: str,
    actor_id: str | None = None,
    subject_user_id: str | None = None,
    session_id: str | None = None,
    reason: str = "",
    detail: str = "",
    now: datetime | None = None,
) -> AuditEntry:
    """Append one event and return it. Opening someone's history (HISTORY_VIEWED) needs a reason."""
    if action not in ACTIONS:
        raise AuditError(f"unknown audit action {action!r}")
    actor_id = _check_text(actor_id, "actor id", MAX_ID_CHARS, optional=True)
    subject_user_id = _check_text(subject_user_id, "subject user id", MAX_ID_CHARS, optional=True)
    session_id = _check_text(session_id, "session id", MAX_SESSION_ID_CHARS, optional=True)
    # Stored exactly as typed: what the admin wrote is the record.
    reason = _check_text(reason, "reason", MAX_REASON_CHARS) or ""
    detail = _check_text(detail, "detail", MAX_DETAIL_CHARS) or ""
    if action == HISTORY_VIEWED:
        check_reason(reason)
    at = now or utcnow()
    values = {
        "at": at,
        "actor_id": actor_id,
        "action": action,
        "subject_user_id": subject_user_id,
        "session_id": session_id,
        "reason": reason,
        "detail": detail,
    }
    with write_transaction(engine) as conn:
        result = conn.execute(_log.insert().values(**values))
        (event_id,) = result.inserted_primary_key
    return AuditEntry(id=int(event_id), **values)


def append_events(
    conn: Connection,
    *,
    action: str,
    actor_id: str | None,
    events: Sequence[tuple[str, str]],
    now: datetime | None = None,
) -> int:
    """Within `conn`'s transaction, append one `action` event per (subject user id, detail) of
    `events`: an operation on many accounts at once, recorded with it or not at all. Returns
    how many."""
    if action not in ACTIONS or action == HISTORY_VIEWED:
        raise AuditError(f"audit action {action!r} cannot be recorded in bulk")
    actor_id = _check_text(actor_id, "actor id", MAX_ID_CHARS, optional=True)
    at = now or utcnow()
    rows = [
        {
            "at": at,
            "actor_id": actor_id,
            "action": action,
            "subject_user_id": _check_text(subject, "subject user id", MAX_ID_CHARS),
            "session_id": None,
            "reason": "",
            "detail": _check_text(detail, "detail", MAX_DETAIL_CHARS) or "",
        }
        for subject, detail in events
    ]
    if rows:
        conn.execute(_log.insert(), rows)
    return len(rows)


def record_purge(
    engine: Engine,
    *,
    sessions: int,
    messages: int,
    actor_id: str | None = None,
    via: str = "",
) -> AuditEntry:
    """Record a retention purge by its counts (never its content); `via` names the CLI."""
    counts = f"sessions={sessions} messages={messages}"
    return record(
        engine,
        action=RETENTION_PURGED,
        actor_id=actor_id,
        detail=f"{via}: {counts}" if via else counts,
    )


def _filters(
    *,
    action: str | None,
    actor_id: str | None,
    subject_user_id: str | None,
    since: datetime | None,
    until: datetime | None,
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if action is not None:
        if action not in ACTIONS:
            raise AuditError(f"unknown audit action {action!r}")
        conditions.append(_log.c.action == action)
    if actor_id is not None:
        conditions.append(_log.c.actor_id == _check_text(actor_id, "actor id", MAX_ID_CHARS))
    if subject_user_id is not None:
        subject = _check_text(subject_user_id, "subject user id", MAX_ID_CHARS)
        conditions.append(_log.c.subject_user_id == subject)
    for bound in (since, until):
        if bound is not None and bound.tzinfo is None:
            raise AuditError("since and until must be timezone-aware (UTC) times")
    if since is not None:
        conditions.append(_log.c.at >= since)
    if until is not None:
        conditions.append(_log.c.at <= until)
    return conditions


def _entry(row: Row) -> AuditEntry:
    return AuditEntry(
        id=int(row.id),
        at=row.at,
        actor_id=row.actor_id,
        action=row.action,
        subject_user_id=row.subject_user_id,
        session_id=row.session_id,
        reason=row.reason,
        detail=row.detail,
    )


def list_events(
    engine: Engine,
    *,
    action: str | None = None,
    actor_id: str | None = None,
    subject_user_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 500,
    before_id: int | None = None,
) -> list[AuditEntry]:
    """Events matching every filter given (since/until inclusive), newest first, at most
    `limit`; pass the last id seen as `before_id` for the next page."""
    if not 1 <= limit <= MAX_LIST:
        raise AuditError(f"limit must be between 1 and {MAX_LIST:,}")
    conditions = _filters(
        action=action,
        actor_id=actor_id,
        subject_user_id=subject_user_id,
        since=since,
        until=until,
    )
    if before_id is not None:
        conditions.append(_log.c.id < before_id)
    query = select(_log).where(*conditions).order_by(_log.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        return [_entry(row) for row in conn.execute(query)]


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: formula-like starts get a leading quote."""
    text = "" if value is None else value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _csv(rows: Iterable[AuditEntry]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for entry in rows:
        writer.writerow([safe_cell(getattr(entry, column)) for column in CSV_COLUMNS])
    return buffer.getvalue()


def events_csv(
    engine: Engine,
    *,
    action: str | None = None,
    actor_id: str | None = None,
    subject_user_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> str:
    """Every event matching the filters as CSV text, newest first, with a header row."""
    filters = {
        "action": action,
        "actor_id": actor_id,
        "subject_user_id": subject_user_id,
        "since": since,
        "until": until,
    }
    entries: list[AuditEntry] = []
    # Page by id so that one export never holds a huge result set open on the database.
    while page := list_events(
        engine, **filters, limit=MAX_LIST, before_id=entries[-1].id if entries else None
    ):
        entries.extend(page)
        if len(page) < MAX_LIST:
            break
    return _csv(entries)


# Every public function here reports an unreachable database as AuditUnavailable.
module_outages_raise(globals(), AuditUnavailable)
