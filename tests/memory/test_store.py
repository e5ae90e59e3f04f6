"""The store keeps each (user_id, session_id) conversation apart, exactly as written, in order,
on SQLite and PostgreSQL alike, also when many threads write at once."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import Engine, func, select, update

from database.engine import dispose_engine
from memory import (
    MAX_CONTENT_CHARS,
    ChatStore,
    InvalidContent,
    InvalidId,
    SessionNotFound,
    cursor_of,
    open_store,
)
from memory.models import ChatMessage, ChatSession
from tests.support.databases import whole_database

# Ids that a careless store would confuse: case, spaces, SQL quoting, LIKE wildcards, escapes,
# unicode look-alikes and normalisation forms, zero-width characters, the maximum length.
HOSTILE_IDS = [
    "session1",
    "Session1",
    "SESSION1",
    "session1 ",
    " session1",
    "session1  ",
    "sess'ion1",
    'sess"ion1',
    "session%",
    "session_",
    "%",
    "_",
    "sess\\ion1",
    "' OR '1'='1",
    "session1'; DROP TABLE chat_messages; --",
    "séssion1",  # é as one code point (NFC)
    "se\u0301ssion1",  # e + combining acute (NFD): looks the same, is another id
    "session1\u200b",  # zero-width space
    "ﬁle",  # the fi ligature
    "file",
    "straße",
    "strasse",
    "İstanbul",
    "istanbul",
    "مرحبا",
    "😀",
    "😀😀",
    "x" * 255,
]

EXACT_CONTENTS = [
    "😀 emoji, 🇫🇷 a flag, 👩‍👩‍👧 a family (zero-width joiners)",
    "# Markdown\n\n- **bold** and `code`\n\n```java\nSystem.out.println(1);\n```\n",
    "<script>alert('x')</script><b>HTML</b> &amp; entities &lt;",
    "مرحبا بالعالم: right-to-left text with \u202e an override",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 4-byte 𠜎𠜱𠝹 and a lone 🀄",  # noqa: RUF001 (look-alikes on purpose)
    "  leading and trailing spaces, a tab\tand CRLF\r\nkept  ",
    "quotes ' \" ` and a backslash \\ and 100% _under_ scores",
    "\x01\x1f control characters other than NUL are text too",
    "",
]


@pytest.fixture
def store(engine: Engine) -> ChatStore:
    return ChatStore(engine)


def ask(store: ChatStore, user: str, session: str, question: str, answer: str) -> None:
    turn = store.begin_turn(user, session, question)
    store.finish_turn(turn, answer)


def conversation(store: ChatStore, user: str, session: str) -> list[tuple[str, str]]:
    return [(message.role, message.content) for message in store.load_messages(user, session)]


def row_counts(engine: Engine) -> tuple[int, int]:
    with whole_database(engine).connect() as conn:
        sessions = conn.scalar(select(func.count()).select_from(ChatSession))
        messages = conn.scalar(select(func.count()).select_from(ChatMessage))
    return int(sessions or 0), int(messages or 0)


def session_ids(summaries: list) -> list[str]:
    return [summary.session_id for summary in summaries]


# Isolation ------------------------------------------------------------------------------------


def test_same_session_id_under_two_users_stays_apart(store: ChatStore) -> None:
    ask(store, "user1", "session1", "What is jvm?", "The Java Virtual Machine.")
    ask(store, "user2", "session1", "What is a monad?", "A monoid in endofunctors.")
    assert conversation(store, "user1", "session1") == [
        ("human", "What is jvm?"),
        ("ai", "The Java Virtual Machine."),
    ]
    assert conversation(store, "user2", "session1") == [
        ("human", "What is a monad?"),
        ("ai", "A monoid in endofunctors."),
    ]


def test_hostile_session_ids_of_one_user_never_collide(store: ChatStore) -> None:
    for index, session in enumerate(HOSTILE_IDS):
        ask(store, "user1", session, f"question {index}", f"answer {index}")
    for index, session in enumerate(HOSTILE_IDS):
        assert conversation(store, "user1", session) == [
            ("human", f"question {index}"),
            ("ai", f"answer {index}"),
        ], session
        assert store.get_session("user1", session).session_id == session
    assert sorted(session_ids(store.list_sessions("user1", limit=100))) == sorted(HOSTILE_IDS)


def test_hostile_user_ids_never_see_each_others_sessions(store: ChatStore) -> None:
    for index, user in enumerate(HOSTILE_IDS):
        ask(store, user, "chat", f"question of user {index}", f"answer {index}")
    for index, user in enumerate(HOSTILE_IDS):
        assert conversation(store, user, "chat") == [
            ("human", f"question of user {index}"),
            ("ai", f"answer {index}"),
        ], user
        assert [(s.user_id, s.session_id) for s in store.list_sessions(user)] == [(user, "chat")]
        assert store.count_sessions(user) == 1
        assert session_ids(store.search_sessions(user, "question of user")) == ["chat"]


def test_a_session_of_another_user_is_not_found(store: ChatStore) -> None:
    ask(store, "user1", "private", "secret question", "secret answer")
    assert store.get_session("user2", "private") is None
    assert store.load_messages("user2", "private") == []
    assert store.get_history("user2", "private").messages == []
    assert store.reopen_last_turn("user2", "private") is None
    assert conversation(store, "user1", "private") == [
        ("human", "secret question"),
        ("ai", "secret answer"),
    ]


def test_renaming_touches_only_the_owners_session(store: ChatStore) -> None:
    ask(store, "user1", "s1", "first question", "answer")
    ask(store, "user2", "s1", "other question", "answer")
    store.rename_session("user2", "s1", "renamed by user2")
    assert store.get_session("user1", "s1").title == "first question"
    assert store.get_session("user2", "s1").title == "renamed by user2"
    with pytest.raises(SessionNotFound):
        store.rename_session("user3", "s1", "not yours")
    assert store.get_session("user3", "s1") is None


def test_deleting_touches_only_the_owners_session(engine: Engine, store: ChatStore) -> None:
    ask(store, "user1", "s1", "kept question", "kept answer")
    ask(store, "user2", "s1", "doomed question", "doomed answer")
    assert store.delete_session("user3", "s1") is False
    assert store.delete_session("user2", "s1") is True
    assert store.delete_session("user2", "s1") is False
    assert store.get_session("user2", "s1") is None
    assert conversation(store, "user2", "s1") == []
    assert conversation(store, "user1", "s1") == [
        ("human", "kept question"),
        ("ai", "kept answer"),
    ]
    assert row_counts(engine) == (1, 2)


def test_clearing_touches_only_the_owners_messages(store: ChatStore) -> None:
    ask(store, "user1", "s1", "kept", "kept")
    ask(store, "user2", "s1", "cleared", "cleared")
    store.clear_session("user2", "s1")
    assert conversation(store, "user2", "s1") == []
    assert store.get_session("user2", "s1").message_count == 0
    assert conversation(store, "user1", "s1") == [("human", "kept"), ("ai", "kept")]


# Listing and search ----------------------------------------------------------------------------


def test_sessions_are_listed_newest_first_and_a_new_turn_moves_one_to_the_top(
    store: ChatStore,
) -> None:
    for name in ("a", "b", "c"):
        ask(store, "user1", name, f"question {name}", "answer")
    assert session_ids(store.list_sessions("user1")) == ["c", "b", "a"]
    ask(store, "user1", "a", "again", "answer")
    assert session_ids(store.list_sessions("user1")) == ["a", "c", "b"]


def test_pages_of_sessions_cover_every_session_once_even_with_equal_timestamps(
    engine: Engine, store: ChatStore
) -> None:
    for number in range(7):
        store.create_session("user1", session_id=f"s{number}", title=f"title {number}")
    store.create_session("user2", session_id="s9", title="someone else's")
    same_moment = store.get_session("user1", "s0").updated_at
    with whole_database(engine).begin() as conn:
        conn.execute(
            update(ChatSession)
            .where(ChatSession.user_id == "user1", ChatSession.session_id.in_(["s2", "s3", "s4"]))
            .values(updated_at=same_moment)
        )
    seen: list[str] = []
    after = None
    while page := store.list_sessions("user1", limit=3, after=after):
        seen += session_ids(page)
        after = cursor_of(page[-1])
    assert sorted(seen) == [f"s{number}" for number in range(7)]
    assert seen == session_ids(store.list_sessions("user1", limit=50))


def test_search_matches_wildcards_and_quotes_in_titles_literally_and_only_the_users_own_sessions(
    store: ChatStore,
) -> None:
    ask(store, "user1", "percent", "Is 100% of the heap used?", "no")
    ask(store, "user1", "underscore", "What does max_heap mean?", "a flag")
    ask(store, "user1", "quote", "Why is it's spelled so?", "grammar")
    ask(store, "user1", "double", 'What does "final" mean?', "constant")
    ask(store, "user1", "backslash", "Escape with C:\\path", "ok")
    ask(store, "user1", "plain", "Nothing special here", "indeed")
    for session in ("percent", "underscore", "quote", "double", "backslash", "plain"):
        ask(store, "user2", session, 'Is 100% of max_heap it\'s "final" C:\\path', "x")
    # A query of punctuation alone has no word: it is looked for in titles, literally.
    assert session_ids(store.search_sessions("user1", "%")) == ["percent"]
    assert session_ids(store.search_sessions("user1", "_")) == ["underscore"]
    assert session_ids(store.search_sessions("user1", "'")) == ["quote"]
    assert session_ids(store.search_sessions("user1", '"')) == ["double"]
    assert session_ids(store.search_sessions("user1", "\\")) == ["backslash"]
    assert session_ids(store.search_sessions("user1", "100%")) == ["percent"]
    # In messages, punctuation separates words: "max%heap" asks for max and heap, which
    # max_heap has, and "1%0" for the words 1 and 0..., which no message has.
    assert store.search_sessions("user1", "1%0") == []
    assert session_ids(store.search_sessions("user1", "max%heap")) == ["underscore"]
    assert session_ids(store.search_sessions("user1", "it_s")) == ["quote"]
    assert store.search_sessions("user1", "' OR '1'='1") == []
    # user2's six sessions all say "path": none of them is user1's.
    assert session_ids(store.search_sessions("user1", "path")) == ["backslash"]
    assert {s.user_id for s in store.search_sessions("user1", "final")} == {"user1"}


def test_search_finds_titles_and_messages_ignoring_ascii_case(store: ChatStore) -> None:
    ask(store, "user1", "s1", "What is jvm?", "The Java Virtual Machine.")
    ask(store, "user1", "s2", "Something else", "unrelated")
    store.rename_session("user1", "s2", "Garbage collection")
    assert session_ids(store.search_sessions("user1", "JVM")) == ["s1"]
    assert session_ids(store.search_sessions("user1", "virtual MACHINE")) == ["s1"]
    assert session_ids(store.search_sessions("user1", "garbage")) == ["s2"]
    assert session_ids(store.search_sessions("user2", "jvm")) == []


def test_search_finds_non_ascii_text_as_it_was_written(store: ChatStore) -> None:
    ask(store, "user1", "fr", "Qu'est-ce qu'un Éclair ?", "Un gâteau.")
    ask(store, "user1", "de", "Was ist STRASSE?", "Eine Straße.")
    ask(store, "user1", "emoji", "Why 🐘?", "Postgres.")
    assert session_ids(store.search_sessions("user1", "Éclair")) == ["fr"]
    assert session_ids(store.search_sessions("user1", "gâteau")) == ["fr"]
    assert session_ids(store.search_sessions("user1", "Straße")) == ["de"]
    assert session_ids(store.search_sessions("user1", "🐘")) == ["emoji"]


def test_an_empty_search_lists_every_session(store: ChatStore) -> None:
    ask(store, "user1", "s1", "one", "x")
    ask(store, "user1", "s2", "two", "x")
    assert session_ids(store.search_sessions("user1", "   ")) == ["s2", "s1"]


# Turns -----------------------------------------------------------------------------------------


def test_the_first_question_names_the_session_and_counts_are_kept(store: ChatStore) -> None:
    ask(store, "user1", "s1", "What   is\n jvm?", "The JVM.")
    ask(store, "user1", "s1", "And the JIT?", "A compiler.")
    summary = store.get_session("user1", "s1")
    assert summary.title == "What is jvm?"
    assert summary.message_count == 4
    assert summary.ability == "general knowledge"


def test_a_long_first_question_gives_a_shortened_title(store: ChatStore) -> None:
    ask(store, "user1", "s1", "word " * 100, "answer")
    title = store.get_session("user1", "s1").title
    assert len(title) <= 60
    assert title.endswith("…")


def test_an_unanswered_question_asked_again_is_stored_once(store: ChatStore) -> None:
    first = store.begin_turn("user1", "s1", "What is jvm?")
    again = store.begin_turn("user1", "s1", "What is jvm?")
    assert again == first
    store.finish_turn(again, "The JVM.")
    assert conversation(store, "user1", "s1") == [("human", "What is jvm?"), ("ai", "The JVM.")]


def test_the_same_question_after_an_answer_is_a_new_turn(store: ChatStore) -> None:
    ask(store, "user1", "s1", "What is jvm?", "The JVM.")
    ask(store, "user1", "s1", "What is jvm?", "Still the JVM.")
    assert [m.turn for m in store.load_messages("user1", "s1")] == [1, 1, 2, 2]


def test_finishing_a_turn_twice_keeps_both_answers_and_shows_the_second(
    store: ChatStore,
) -> None:
    turn = store.begin_turn("user1", "s1", "question")
    store.finish_turn(turn, "partial", status="interrupted")
    store.finish_turn(turn, "complete answer")
    messages = store.load_messages("user1", "s1")
    assert [(m.role, m.content, m.status) for m in messages] == [
        ("human", "question", "complete"),
        ("ai", "complete answer", "complete"),
    ]
    every = store.load_messages("user1", "s1", every_version=True)
    assert [(m.content, m.on_path) for m in every] == [
        ("question", True),
        ("partial", False),
        ("complete answer", True),
    ]
    assert store.get_session("user1", "s1").message_count == 3


def test_an_unknown_answer_status_is_refused(store: ChatStore) -> None:
    turn = store.begin_turn("user1", "s1", "question")
    with pytest.raises(ValueError, match="status"):
        store.finish_turn(turn, "answer", status="done")
    assert conversation(store, "user1", "s1") == [("human", "question")]


def test_an_answer_to_a_deleted_session_is_refused_and_does_not_revive_it(
    engine: Engine, store: ChatStore
) -> None:
    turn = store.begin_turn("user1", "s1", "question")
    store.delete_session("user1", "s1")
    with pytest.raises(SessionNotFound):
        store.finish_turn(turn, "late answer")
    assert store.get_session("user1", "s1") is None
    assert row_counts(engine) == (0, 0)


def test_reopening_the_last_turn_keeps_its_answer_until_a_new_one_arrives(
    store: ChatStore,
) -> None:
    ask(store, "user1", "s1", "first", "first answer")
    ask(store, "user1", "s1", "second", "second answer")
    turn = store.reopen_last_turn("user1", "s1")
    assert turn is not None
    assert (turn.number, turn.question) == (2, "second")
    # A retry that fails leaves the chat as it was.
    assert conversation(store, "user1", "s1")[-1] == ("ai", "second answer")
    assert store.get_session("user1", "s1").message_count == 4
    store.finish_turn(turn, "better second answer")
    assert conversation(store, "user1", "s1") == [
        ("human", "first"),
        ("ai", "first answer"),
        ("human", "second"),
        ("ai", "better second answer"),
    ]
    assert store.get_session("user1", "s1").message_count == 5
    assert store.reopen_last_turn("user1", "empty") is None


def test_appended_messages_open_a_turn_at_each_question(store: ChatStore) -> None:
    store.append_messages(
        "user1", "s1", [("system", "be brief"), ("human", "q1"), ("ai", "a1"), ("human", "q2")]
    )
    store.append_messages("user1", "s1", [("ai", "a2")])
    messages = store.load_messages("user1", "s1")
    assert [(m.turn, m.role, m.content) for m in messages] == [
        (0, "system", "be brief"),
        (1, "human", "q1"),
        (1, "ai", "a1"),
        (2, "human", "q2"),
        (2, "ai", "a2"),
    ]
    assert store.get_session("user1", "s1").message_count == 5
    assert store.get_session("user1", "s1").title == "q1"


def test_an_unknown_role_is_refused_and_nothing_of_the_batch_is_stored(
    engine: Engine, store: ChatStore
) -> None:
    with pytest.raises(InvalidContent, match="role"):
        store.append_messages("user1", "s1", [("human", "q"), ("tool", "output")])
    assert row_counts(engine) == (0, 0)


def test_a_session_created_empty_has_its_given_title_and_ability(store: ChatStore) -> None:
    summary = store.create_session("user1", session_id="s1", title="  My   chat ", ability="Java")
    assert (summary.title, summary.ability, summary.message_count) == ("My chat", "Java", 0)
    generated = store.create_session("user1")
    assert generated.session_id != "s1"
    assert store.count_sessions("user1") == 2


# Validation ------------------------------------------------------------------------------------

BAD_IDS = [
    "",
    "x" * 256,
    "nul\x00inside",
    "new\nline",
    "tab\there",
    "bell\x07",
    "delete\x7f",
    "c1 control\x85",
    "lone surrogate \ud800",
    None,
    42,
]


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
def test_a_bad_user_id_is_refused_by_name_and_nothing_is_stored(
    engine: Engine, store: ChatStore, bad: object
) -> None:
    with pytest.raises(InvalidId, match="user_id"):
        store.begin_turn(bad, "s1", "question")  # type: ignore[arg-type]
    with pytest.raises(InvalidId, match="user_id"):
        store.append_messages(bad, "s1", [("human", "question")])  # type: ignore[arg-type]
    with pytest.raises(InvalidId, match="user_id"):
        store.create_session(bad, session_id="s1")  # type: ignore[arg-type]
    with pytest.raises(InvalidId, match="user_id"):
        store.list_sessions(bad)  # type: ignore[arg-type]
    assert row_counts(engine) == (0, 0)


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
def test_a_bad_session_id_is_refused_by_name_and_nothing_is_stored(
    engine: Engine, store: ChatStore, bad: object
) -> None:
    with pytest.raises(InvalidId, match="session_id"):
        store.begin_turn("user1", bad, "question")  # type: ignore[arg-type]
    with pytest.raises(InvalidId, match="session_id"):
        store.append_messages("user1", bad, [("human", "question")])  # type: ignore[arg-type]
    with pytest.raises(InvalidId, match="session_id"):
        store.get_history("user1", bad)  # type: ignore[arg-type]
    if bad is not None:  # None asks create_session for a fresh id
        with pytest.raises(InvalidId, match="session_id"):
            store.create_session("user1", session_id=bad)  # type: ignore[arg-type]
    assert row_counts(engine) == (0, 0)


def test_ids_of_one_and_255_characters_are_accepted(store: ChatStore) -> None:
    longest = "é" * 255
    ask(store, "u", longest, "question", "answer")
    ask(store, longest, "s", "question", "answer")
    assert conversation(store, "u", longest) == [("human", "question"), ("ai", "answer")]
    assert conversation(store, longest, "s") == [("human", "question"), ("ai", "answer")]


@pytest.mark.parametrize("content", EXACT_CONTENTS, ids=range(len(EXACT_CONTENTS)))
def test_content_is_stored_and_read_back_exactly(store: ChatStore, content: str) -> None:
    question = content if content.strip() else "an empty answer follows"
    ask(store, "user1", "s1", question, content)
    assert conversation(store, "user1", "s1") == [("human", question), ("ai", content)]


def test_content_of_exactly_the_limit_is_stored(store: ChatStore) -> None:
    longest = "ж" * MAX_CONTENT_CHARS
    ask(store, "user1", "s1", longest, longest)
    assert conversation(store, "user1", "s1") == [("human", longest), ("ai", longest)]


@pytest.mark.parametrize(
    "bad",
    ["x" * (MAX_CONTENT_CHARS + 1), "nul \x00 inside", "lone surrogate \udfff", None, b"bytes"],
    ids=["too long", "NUL", "surrogate", "None", "bytes"],
)
def test_refused_content_stores_nothing(engine: Engine, store: ChatStore, bad: object) -> None:
    with pytest.raises(InvalidContent):
        store.begin_turn("user1", "s1", bad)  # type: ignore[arg-type]
    batch = [("human", "fine"), ("ai", bad)]
    with pytest.raises(InvalidContent):
        store.append_messages("user1", "s1", batch)  # type: ignore[arg-type]
    assert row_counts(engine) == (0, 0)
    turn = store.begin_turn("user1", "s1", "question")
    with pytest.raises(InvalidContent):
        store.finish_turn(turn, bad)  # type: ignore[arg-type]
    assert conversation(store, "user1", "s1") == [("human", "question")]


@pytest.mark.parametrize("blank", ["", "   ", "\n\t "])
def test_a_blank_question_is_refused(engine: Engine, store: ChatStore, blank: str) -> None:
    with pytest.raises(InvalidContent, match="empty"):
        store.begin_turn("user1", "s1", blank)
    assert row_counts(engine) == (0, 0)


@pytest.mark.parametrize("title", ["", "   ", "x" * 201, "bell\x07"])
def test_a_bad_title_is_refused_and_the_old_one_stays(store: ChatStore, title: str) -> None:
    ask(store, "user1", "s1", "original", "answer")
    with pytest.raises(InvalidContent, match="title"):
        store.rename_session("user1", "s1", title)
    assert store.get_session("user1", "s1").title == "original"


# Durability and concurrency ------------------------------------------------------------------


def test_a_reopened_store_keeps_every_session_and_message(engine: Engine) -> None:
    database_url = engine.url.render_as_string(hide_password=False)
    store = open_store(database_url)
    ask(store, "user1", "s1", "What is jvm?", "The JVM.")
    ask(store, "user2", "s1", "Hello", "Hi")
    interrupted = store.begin_turn("user1", "s1", "cut short")
    store.finish_turn(interrupted, "partial", status="interrupted")
    store.rename_session("user1", "s1", "About the JVM")
    before = (store.list_sessions("user1"), store.load_messages("user1", "s1"))
    dispose_engine(database_url)

    reopened = open_store(database_url)
    assert reopened.engine is not store.engine
    assert (reopened.list_sessions("user1"), reopened.load_messages("user1", "s1")) == before
    assert conversation(reopened, "user2", "s1") == [("human", "Hello"), ("ai", "Hi")]
    assert reopened.load_messages("user1", "s1")[-1].status == "interrupted"
    ask(reopened, "user1", "s1", "after reopening", "still here")
    assert [m.turn for m in reopened.load_messages("user1", "s1")] == [1, 1, 2, 2, 3, 3]
    dispose_engine(database_url)


THREADS = 8
TURNS_PER_THREAD = 6


def test_concurrent_writers_lose_nothing_and_keep_each_answer_after_its_question(
    store: ChatStore,
) -> None:
    """Threads write turns at once: all into one shared session, each into a session of its
    own, and all racing to create one brand-new session with their first write."""
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            start.wait()
            for turn in range(TURNS_PER_THREAD):
                for user, session in (
                    ("user1", "shared"),
                    ("user1", f"own-{number}"),
                    (f"user-{number}", "shared"),
                    ("user2", "created-by-a-race"),
                ):
                    question = f"{user}/{session} thread {number} turn {turn}"
                    ask(store, user, session, question, f"answer to {question}")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []

    expected_sessions = {("user1", "shared"), ("user2", "created-by-a-race")}
    expected_sessions |= {("user1", f"own-{n}") for n in range(THREADS)}
    expected_sessions |= {(f"user-{n}", "shared") for n in range(THREADS)}
    for user, session in expected_sessions:
        messages = store.load_messages(user, session)
        questions = [m.content for m in messages if m.role == "human"]
        assert all(q.startswith(f"{user}/{session} ") for q in questions), (user, session)
        if session in ("shared", "created-by-a-race") and user in ("user1", "user2"):
            assert len(questions) == THREADS * TURNS_PER_THREAD
        else:
            assert len(questions) == TURNS_PER_THREAD
        assert Counter(questions).most_common(1)[0][1] == 1
        pairs = [(messages[i], messages[i + 1]) for i in range(0, len(messages), 2)]
        for question, answer in pairs:
            assert (question.role, answer.role) == ("human", "ai")
            assert answer.content == f"answer to {question.content}"
            assert answer.turn == question.turn
        assert sorted(m.turn for m in messages[::2]) == list(range(1, len(pairs) + 1))
        assert store.get_session(user, session).message_count == len(messages)
    assert store.count_sessions("user1") == THREADS + 1
