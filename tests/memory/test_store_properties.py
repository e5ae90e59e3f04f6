"""Properties over random unicode (control characters, surrogates, very long strings): every id,
title and content is either stored exactly and read back identically, or refused with
InvalidId / InvalidContent, and nothing of one user is ever visible to another."""

from __future__ import annotations

import unicodedata
import uuid

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from memory import MAX_CONTENT_CHARS, ChatStore, InvalidContent, InvalidId
from memory.models import ID_MAX_CHARS, ChatMessage, ChatSession
from memory.validation import MAX_TITLE_CHARS

# The database is shared by every example of a test, so each example gets users of its own.
PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    database=None,  # no .hypothesis/ directory in the work tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Every code point, surrogates and control characters included.
ANY_CHARACTER = st.characters(codec=None, exclude_categories=())
ANY_TEXT = st.text(ANY_CHARACTER, max_size=40)


def repeated(alphabet: st.SearchStrategy[str], most: int) -> st.SearchStrategy[str]:
    """Long strings without making hypothesis generate each character: a piece, repeated."""
    return st.builds(
        lambda piece, times: piece * times,
        st.text(alphabet, min_size=1, max_size=4),
        st.integers(min_value=1, max_value=most),
    )


# Text with a character no engine can store the same way: NUL (PostgreSQL refuses it) or a
# lone surrogate (not UTF-8), somewhere inside otherwise random text.
WITH_UNSTORABLE = st.builds(
    lambda before, bad, after: before + bad + after,
    ANY_TEXT,
    st.sampled_from(["\x00", "\ud800", "\udfff"]),
    ANY_TEXT,
)
AROUND_THE_LIMIT = st.integers(MAX_CONTENT_CHARS - 1, MAX_CONTENT_CHARS + 1).map("ж".__mul__)

IDS = st.one_of(ANY_TEXT, repeated(ANY_CHARACTER, 150), WITH_UNSTORABLE)
CONTENTS = st.one_of(
    ANY_TEXT,
    st.text(max_size=500),
    repeated(ANY_CHARACTER, 40_000),
    WITH_UNSTORABLE,
    AROUND_THE_LIMIT,
)


@pytest.fixture
def store(engine: Engine) -> ChatStore:
    return ChatStore(engine)


def fresh_user(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex}"


def storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_valid_id(value: str) -> bool:
    return (
        0 < len(value) <= ID_MAX_CHARS
        and storable(value)
        and not any(unicodedata.category(char) == "Cc" for char in value)
    )


def is_valid_content(value: str) -> bool:
    return len(value) <= MAX_CONTENT_CHARS and "\x00" not in value and storable(value)


def row_counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        sessions = conn.scalar(select(func.count()).select_from(ChatSession))
        messages = conn.scalar(select(func.count()).select_from(ChatMessage))
    return int(sessions or 0), int(messages or 0)


@PROPERTY_SETTINGS
@given(session_id=IDS)
def test_any_session_id_is_kept_exactly_or_refused_and_never_reaches_another_user(
    engine: Engine, store: ChatStore, session_id: str
) -> None:
    owner, other = fresh_user("owner"), fresh_user("other")
    before = row_counts(engine)
    try:
        turn = store.begin_turn(owner, session_id, "owner's question")
    except InvalidId:
        event("refused")
        assert not is_valid_id(session_id)
        assert row_counts(engine) == before
        return
    event("stored")
    assert is_valid_id(session_id)
    store.finish_turn(turn, "owner's answer")
    assert [s.session_id for s in store.list_sessions(owner)] == [session_id]
    assert store.get_session(owner, session_id).session_id == session_id
    assert store.list_sessions(other) == []
    assert store.load_messages(other, session_id) == []
    assert store.search_sessions(other, "owner's") == []
    store.get_history(other, session_id).add_user_message("other's question")
    assert [m.content for m in store.load_messages(owner, session_id)] == [
        "owner's question",
        "owner's answer",
    ]
    assert [m.content for m in store.get_history(other, session_id).messages] == [
        "other's question"
    ]


@PROPERTY_SETTINGS
@given(suffix=IDS)
def test_any_user_id_is_kept_exactly_or_refused_and_sees_only_its_own_sessions(
    engine: Engine, store: ChatStore, suffix: str
) -> None:
    # A per-example prefix keeps users apart across examples; the suffix carries the hostility.
    user = f"{uuid.uuid4().hex}{suffix}"
    neighbour = f"{uuid.uuid4().hex}{suffix}"
    before = row_counts(engine)
    try:
        store.append_messages(user, "chat", [("human", "mine"), ("ai", "yes")])
    except InvalidId:
        event("refused")
        assert not is_valid_id(user)
        assert row_counts(engine) == before
        return
    event("stored")
    assert is_valid_id(user)
    store.append_messages(neighbour, "chat", [("human", "theirs")])
    assert [(s.user_id, s.session_id) for s in store.list_sessions(user)] == [(user, "chat")]
    assert [m.content for m in store.get_history(user, "chat").messages] == ["mine", "yes"]
    assert [m.content for m in store.get_history(neighbour, "chat").messages] == ["theirs"]
    assert store.search_sessions(neighbour, "mine") == []


@PROPERTY_SETTINGS
@given(content=CONTENTS)
def test_any_content_is_read_back_identically_or_refused_and_nothing_is_half_stored(
    engine: Engine, store: ChatStore, content: str
) -> None:
    user = fresh_user("user")
    turn = store.begin_turn(user, "s", "question")
    try:
        store.finish_turn(turn, content)
    except InvalidContent:
        event("refused")
        assert not is_valid_content(content)
        assert [m.content for m in store.load_messages(user, "s")] == ["question"]
        return
    event("stored")
    assert is_valid_content(content)
    assert [m.content for m in store.load_messages(user, "s")] == ["question", content]
    assert store.get_history(user, "s").messages[-1].content == content
    assert store.load_messages(fresh_user("other"), "s") == []


@PROPERTY_SETTINGS
@given(question=CONTENTS)
def test_any_question_is_stored_identically_or_refused_before_anything_is_stored(
    engine: Engine, store: ChatStore, question: str
) -> None:
    user = fresh_user("user")
    before = row_counts(engine)
    try:
        store.begin_turn(user, "s", question)
    except InvalidContent:
        event("refused")
        assert not (is_valid_content(question) and question.strip())
        assert row_counts(engine) == before
        return
    event("stored")
    assert is_valid_content(question) and question.strip()
    assert [m.content for m in store.load_messages(user, "s")] == [question]


@PROPERTY_SETTINGS
@given(title=st.one_of(ANY_TEXT, repeated(ANY_CHARACTER, 80)))
def test_any_title_is_kept_as_one_clean_line_or_refused_and_the_old_title_stays(
    store: ChatStore, title: str
) -> None:
    user = fresh_user("user")
    store.create_session(user, session_id="s", title="old title")
    one_line = " ".join(title.split())  # titles are single-spaced labels by design
    try:
        store.rename_session(user, "s", title)
    except InvalidContent:
        event("refused")
        assert not (
            one_line
            and len(one_line) <= MAX_TITLE_CHARS
            and storable(one_line)
            and not any(unicodedata.category(char) == "Cc" for char in one_line)
        )
        assert store.get_session(user, "s").title == "old title"
        return
    event("stored")
    assert store.get_session(user, "s").title == one_line
    assert [s.session_id for s in store.search_sessions(user, one_line)] == ["s"]
    assert store.search_sessions(fresh_user("other"), one_line) == []
