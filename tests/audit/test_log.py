"""audit/log.py: recording, listing, filtering and exporting events, and a log that the
database itself keeps append-only."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, delete, func, select, text, update
from sqlalchemy.exc import DatabaseError

import audit
from audit import AuditEntry, AuditError
from audit.models import AuditEvent
from database import get_engine, is_sqlite, migrate
from database.engine import dispose_engine
from tests.support.databases import whole_database

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
ADMIN = "a" * 32
OWNER = "b" * 32
OTHER = "c" * 32


def test_a_recorded_event_is_returned_and_listed(engine: Engine) -> None:
    entry = audit.record(
        engine,
        action=audit.HISTORY_VIEWED,
        actor_id=ADMIN,
        subject_user_id=OWNER,
        session_id="session-1",
        reason="  user asked for help  ",
        now=T0,
    )
    # Stored exactly as typed: the record is the admin's own words.
    assert entry == AuditEntry(
        id=entry.id,
        at=T0,
        actor_id=ADMIN,
        action=audit.HISTORY_VIEWED,
        subject_user_id=OWNER,
        session_id="session-1",
        reason="  user asked for help  ",
        detail="",
    )
    assert audit.list_events(engine) == [entry]


# Reasons a reader cannot see, or that hold fewer than three letters or digits.
INVISIBLE_REASONS = [
    "",
    "   ",
    "\u200b",  # zero-width space
    "\u3164\u3164",  # Hangul filler: a letter (Lo) to Python, blank on screen
    "\u115f\u1160\uffa0",  # Hangul choseong/jungseong fillers, halfwidth filler
    "\u200c\u200d\u2060\ufeff",  # zero-width non-joiner, joiner, word joiner, BOM
    "\u00ad\u034f\u180e",  # soft hyphen, grapheme joiner, Mongolian vowel separator
    "\u2800\u2800\u2800",  # braille blank
    "\u3000\u00a0\u2003",  # ideographic, no-break and em spaces
    "\ufe0f\U000e0041\U000e0042",  # a variation selector, tag characters
    "\u202e\u202d",  # bidi overrides
    "ok",  # visible, but too short to say why
    "..!",
    "\u0301\u0301\u0301",  # combining marks alone
]


@pytest.mark.parametrize("reason", INVISIBLE_REASONS)
def test_opening_a_history_needs_a_reason(engine: Engine, reason: str) -> None:
    with pytest.raises(AuditError, match="reason"):
        audit.record(
            engine,
            action=audit.HISTORY_VIEWED,
            actor_id=ADMIN,
            subject_user_id=OWNER,
            reason=reason,
        )
    assert audit.list_events(engine) == []


def test_other_actions_need_no_reason(engine: Engine) -> None:
    for action in audit.ACTIONS:
        if action != audit.HISTORY_VIEWED:
            audit.record(engine, action=action, actor_id=ADMIN, detail="x")
    assert len(audit.list_events(engine)) == len(audit.ACTIONS) - 1


def test_an_unknown_action_is_refused(engine: Engine) -> None:
    with pytest.raises(AuditError, match="unknown"):
        audit.record(engine, action="message_read")
    with pytest.raises(AuditError, match="unknown"):
        audit.list_events(engine, action="message_read")


def test_a_time_filter_without_a_timezone_is_refused(engine: Engine) -> None:
    with pytest.raises(AuditError, match="timezone"):
        audit.list_events(engine, since=datetime(2030, 1, 1))


@pytest.mark.parametrize(
    "field", [{"reason": "x" * 1001}, {"detail": "a\x00b"}, {"actor_id": "x" * 33}]
)
def test_values_the_log_cannot_hold_are_refused(engine: Engine, field: dict) -> None:
    with pytest.raises(AuditError):
        audit.record(engine, action=audit.USER_DISABLED, **field)


def test_the_actions_are_distinct_strings(engine: Engine) -> None:
    assert len(set(audit.ACTIONS)) == len(audit.ACTIONS) == 13
    assert all(isinstance(action, str) for action in audit.ACTIONS)


def _history(engine: Engine) -> list[AuditEntry]:
    return [
        audit.record(
            engine, action=audit.USER_DISABLED, actor_id=ADMIN, subject_user_id=OWNER, now=T0
        ),
        audit.record(
            engine,
            action=audit.HISTORY_VIEWED,
            actor_id=ADMIN,
            subject_user_id=OWNER,
            session_id="s1",
            reason="support ticket 42",
            now=T0 + timedelta(hours=1),
        ),
        audit.record(
            engine,
            action=audit.HISTORY_VIEWED,
            actor_id=OTHER,
            subject_user_id=ADMIN,
            session_id="s2",
            reason="abuse report",
            now=T0 + timedelta(hours=2),
        ),
        audit.record(
            engine, action=audit.SIGNUP_TOGGLED, actor_id=ADMIN, now=T0 + timedelta(hours=3)
        ),
    ]


def test_events_are_listed_newest_first(engine: Engine) -> None:
    events = _history(engine)
    assert audit.list_events(engine) == events[::-1]


def test_events_filter_by_action_actor_subject_and_time(engine: Engine) -> None:
    first, viewed, other_view, toggled = _history(engine)
    assert audit.list_events(engine, action=audit.HISTORY_VIEWED) == [other_view, viewed]
    assert audit.list_events(engine, actor_id=OTHER) == [other_view]
    assert audit.list_events(engine, subject_user_id=OWNER) == [viewed, first]
    assert audit.list_events(engine, subject_user_id=OWNER, action=audit.HISTORY_VIEWED) == [viewed]
    hour = timedelta(hours=1)
    # since and until are inclusive.
    assert audit.list_events(engine, since=T0 + hour, until=T0 + 2 * hour) == [other_view, viewed]
    assert audit.list_events(engine, since=T0 + 3 * hour) == [toggled]
    assert audit.list_events(engine, until=T0 - hour) == []


def test_events_page_with_limit_and_before_id(engine: Engine) -> None:
    events = _history(engine)[::-1]
    first_page = audit.list_events(engine, limit=3)
    assert first_page == events[:3]
    assert audit.list_events(engine, limit=3, before_id=first_page[-1].id) == events[3:]
    with pytest.raises(AuditError):
        audit.list_events(engine, limit=0)


def test_events_csv_has_a_header_and_one_row_per_event_newest_first(engine: Engine) -> None:
    events = _history(engine)
    rows = list(csv.reader(io.StringIO(audit.events_csv(engine))))
    assert rows[0] == [
        "id",
        "at",
        "actor_id",
        "action",
        "subject_user_id",
        "session_id",
        "reason",
        "detail",
    ]
    assert [int(row[0]) for row in rows[1:]] == [event.id for event in events[::-1]]
    viewed = rows[3]
    assert viewed[3:] == [audit.HISTORY_VIEWED, OWNER, "s1", "support ticket 42", ""]
    assert datetime.fromisoformat(viewed[1]) == T0 + timedelta(hours=1)


@pytest.mark.parametrize("page_size", [2, 3, 4])
def test_events_csv_holds_every_event_however_many_pages_it_reads(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, page_size: int
) -> None:
    events = _history(engine)
    monkeypatch.setattr(audit.log, "MAX_LIST", page_size)
    rows = list(csv.reader(io.StringIO(audit.events_csv(engine))))
    assert [int(row[0]) for row in rows[1:]] == [event.id for event in events[::-1]]


def test_events_csv_applies_the_filters(engine: Engine) -> None:
    _history(engine)
    rows = list(csv.reader(io.StringIO(audit.events_csv(engine, action=audit.HISTORY_VIEWED))))
    assert len(rows) == 3
    assert {row[3] for row in rows[1:]} == {audit.HISTORY_VIEWED}


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_events_csv_cannot_smuggle_a_spreadsheet_formula(engine: Engine, start: str) -> None:
    payload = f'{start}HYPERLINK("http://evil")'
    audit.record(
        engine,
        action=audit.HISTORY_VIEWED,
        actor_id=ADMIN,
        subject_user_id=OWNER,
        session_id=payload,
        reason=f"x {payload}",
        detail=payload,
    )
    row = list(csv.reader(io.StringIO(audit.events_csv(engine))))[1]
    assert row[5] == row[7] == "'" + payload
    assert row[6] == f"x {payload}"  # not at the start of the cell: harmless, kept as is


def test_the_module_offers_no_way_to_change_or_remove_events() -> None:
    public = set(audit.__all__)
    assert not {name for name in public if name.startswith(("update", "delete", "remove", "edit"))}


def test_the_database_refuses_an_update_of_the_audit_log(engine: Engine) -> None:
    entry = audit.record(engine, action=audit.USER_DISABLED, actor_id=ADMIN, now=T0)
    # The app's own role may not even try (PostgreSQL: no UPDATE grant); the owner, which
    # may, is refused by migration 0002's trigger.
    refused = "append-only" if is_sqlite(engine) else "permission denied"
    with pytest.raises(DatabaseError, match=refused), engine.begin() as conn:
        conn.execute(update(AuditEvent).values(reason="edited"))
    owner = whole_database(engine)
    with pytest.raises(DatabaseError, match="append-only"), owner.begin() as conn:
        conn.execute(update(AuditEvent).values(reason="edited"))
    with pytest.raises(DatabaseError, match="append-only"), owner.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor_id = NULL"))
    assert audit.list_events(engine) == [entry]


def test_the_database_refuses_a_delete_from_the_audit_log(engine: Engine) -> None:
    entry = audit.record(engine, action=audit.USER_DISABLED, actor_id=ADMIN, now=T0)
    refused = "append-only" if is_sqlite(engine) else "permission denied"
    with pytest.raises(DatabaseError, match=refused), engine.begin() as conn:
        conn.execute(delete(AuditEvent).where(AuditEvent.id == entry.id))
    owner = whole_database(engine)
    with pytest.raises(DatabaseError, match="append-only"), owner.begin() as conn:
        conn.execute(delete(AuditEvent).where(AuditEvent.id == entry.id))
    with pytest.raises(DatabaseError, match="append-only"), owner.begin() as conn:
        conn.execute(text("DELETE FROM audit_log"))
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(AuditEvent)) == 1


def test_postgresql_refuses_a_truncate_of_the_audit_log(postgres_url: str) -> None:
    # TRUNCATE bypasses row triggers, so migration 0002 adds a statement trigger for it.
    # (SQLite has no TRUNCATE; its DELETE is refused by the test above.)
    engine = get_engine(postgres_url)
    try:
        migrate(engine)
        audit.record(engine, action=audit.USER_DISABLED, actor_id=ADMIN, now=T0)
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(text("TRUNCATE audit_log"))
        assert len(audit.list_events(engine)) == 1
    finally:
        dispose_engine(postgres_url)


@pytest.mark.parametrize(
    "reason", ["bob asked", "ticket 42", "患者の依頼", "حسب الطلب", "\u200bsupport\u200b call"]
)
def test_a_reason_of_visible_letters_in_any_script_is_accepted_as_typed(
    engine: Engine, reason: str
) -> None:
    entry = audit.record(
        engine,
        action=audit.HISTORY_VIEWED,
        actor_id=ADMIN,
        subject_user_id=OWNER,
        session_id="s",
        reason=reason,
    )
    assert entry.reason == reason
    assert audit.list_events(engine)[0].reason == reason


def test_invisible_characters_of_a_reason_are_shown_by_their_code_points() -> None:
    assert audit.show_invisible("\u200bsupport\u3164call\u00a0") == (
        "⟨U+200B⟩support⟨U+3164⟩call⟨U+00A0⟩"
    )
    assert audit.show_invisible("plain words stay") == "plain words stay"


def test_a_chat_handle_is_stable_opaque_and_differs_per_owner() -> None:
    handle = audit.chat_handle("bob", "my diagnosis")
    assert handle == audit.chat_handle("bob", "my diagnosis")
    assert handle != audit.chat_handle("cleo", "my diagnosis")
    assert "diagnosis" not in handle and handle.startswith("chat-")
