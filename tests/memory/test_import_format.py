"""Hostile import files: times outside what a chat could have, absurd numbers, deep nesting,
wrong types. Each is refused with one sentence naming the first bad field and stores nothing;
any JSON value at all is either imported exactly or refused that way (hypothesis)."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from memory import ChatStore, InvalidContent
from memory.export import export_user_json, import_user_json, read_export_file
from memory.retention import purge_expired, set_retention_days

NOW = datetime.now(UTC)


@pytest.fixture
def store(engine: Engine) -> ChatStore:
    return ChatStore(engine)


def message(**changes: object) -> dict:
    return {
        "turn": 1,
        "role": "human",
        "content": "a question",
        "status": "complete",
        "created_at": "2024-05-01T10:00:00+00:00",
        **changes,
    }


def export(*, messages: list | None = None, **changes: object) -> dict:
    session = {
        "session_id": "imported",
        "title": "An imported chat",
        "ability": "Java",
        "created_at": "2024-05-01T10:00:00+00:00",
        "updated_at": "2024-05-01T10:05:00+00:00",
        "messages": [message()] if messages is None else messages,
        **changes,
    }
    return {"format": "isolated-chat/1", "sessions": [session]}


@pytest.mark.parametrize(
    ("data", "sentence"),
    [
        (export(updated_at="9999-12-31T23:59:59+00:00"), "sessions[0].updated_at: "),
        (export(created_at="0001-01-01T00:00:00+14:00"), "is before 1970"),
        (export(created_at="1969-12-31T23:59:59+00:00"), "is before 1970"),
        (export(updated_at="9999-12-31T23:59:59-14:00"), "is in the future"),
        (export(messages=[message(created_at=(NOW + timedelta(days=1)).isoformat())]), "future"),
        (export(messages=[message(turn=2**70)]), "sessions[0].messages[0].turn: "),
        (export(messages=[message(turn=-1)]), "messages[0].turn"),
        (export(messages=[message(turn="1")]), "messages[0].turn"),
        (export(messages=[message(turn=True)]), "messages[0].turn"),
        (export(messages=[message(turn=1.5)]), "messages[0].turn"),
        (export(messages=[message(role="admin")]), "messages[0].role"),
        (export(messages=[message(content=None)]), "messages[0].content"),
        (export(messages=[message(content="a\x00b")]), "NUL"),
        (export(messages=[message(created_at="yesterday")]), "is not an ISO-8601 time"),
        (export(messages=[message(created_at="2024-05-01T10:00:00")]), "has no time zone"),
        (export(messages=[message(created_at=1714557600)]), "expected an ISO-8601 time string"),
        (export(title=["a", "list"]), "sessions[0].title"),
        (export(session_id=""), "sessions[0].session_id"),
        (export(messages={"not": "a list"}), "sessions[0].messages"),
        ({"format": "isolated-chat/1"}, "sessions"),
        ({"format": "something else", "sessions": []}, "not an isolated-chat/1 export"),
        ([1, 2, 3], "not an export"),
        ("text", "not an export"),
    ],
)
def test_a_malformed_file_is_refused_naming_its_first_bad_field_and_stores_nothing(
    store: ChatStore, data: object, sentence: str
) -> None:
    with pytest.raises(InvalidContent) as refused:
        import_user_json(store, user_id="bob", data=data)

    assert sentence in str(refused.value)
    assert "\n" not in str(refused.value)  # one sentence, no pydantic report
    assert store.list_sessions("bob") == []


def test_a_deeply_nested_file_is_refused_clearly() -> None:
    nested = b"[" * 100_000 + b"]" * 100_000

    with pytest.raises(InvalidContent, match="nested too deeply"):
        read_export_file(io.BytesIO(nested), max_bytes=len(nested))


def test_a_deep_value_in_an_unknown_field_is_ignored_not_walked(store: ChatStore) -> None:
    data = export()
    data["sessions"][0]["extra"] = json.loads("[" * 500 + "]" * 500)

    assert import_user_json(store, user_id="bob", data=data) == 1


def test_an_imported_chat_cannot_escape_retention(store: ChatStore) -> None:
    """Times are refused after now, so an import's retention clock is never in the future:
    a one-day policy removes an imported week-old chat like any other."""
    week_ago = (NOW - timedelta(days=7)).isoformat()
    import_user_json(store, user_id="bob", data=export(created_at=week_ago, updated_at=week_ago))
    set_retention_days(store.engine, days=1)

    counts = purge_expired(store)

    assert counts.sessions == 1
    assert store.list_sessions("bob") == []


# Any JSON value -------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


def mostly(good: st.SearchStrategy, bad: st.SearchStrategy) -> st.SearchStrategy:
    """A good value three times in four, so that many examples import and many do not."""
    return st.integers(min_value=0, max_value=3).flatmap(lambda n: bad if n == 0 else good)


times = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2025, 1, 1), timezones=st.just(UTC)
).map(lambda moment: moment.isoformat())
bad_times = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 1, 1), timezones=st.just(UTC)
).map(lambda moment: moment.isoformat())
near_exports = st.builds(
    lambda turn, role, content, status, when, title, extra: {
        "format": "isolated-chat/1",
        "sessions": [
            {
                "session_id": "s",
                "title": title,
                "ability": "Java",
                "created_at": when,
                "updated_at": when,
                "messages": [
                    {
                        "turn": turn,
                        "role": role,
                        "content": content,
                        "status": status,
                        "created_at": when,
                        **extra,
                    }
                ],
            }
        ],
    },
    mostly(st.integers(min_value=0, max_value=1000), st.integers(min_value=-5) | json_values),
    mostly(st.sampled_from(["human", "ai", "system"]), st.sampled_from(["robot", ""])),
    mostly(st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=30), json_values),
    mostly(st.sampled_from(["complete", "interrupted"]), st.just("partial")),
    mostly(times, bad_times | json_values),
    mostly(st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=30), json_values),
    st.dictionaries(st.text(max_size=5), json_values, max_size=2),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.one_of(json_values, near_exports, near_exports, near_exports))
def test_any_json_is_imported_exactly_or_refused_clearly(store: ChatStore, data: object) -> None:
    user = f"fuzz-{uuid.uuid4().hex[:12]}"
    try:
        imported = import_user_json(store, user_id=user, data=data)
    except InvalidContent as refused:
        event("refused")
        assert str(refused) and "\n" not in str(refused)
        assert store.list_sessions(user) == []
        return
    event("imported")
    sessions = export_user_json(store, user_id=user)["sessions"]
    assert imported == len(sessions) == len(data["sessions"])
    for given_session, stored in zip(data["sessions"], sessions, strict=True):
        assert [m["content"] for m in stored["messages"]] == [
            m["content"] for m in sorted(given_session["messages"], key=lambda m: m["turn"])
        ]
        assert [m["turn"] for m in stored["messages"]] == sorted(
            m["turn"] for m in given_session["messages"]
        )
        assert (
            stored["created_at"] == datetime.fromisoformat(given_session["created_at"]).isoformat()
        )
