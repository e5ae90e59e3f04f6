"""Export (JSON and Markdown) and JSON import of a user's chats, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from datetime import datetime

import pytest
from markdown_it import MarkdownIt
from sqlalchemy import Engine, func, select

from database import get_engine, migrate
from database.engine import dispose_engine
from memory import ChatStore, InvalidContent
from memory.export import (
    EXPORT_FORMAT,
    active_path,
    export_user_json,
    export_user_markdown,
    import_user_json,
)
from memory.models import ChatMessage, ChatSession
from tests.support.databases import whole_database


@pytest.fixture
def store(engine: Engine) -> ChatStore:
    return ChatStore(engine)


def _chat(store: ChatStore, user_id: str, session_id: str, *pairs: tuple[str, str]) -> None:
    for question, answer in pairs:
        turn = store.begin_turn(user_id, session_id, question, ability="Java")
        store.finish_turn(turn, answer)


def _fill_two_users(store: ChatStore) -> None:
    """Two users with the same session ids and different content."""
    _chat(store, "alice", "s1", ("What is jvm?", "A virtual machine."), ("And jdk?", "A kit."))
    _chat(store, "alice", "s2", ("# heading?", "```py\nprint('x')\n```"))
    unanswered = store.begin_turn("alice", "s3", "Cut short")
    store.finish_turn(unanswered, "Half an ans", status="interrupted")
    store.create_session("alice", session_id="empty", title="Nothing yet")
    store.rename_session("alice", "s1", "Java basics")
    store.set_model_title("alice", "s2", "Python printing")
    store.pin_session("alice", "s2")
    store.archive_session("alice", "s3")
    _chat(store, "bob", "s1", ("Bob's secret question", "Bob's secret answer"))
    _chat(store, "bob", "s2", ("Another of Bob's", "Answer for Bob"))
    _branch_and_retry(store, "alice", "s1")


def _branch_and_retry(store: ChatStore, user_id: str, session_id: str) -> None:
    """Give the chat an edited first question (a branch) and a retried answer on it, then go
    back to the old branch's question: three versions to carry, one of them off screen."""
    first = store.load_messages(user_id, session_id)[0]
    store.finish_turn(store.edit_question(user_id, session_id, first.id, "What is a JVM?"), "VM.")
    store.finish_turn(store.reopen_last_turn(user_id, session_id), "The Java VM.")
    store.show_version(user_id, session_id, first.id)


def _snapshot(store: ChatStore, user_id: str) -> dict[str, tuple]:
    """Everything the store holds of a user's chats, keyed by session id: every version of
    every message, which it follows and whether it is shown, and the versions the page counts
    (ids of messages are storage detail: a parent is named by its place in the chat)."""
    result = {}
    for summary in store.list_sessions(user_id, limit=1000, shelf=None):
        every = store.load_messages(user_id, summary.session_id, every_version=True)
        place = {m.id: number for number, m in enumerate(every)}
        page = store.load_page(user_id, summary.session_id)
        messages = tuple(
            (
                m.turn,
                m.role,
                m.content,
                m.status,
                m.created_at,
                None if m.parent_id is None else place[m.parent_id],
                m.on_path,
                (page.versions[m.id].number, page.versions[m.id].count)
                if m.id in page.versions
                else None,
            )
            for m in every
        )
        result[summary.session_id] = (
            summary.title,
            summary.ability,
            summary.created_at,
            summary.updated_at,
            summary.message_count,
            summary.shelf,
            summary.title_source,
            messages,
        )
    return result


def _row_counts(engine: Engine) -> tuple[int, int]:
    with whole_database(engine).connect() as conn:
        return (
            conn.scalar(select(func.count()).select_from(ChatSession)),
            conn.scalar(select(func.count()).select_from(ChatMessage)),
        )


def test_export_holds_exactly_the_users_sessions_and_messages(store: ChatStore) -> None:
    _fill_two_users(store)

    data = export_user_json(store, user_id="alice")

    assert data["format"] == EXPORT_FORMAT
    assert data["user_id"] == "alice"
    exported = {session["session_id"]: session for session in data["sessions"]}
    assert set(exported) == {"s1", "s2", "s3", "empty"}
    assert {
        (s["session_id"], s["pinned"], s["archived"], s["title_source"]) for s in data["sessions"]
    } == {
        ("s1", False, False, "user"),
        ("s2", True, False, "model"),
        ("s3", False, True, "question"),
        ("empty", False, False, "user"),
    }
    for summary in store.list_sessions("alice", shelf=None):
        session = exported[summary.session_id]
        assert session["title"] == summary.title
        assert session["ability"] == summary.ability
        assert datetime.fromisoformat(session["created_at"]) == summary.created_at
        assert datetime.fromisoformat(session["updated_at"]) == summary.updated_at
        stored = store.load_messages("alice", summary.session_id, every_version=True)
        assert [
            (
                m["turn"],
                m["role"],
                m["content"],
                m["status"],
                datetime.fromisoformat(m["created_at"]),
            )
            for m in session["messages"]
        ] == [(m.turn, m.role, m.content, m.status, m.created_at) for m in stored]
    assert "Bob" not in json.dumps(data)


def test_export_carries_every_version_and_which_one_is_shown(store: ChatStore) -> None:
    _fill_two_users(store)

    [s1] = [
        s for s in export_user_json(store, user_id="alice")["sessions"] if s["session_id"] == "s1"
    ]

    assert [(m["number"], m["parent"], m["selected"], m["content"]) for m in s1["messages"]] == [
        (1, None, True, "What is jvm?"),
        (2, 1, True, "A virtual machine."),
        (3, None, False, "What is a JVM?"),
        (4, 3, False, "VM."),
        (5, 3, True, "The Java VM."),
        (6, 2, True, "And jdk?"),
        (7, 6, True, "A kit."),
    ]
    assert active_path(s1["messages"]) == [0, 1, 5, 6]


def test_an_imported_chat_goes_on_along_its_active_path_and_keeps_its_versions(
    store: ChatStore,
) -> None:
    _fill_two_users(store)
    import_user_json(store, user_id="carol", data=export_user_json(store, user_id="alice"))

    turn = store.begin_turn("carol", "s1", "And jre?")
    assert turn.number == 3
    store.finish_turn(turn, "A runtime.")
    assert [m.content for m in store.load_messages("carol", "s1")][-4:] == [
        "And jdk?",
        "A kit.",
        "And jre?",
        "A runtime.",
    ]
    [edited] = [
        m for m in store.load_messages("carol", "s1", every_version=True) if m.content == "VM."
    ]
    store.show_version("carol", "s1", edited.id)
    assert [m.content for m in store.load_messages("carol", "s1")] == ["What is a JVM?", "VM."]


def test_a_file_whose_versions_break_the_tree_is_refused(store: ChatStore) -> None:
    _fill_two_users(store)
    data = json.loads(json.dumps(export_user_json(store, user_id="alice")))
    spoilt = {
        "two shown": lambda m: m[2].update(selected=True),
        "none shown": lambda m: m[0].update(selected=False),
        "parent later": lambda m: m[1].update(parent=5),
        "bad number": lambda m: m[3].update(number=9),
        "half numbered": lambda m: m[3].update(number=None),
    }
    for name, spoil in spoilt.items():
        broken = copy.deepcopy(data)
        spoil(next(s for s in broken["sessions"] if s["session_id"] == "s1")["messages"])
        with pytest.raises(InvalidContent, match=r"sessions\[\d\]"):
            import_user_json(store, user_id="carol", data=broken)
        assert store.list_sessions("carol", shelf=None) == [], name


def test_export_is_plain_json_with_utc_iso_times(store: ChatStore) -> None:
    _fill_two_users(store)

    data = export_user_json(store, user_id="alice")

    assert json.loads(json.dumps(data)) == data
    times = [data["exported_at"]]
    for session in data["sessions"]:
        times += [session["created_at"], session["updated_at"]]
        times += [message["created_at"] for message in session["messages"]]
    assert all(datetime.fromisoformat(moment).utcoffset().total_seconds() == 0 for moment in times)


def test_export_of_a_user_with_nothing_stored_has_no_sessions(store: ChatStore) -> None:
    _fill_two_users(store)

    assert export_user_json(store, user_id="carol")["sessions"] == []


def test_json_import_into_a_fresh_user_reproduces_every_field(store: ChatStore) -> None:
    _fill_two_users(store)
    data = json.loads(json.dumps(export_user_json(store, user_id="alice")))

    imported = import_user_json(store, user_id="carol", data=data)

    assert imported == 4
    assert _snapshot(store, "carol") == _snapshot(store, "alice")
    assert _snapshot(store, "bob") != _snapshot(store, "carol")


@pytest.fixture
def other_engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A fresh, migrated database on the other engine than the test's own."""
    other = "postgres" if request.node.callspec.params["database_url"] == "sqlite" else "sqlite"
    url = request.getfixturevalue(f"{other}_url")
    engine = get_engine(url)
    migrate(engine)
    yield engine
    dispose_engine(url)


def test_json_import_into_a_fresh_database_reproduces_every_field(
    store: ChatStore, other_engine: Engine
) -> None:
    _fill_two_users(store)
    data = json.loads(json.dumps(export_user_json(store, user_id="alice")))
    fresh = ChatStore(other_engine)

    import_user_json(fresh, user_id="alice", data=data)

    assert _snapshot(fresh, "alice") == _snapshot(store, "alice")
    assert fresh.list_sessions("bob") == []


def test_imported_turns_continue_where_the_export_stopped(store: ChatStore) -> None:
    _chat(store, "alice", "s1", ("one", "1"), ("two", "2"))
    import_user_json(store, user_id="carol", data=export_user_json(store, user_id="alice"))

    turn = store.begin_turn("carol", "s1", "three")

    assert turn.number == 3
    assert store.get_session("carol", "s1").message_count == 5


def test_session_id_the_user_already_has_gets_a_new_id_instead_of_merging(
    store: ChatStore,
) -> None:
    _fill_two_users(store)
    before = _snapshot(store, "alice")
    data = export_user_json(store, user_id="alice")

    assert import_user_json(store, user_id="alice", data=data) == 4

    after = _snapshot(store, "alice")
    assert len(after) == 8
    assert {key: after[key] for key in before} == before
    copies = sorted(value for key, value in after.items() if key not in before)
    assert copies == sorted(before.values())


def test_two_sessions_with_one_id_in_the_file_stay_two_sessions(store: ChatStore) -> None:
    _chat(store, "alice", "s1", ("one", "1"))
    data = export_user_json(store, user_id="alice")
    data["sessions"].append(copy.deepcopy(data["sessions"][0]))

    assert import_user_json(store, user_id="carol", data=data) == 2
    assert store.count_sessions("carol") == 2


def test_a_file_from_before_pins_imports_listed_with_its_titles_kept(store: ChatStore) -> None:
    _fill_two_users(store)
    data = json.loads(json.dumps(export_user_json(store, user_id="alice")))
    for session in data["sessions"]:
        del session["pinned"], session["archived"], session["title_source"]

    import_user_json(store, user_id="carol", data=data)

    summaries = store.list_sessions("carol", shelf=None)
    assert {(s.shelf, s.title_source) for s in summaries} == {("listed", "user")}
    assert len(summaries) == 4


def test_a_chat_both_pinned_and_archived_is_refused(store: ChatStore) -> None:
    _fill_two_users(store)
    data = json.loads(json.dumps(export_user_json(store, user_id="alice")))
    data["sessions"][0]["pinned"] = data["sessions"][0]["archived"] = True

    with pytest.raises(InvalidContent, match=r"sessions\[0\]: a chat is pinned or archived"):
        import_user_json(store, user_id="carol", data=data)
    assert store.list_sessions("carol", shelf=None) == []


def test_import_of_an_export_with_no_sessions_stores_nothing(store: ChatStore) -> None:
    assert import_user_json(store, user_id="carol", data=export_user_json(store, user_id="x")) == 0
    assert _row_counts(store.engine) == (0, 0)


def _spoil(path: str, value: object):
    """A change to a valid export that makes it malformed: set `path` to `value` (or delete
    the key when value is DELETE)."""

    def apply(data: dict) -> None:
        *parents, last = path.split(".")
        target = data
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if isinstance(target, list):
            last = int(last)
        if value is DELETE:
            del target[last]
        else:
            target[last] = value

    return apply


DELETE = object()
LAST = "sessions.1"
MALFORMED = {
    "sessions missing": _spoil("sessions", DELETE),
    "wrong format": _spoil("format", "chatgpt/2"),
    "no format": _spoil("format", DELETE),
    "sessions not a list": _spoil("sessions", {"s1": {}}),
    "session not an object": _spoil(LAST, "s1"),
    "session id missing": _spoil(f"{LAST}.session_id", DELETE),
    "empty session id": _spoil(f"{LAST}.session_id", ""),
    "control character in session id": _spoil(f"{LAST}.session_id", "a\nb"),
    "title not text": _spoil(f"{LAST}.title", 5),
    "title too long": _spoil(f"{LAST}.title", "t" * 201),
    "time not a string": _spoil(f"{LAST}.created_at", 1700000000),
    "time not ISO": _spoil(f"{LAST}.updated_at", "yesterday"),
    "time without zone": _spoil(f"{LAST}.updated_at", "2026-01-01T10:00:00"),
    "messages not a list": _spoil(f"{LAST}.messages", None),
    "unknown role": _spoil(f"{LAST}.messages.0.role", "bot"),
    "unknown status": _spoil(f"{LAST}.messages.0.status", "deleted"),
    "negative turn": _spoil(f"{LAST}.messages.0.turn", -1),
    "turn not a number": _spoil(f"{LAST}.messages.0.turn", "1"),
    "turn a boolean": _spoil(f"{LAST}.messages.0.turn", True),
    "content missing": _spoil(f"{LAST}.messages.0.content", DELETE),
    "content not text": _spoil(f"{LAST}.messages.0.content", ["a"]),
    "NUL in content": _spoil(f"{LAST}.messages.1.content", "a\x00b"),
    "content too long": _spoil(f"{LAST}.messages.1.content", "x" * 100_001),
    "pinned not a boolean": _spoil(f"{LAST}.pinned", "yes"),
    "unknown title source": _spoil(f"{LAST}.title_source", "robot"),
}


@pytest.mark.parametrize("spoil", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_import_is_refused_and_stores_nothing(store: ChatStore, spoil) -> None:
    _chat(store, "alice", "s1", ("one", "1"))
    _chat(store, "alice", "s2", ("two", "2"))
    data = export_user_json(store, user_id="alice")
    spoil(data)
    before = _row_counts(store.engine)

    with pytest.raises(InvalidContent) as refused:
        import_user_json(store, user_id="carol", data=data)

    assert str(refused.value)
    assert _row_counts(store.engine) == before
    assert store.list_sessions("carol") == []


@pytest.mark.parametrize("data", [None, [], "isolated-chat/1", 3])
def test_data_that_is_not_an_export_object_is_refused(store: ChatStore, data: object) -> None:
    with pytest.raises(InvalidContent):
        import_user_json(store, user_id="carol", data=data)


def test_refusal_names_the_place_of_the_fault(store: ChatStore) -> None:
    _chat(store, "alice", "s1", ("one", "1"))
    data = export_user_json(store, user_id="alice")
    data["sessions"][0]["messages"][1]["role"] = "bot"

    with pytest.raises(InvalidContent, match=r"sessions\[0\]\.messages\[1\]\.role"):
        import_user_json(store, user_id="carol", data=data)


def test_markdown_shows_the_active_path_and_counts_the_other_versions(store: ChatStore) -> None:
    _fill_two_users(store)

    text = export_user_markdown(store, user_id="alice")

    assert "What is jvm?" in text and "And jdk?" in text
    assert "VM." not in text and "The Java VM." not in text
    assert "This chat also holds 3 other versions of its messages" in text
    assert "(one of 2 versions)" in text
    assert "4 chats, 8 messages." in text


def test_markdown_contains_every_message_with_role_and_time(store: ChatStore) -> None:
    _fill_two_users(store)

    text = export_user_markdown(store, user_id="alice")

    for summary in store.list_sessions("alice"):
        assert f"## {summary.title}" in unescaped(text)
        for message in store.load_messages("alice", summary.session_id):
            assert message.content in text
            role = {"human": "User", "ai": "Assistant"}[message.role]
            heading = f"### {role}, {message.created_at:%Y-%m-%d %H:%M:%S} UTC"
            assert heading in text
    assert "### Assistant" in text and "(interrupted)" in text
    assert "Bob" not in text


def unescaped(markdown: str) -> str:
    """The text a markdown viewer shows for backslash-escaped punctuation."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def test_markdown_shows_titles_and_abilities_exactly_as_typed(store: ChatStore) -> None:
    title = ":material/warning: **urgent** &lt;b&gt; [x](http://e/) #1"
    session_id = store.create_session("alice", title=title, ability="*math*").session_id
    store.finish_turn(store.begin_turn("alice", session_id, "hi"), "hello")

    text = export_user_markdown(store, user_id="alice")

    [heading] = [line for line in text.splitlines() if line.startswith("## ")]
    rendered = MarkdownIt("commonmark").render(heading)
    assert (
        rendered == "<h2>:material/warning: **urgent** &amp;lt;b&amp;gt; [x](http://e/) #1</h2>\n"
    )
    assert "ability: \\*math\\*." in text


def test_markdown_of_a_user_with_nothing_stored_says_so(store: ChatStore) -> None:
    assert "0 chats, 0 messages" in export_user_markdown(store, user_id="carol")
