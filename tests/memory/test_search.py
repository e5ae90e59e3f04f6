"""Search on SQLite (FTS5) and PostgreSQL (tsvector): words whatever their case and accents,
CJK phrases, emoji, a prefix on the last word, FTS syntax as plain text, one user's chats only,
snippets from the original text, and an index that never disagrees with the messages."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, text, update

from database import get_engine, migrate, write_transaction
from database.engine import dispose_engine
from memory import ChatStore, InvalidContent
from memory.erasure import delete_user_content
from memory.export import export_user_json, import_user_json
from memory.models import ChatMessage, ChatSession
from memory.retention import purge_expired, set_retention_days
from memory.search import (
    MAX_PREFIX_WORDS,
    SNIPPET_CHARS,
    build_snippet,
    indexed_terms,
    normalise,
    one_word_hits,
    owner_key,
    parse_query,
    prefix_expansions,
    search_owners,
    tokens_with_offsets,
)
from tests.support.databases import whole_database
from tests.support.search_index import assert_index_matches_messages


@pytest.fixture
def store(engine: Engine) -> ChatStore:
    return ChatStore(engine)


def ask(store: ChatStore, user: str, session: str, question: str, answer: str = "ok") -> None:
    """One turn; a new session gets the title "—", so that only its messages can match."""
    if store.get_session(user, session) is None:
        store.create_session(user, session_id=session, title="—")
    turn = store.begin_turn(user, session, question)
    store.finish_turn(turn, answer)


def found(store: ChatStore, user: str, query: str, limit: int = 50) -> list[str]:
    summaries = store.search_sessions(user, query, limit=limit)
    assert all(summary.user_id == user for summary in summaries)
    return [summary.session_id for summary in summaries]


# Words ----------------------------------------------------------------------------------------


def test_words_match_whatever_their_case_and_accents(store: ChatStore) -> None:
    ask(store, "user1", "fr", "Qu'est-ce qu'un Éclair ?", "Un gâteau.")
    ask(store, "user1", "de", "Was ist STRASSE?", "Eine Straße.")
    ask(store, "user1", "el", "Τι είναι το ΑΘΗΝΑ;", "Η Αθήνα.")  # noqa: RUF001 (Greek on purpose)
    ask(store, "user1", "other", "Nothing of the kind", "no")
    for query in ("eclair", "ÉCLAIR", "éclair", "Eclair", "GATEAU", "gâteau"):
        assert found(store, "user1", query) == ["fr"], query
    for query in ("strasse", "Straße", "STRASSE", "straße"):
        assert found(store, "user1", query) == ["de"], query
    assert found(store, "user1", "αθηνα") == ["el"]
    assert found(store, "user1", "clair") == []  # whole words, not any substring


def test_every_word_must_be_in_one_message(store: ChatStore) -> None:
    ask(store, "user1", "apart", "Is Java verbose?", "Kotlin is terse.")
    ask(store, "user1", "together", "Java or Kotlin for Android?", "Either.")
    assert found(store, "user1", "java kotlin") == ["together"]
    assert sorted(found(store, "user1", "java")) == ["apart", "together"]


def test_the_last_word_also_matches_as_a_prefix_and_the_others_only_whole(
    store: ChatStore,
) -> None:
    ask(store, "user1", "jvm", "What is the JVM?", "The Java Virtual Machine.")
    assert found(store, "user1", "jav") == ["jvm"]
    assert found(store, "user1", "virtual mach") == ["jvm"]
    assert found(store, "user1", "java virt") == ["jvm"]
    assert found(store, "user1", "jav virtual") == []
    assert found(store, "user1", "machines") == []


@pytest.mark.parametrize("longer_words", [3, MAX_PREFIX_WORDS, MAX_PREFIX_WORDS + 5])
def test_a_prefix_finds_every_longer_word_of_the_user_newest_first_however_many_there_are(
    store: ChatStore, longer_words: int
) -> None:
    """Up to MAX_PREFIX_WORDS longer words are read word by word from session_terms, more by
    a prefix query of the message index: the same sessions either way, and another user's
    longer words never."""
    ask(store, "ann", "exact", "every word here")
    for number in range(longer_words):
        ask(store, "ann", f"longer{number}", f"every{chr(ord('a') + number)}thing counts")
    ask(store, "bob", "theirs", "everyone of bob")
    ask(store, "ann", "newest", "every day")

    expected = ["newest", *(f"longer{n}" for n in reversed(range(longer_words))), "exact"]
    assert found(store, "ann", "every") == expected
    assert found(store, "ann", "word every") == ["exact"]  # the prefix part ANDed with a word
    assert found(store, "ann", "everya") == ["longer0"]
    assert found(store, "bob", "every") == ["theirs"]
    assert found(store, "ann", "everyone") == []


def test_the_longer_words_of_a_prefix_are_the_users_own_and_leave_with_their_messages(
    engine: Engine, store: ChatStore
) -> None:
    ask(store, "ann", "s1", "java javadoc javascript")
    ask(store, "ann", "s2", "javadoc again")
    ask(store, "bob", "s1", "javanese")
    with whole_database(engine).connect() as conn:
        key = owner_key(conn, "ann")
        assert prefix_expansions(conn, f"{key}xjava") == [f"{key}xjavadoc", f"{key}xjavascript"]
        assert prefix_expansions(conn, f"{key}xjavas") == [f"{key}xjavascript"]
    store.delete_session("ann", "s1")
    with whole_database(engine).connect() as conn:
        # Nothing of a deleted message lingers: the words are listed from the chats holding them.
        assert prefix_expansions(conn, f"{key}xjava") == [f"{key}xjavadoc"]


def test_a_one_word_query_is_answered_from_each_words_chats_and_others_from_the_messages(
    engine: Engine, store: ChatStore
) -> None:
    """The newest holder of the word in each chat, newest first, read from session_terms (its
    rows are what the ids come from: a row changed by hand changes the answer)."""
    ask(store, "ann", "s1", "plum jam", "plum tart")
    ask(store, "ann", "s2", "plum cake", "fig")
    ask(store, "ann", "s3", "plumber", "no")
    with whole_database(engine).connect() as conn:
        ids = dict(conn.execute(select(ChatMessage.content, ChatMessage.id)).all())
        plum = parse_query("plum")
        assert one_word_hits(conn, "ann", plum, 50) == [
            ids["plumber"],
            ids["plum cake"],
            ids["plum tart"],
        ]
        assert one_word_hits(conn, "ann", plum, 2) == [ids["plumber"], ids["plum cake"]]
        assert one_word_hits(conn, "ann", parse_query("plum jam"), 50) is None
        assert one_word_hits(conn, "bob", plum, 50) == []
        key = owner_key(conn, "ann")
    with write_transaction(whole_database(engine)) as conn:
        conn.execute(
            text("UPDATE session_terms SET newest = :id WHERE term = :term AND session_id = 's1'"),
            {"id": ids["plum jam"], "term": f"{key}xplum"},
        )
    with whole_database(engine).connect() as conn:
        assert one_word_hits(conn, "ann", plum, 50) == [
            ids["plumber"],
            ids["plum cake"],
            ids["plum jam"],
        ]


def test_a_prefix_of_too_many_words_is_left_to_the_message_index(
    engine: Engine, store: ChatStore
) -> None:
    """Past MAX_PREFIX_WORDS longer words SQLite's caller asks the message index, and
    PostgreSQL's function does so itself: either way the chat is found."""
    words = " ".join(f"ka{chr(ord('a') + n)}" for n in range(MAX_PREFIX_WORDS + 1))
    ask(store, "ann", "s1", words)
    ask(store, "ann", "s2", "kaa")
    with whole_database(engine).connect() as conn:
        many = one_word_hits(conn, "ann", parse_query("ka"), 50)
        assert (many is None) == (engine.dialect.name == "sqlite")
        assert one_word_hits(conn, "ann", parse_query("kaq"), 50) is not None
    assert found(store, "ann", "ka") == ["s2", "s1"]
    assert found(store, "ann", "kaq") == ["s1"]


def newest_hits_by_hand(engine: Engine, user: str, word: str, limit: int = 50) -> list[str]:
    """What a search for one whole word must give, read the slow way: every message of the
    user normalised here, sessions ordered by their newest message holding the word."""
    with whole_database(engine).connect() as conn:
        rows = conn.execute(
            select(ChatMessage.id, ChatMessage.session_id, ChatMessage.content).where(
                ChatMessage.user_id == user
            )
        ).all()
    newest: dict[str, int] = {}
    for message_id, session_id, content in rows:
        if word in normalise(content):
            newest[session_id] = max(newest.get(session_id, 0), message_id)
    return sorted(newest, key=newest.__getitem__, reverse=True)[:limit]


@pytest.mark.parametrize("limit", [3, 50])
def test_a_long_history_gives_the_sessions_of_the_newest_hits_however_the_hits_lie(
    engine: Engine, store: ChatStore, limit: int
) -> None:
    """30 chats of 120 messages, written one after the other: a word in every message, a word
    dense in the newest chat and rare before it, a rare old word, a word in one message of
    each chat. Each word alone is answered from session_terms; after "also", which every
    message holds too, it is a query of two words for the message index, which on PostgreSQL
    takes the walk down the newest messages, the GIN index after it, and the stop once every
    chat is found."""
    for number in range(30):
        contents = []
        for position in range(120):
            words = ["always", "also"]
            if number == 29 or (number % 6 == 0 and position == 7):
                words.append("mixed")
            if number in (2, 11, 17) and position == 3:
                words.append("seldom")
            if position == (number * 7) % 120:
                words.append("once")
            contents.append(("human" if position % 2 == 0 else "ai", " ".join(words)))
        store.append_messages("ann", f"chat{number:02}", contents)
    store.append_messages("bob", "chat29", [("human", "always also mixed seldom once")])

    for word in ("always", "mixed", "seldom", "once", "absent"):
        expected = newest_hits_by_hand(engine, "ann", word, limit)
        assert found(store, "ann", word, limit=limit) == expected, word
        assert found(store, "ann", f"also {word}", limit=limit) == expected, f"also {word}"


def test_a_cjk_phrase_is_found_inside_a_sentence_and_only_in_its_order(
    store: ChatStore,
) -> None:
    ask(store, "user1", "tokyo", "私は東京に住んでいます", "いいですね")
    ask(store, "user1", "kyoto", "京都と東北", "遠いです")  # 京 and 東, never 東京
    ask(store, "user1", "korean", "나는 한국어를 배워요", "좋아요")
    ask(store, "user1", "kana", "ガスの料金", "高い")
    assert found(store, "user1", "東京") == ["tokyo"]
    assert found(store, "user1", "住んで") == ["tokyo"]
    assert found(store, "user1", "東京に住") == ["tokyo"]
    assert found(store, "user1", "京東") == []
    assert sorted(found(store, "user1", "京")) == ["kyoto", "tokyo"]
    assert found(store, "user1", "한국어") == ["korean"]
    assert found(store, "user1", "ｶﾞｽ") == ["kana"]  # halfwidth katakana, as NFKC reads it
    assert found(store, "user1", "カス") == []  # a voicing mark is a letter, not an accent


def test_an_emoji_finds_that_emoji(store: ChatStore) -> None:
    ask(store, "user1", "elephant", "Why 🐘?", "Postgres.")
    ask(store, "user1", "snake", "Why 🐍?", "Python.")
    ask(store, "user1", "france", "Paris 🇫🇷", "oui")
    ask(store, "user1", "finland", "Helsinki 🇫🇮", "kyllä")
    assert found(store, "user1", "🐘") == ["elephant"]
    assert found(store, "user1", "🐍") == ["snake"]
    assert found(store, "user1", "🇫🇷") == ["france"]
    assert found(store, "user1", "why 🐘") == ["elephant"]


@pytest.mark.parametrize(
    "query",
    ['"', "*", "-x", "NEAR(a b)", "a:b", "^a", "(a", "a AND", "OR", "'", "\\", "a OR b", '"a',
     "terms:a", "{a b}", "a + b", "NOT a", "a & b | !c", "a <-> b", "a:*", "''", "(", ")"],
)  # fmt: skip
def test_fts_syntax_in_a_query_is_plain_text_and_never_an_error(
    store: ChatStore, query: str
) -> None:
    ask(store, "user1", "syntax", "NEAR(a b) and a:b or ^a (a -x * terms", "NOT c <-> b")
    ask(store, "user1", "plain", "Nothing special here", "none")
    # Every word of these queries is in the first session: it is found, or nothing is.
    assert found(store, "user1", query) in ([], ["syntax"])


def test_syntax_words_are_found_as_the_words_they_are(store: ChatStore) -> None:
    ask(store, "user1", "near", "Is NEAR a keyword?", "In FTS5.")
    ask(store, "user1", "colon", "Set a:b in the config", "done")
    assert found(store, "user1", "NEAR(keyword)") == ["near"]
    assert found(store, "user1", "a:b") == ["colon"]
    assert found(store, "user1", '"config"') == ["colon"]


def test_another_users_matching_message_never_appears_even_under_the_same_session_id(
    store: ChatStore,
) -> None:
    ask(store, "user1", "s1", "A public question", "public answer")
    ask(store, "user2", "s1", "A secret question", "secret answer")
    ask(store, "user2", "s2", "Another secret", "yes")
    assert found(store, "user1", "secret") == []
    assert found(store, "user1", "secr") == []
    assert found(store, "user1", "question") == ["s1"]
    [summary] = store.search_sessions("user1", "question")
    assert summary.snippet is not None and "secret" not in summary.snippet.text
    assert sorted(found(store, "user2", "secret")) == ["s1", "s2"]
    assert found(store, "nobody", "question") == []


# Results --------------------------------------------------------------------------------------


def test_results_come_newest_first_and_the_limit_is_kept(store: ChatStore) -> None:
    for name in ("a", "b", "c", "d", "e"):
        ask(store, "user1", name, f"kotlin question {name}", "answer")
    ask(store, "user1", "quiet", "unrelated", "answer")
    assert found(store, "user1", "kotlin") == ["e", "d", "c", "b", "a"]
    ask(store, "user1", "b", "kotlin again", "answer")
    assert found(store, "user1", "kotlin") == ["b", "e", "d", "c", "a"]
    assert found(store, "user1", "kotlin", limit=2) == ["b", "e"]
    ask(store, "user1", "quiet", "still unrelated", "answer")  # newer, but not a match
    assert found(store, "user1", "kotlin", limit=1) == ["b"]


def test_title_hits_and_message_hits_are_merged_by_time(engine: Engine, store: ChatStore) -> None:
    ask(store, "user1", "in-message", "Tell me about Kotlin", "A language.")
    store.create_session("user1", session_id="in-title", title="My Kotlin notes")
    ask(store, "user1", "both", "Kotlin again", "Sure.")
    store.rename_session("user1", "both", "Kotlin, the second time")
    assert found(store, "user1", "kotlin") == ["both", "in-title", "in-message"]
    # A title hit is dated by the session's update, a message hit by the matching message.
    with write_transaction(whole_database(engine)) as conn:
        conn.execute(
            update(ChatSession)
            .where(ChatSession.user_id == "user1", ChatSession.session_id == "in-title")
            .values(updated_at=datetime(2000, 1, 1, tzinfo=UTC))
        )
    assert found(store, "user1", "kotlin") == ["both", "in-message", "in-title"]
    summaries = {s.session_id: s for s in store.search_sessions("user1", "kotlin")}
    assert summaries["in-title"].snippet is None
    assert summaries["in-message"].snippet is not None


def test_a_query_without_words_searches_titles_literally(store: ChatStore) -> None:
    store.create_session("user1", session_id="percent", title="100% sure")
    store.create_session("user1", session_id="underscore", title="snake_case names")
    ask(store, "user1", "message-only", "Is it 100% or 50_50?", "both")
    assert found(store, "user1", "%") == ["percent"]
    assert found(store, "user1", "_") == ["underscore"]
    assert found(store, "user1", "-- ?!") == []


def test_the_snippet_marks_each_match_and_is_cut_from_the_original_text(
    store: ChatStore,
) -> None:
    long = "Intro words. " * 20 + "Qu'est-ce qu'un ÉCLAIR, dis-moi ? " + "Then more text. " * 20
    ask(store, "user1", "s1", "A question", long)
    [summary] = store.search_sessions("user1", "eclair")
    snippet = summary.snippet
    assert snippet is not None
    assert ("ÉCLAIR", True) in snippet.parts
    assert [part for part, is_match in snippet.parts if is_match] == ["ÉCLAIR"]
    assert snippet.text.startswith("…") and snippet.text.endswith("…")
    assert len(snippet.text) <= SNIPPET_CHARS + 2
    assert snippet.text.strip("…") in " ".join(long.split())


def test_the_snippet_comes_from_the_newest_matching_message(store: ChatStore) -> None:
    ask(store, "user1", "s1", "Kotlin at first", "yes")
    ask(store, "user1", "s1", "Kotlin later on", "yes")
    ask(store, "user1", "s1", "Something else entirely", "no")
    [summary] = store.search_sessions("user1", "kotlin")
    assert summary.snippet is not None
    assert summary.snippet.parts == (("Kotlin", True), (" later on", False))


def test_a_cjk_snippet_marks_the_phrase_not_its_characters_elsewhere() -> None:
    snippet = build_snippet("京都の東、私は東京に住んでいます", parse_query("東京"))
    assert [part for part, is_match in snippet.parts if is_match] == ["東京"]
    assert snippet.text == "京都の東、私は東京に住んでいます"


# Hostile queries -----------------------------------------------------------------------------


def test_a_query_over_the_title_limit_is_refused_with_a_clear_sentence(store: ChatStore) -> None:
    with pytest.raises(InvalidContent, match="201 characters long; the limit is 200"):
        store.search_sessions("user1", "x" * 201)
    assert store.search_sessions("user1", "x" * 200) == []


def test_a_tab_or_newline_in_a_query_is_a_space(store: ChatStore) -> None:
    ask(store, "user1", "s1", "The Java Virtual Machine", "yes")
    store.create_session("user1", session_id="s2", title="Garbage collection")
    assert found(store, "user1", "virtual\tmachine") == ["s1"]
    assert found(store, "user1", "virtual\nmachine\r\n") == ["s1"]
    assert found(store, "user1", "garbage\tcollection") == ["s2"]
    assert found(store, "user1", "\x00virtual\x07") == ["s1"]


# The index never disagrees with the messages --------------------------------------------------


def test_a_deleted_session_is_no_longer_found(engine: Engine, store: ChatStore) -> None:
    ask(store, "user1", "doomed", "Tell me about marmalade", "Oranges.")
    ask(store, "user1", "kept", "Tell me about jam", "Berries.")
    store.delete_session("user1", "doomed")
    assert found(store, "user1", "marmalade") == []
    assert found(store, "user1", "oranges") == []
    assert found(store, "user1", "jam") == ["kept"]
    assert found(store, "user1", "tell") == ["kept"]
    assert_index_matches_messages(engine)


def test_a_session_deleted_by_another_tool_through_the_cascade_leaves_the_index(
    engine: Engine, store: ChatStore
) -> None:
    ask(store, "user1", "doomed", "Marmalade?", "Oranges.")
    ask(store, "user1", "kept", "Jam?", "Berries.")
    with write_transaction(whole_database(engine)) as conn:
        conn.execute(text("DELETE FROM chat_sessions WHERE session_id = 'doomed'"))
    assert found(store, "user1", "marmalade") == []
    assert found(store, "user1", "jam") == ["kept"]
    assert_index_matches_messages(engine)


def test_erasing_an_account_leaves_no_index_entry_nor_owner_key(
    engine: Engine, store: ChatStore
) -> None:
    ask(store, "alice", "s1", "Alice's marmalade", "Oranges.")
    ask(store, "alice", "s2", "Alice's jam", "Berries.")
    ask(store, "bob", "s1", "Bob's marmalade", "Lemons.")
    delete_user_content(store, user_id="alice")
    assert found(store, "alice", "marmalade") == []
    assert found(store, "alice", "jam") == []
    assert found(store, "bob", "marmalade") == ["s1"]
    assert found(store, "bob", "lemons") == ["s1"]
    with whole_database(engine).connect() as conn:
        owners = conn.scalars(select(search_owners.c.user_id)).all()
    assert owners == ["bob"]
    assert_index_matches_messages(engine)
    # The same user id writing again gets a fresh key and is found again.
    ask(store, "alice", "s3", "Alice returns with quince", "ok")
    assert found(store, "alice", "quince") == ["s3"]
    assert found(store, "alice", "marmalade") == []


def test_a_retention_purge_removes_the_purged_sessions_from_the_index(
    engine: Engine, store: ChatStore
) -> None:
    ask(store, "user1", "old", "Ancient marmalade", "Oranges.")
    ask(store, "user1", "new", "Fresh jam", "Berries.")
    with write_transaction(whole_database(engine)) as conn:
        conn.execute(
            update(ChatSession)
            .where(ChatSession.session_id == "old")
            .values(updated_at=datetime(2020, 1, 1, tzinfo=UTC))
        )
    set_retention_days(engine, days=30)
    purge_expired(store, now=datetime(2020, 1, 1, tzinfo=UTC) + timedelta(days=31))
    assert found(store, "user1", "marmalade") == []
    assert found(store, "user1", "oranges") == []
    assert found(store, "user1", "jam") == ["new"]
    assert_index_matches_messages(engine)


def test_every_version_of_an_answer_is_searched_and_a_replaced_one_leaves_the_index(
    engine: Engine, store: ChatStore
) -> None:
    ask(store, "user1", "s1", "Which fruit?", "A banana.")
    turn = store.reopen_last_turn("user1", "s1")
    assert turn is not None
    store.finish_turn(turn, "A cherry.", status="interrupted")
    store.finish_turn(turn, "A plum.")
    # Versions off screen are still the user's words: search finds them all.
    for word in ("banana", "cherry", "plum", "fruit"):
        assert found(store, "user1", word) == ["s1"]
    # In a full chat a retried answer takes the shown one's place, and its words go.
    ask(store, "user1", "s2", "Which nut?", "A walnut.")
    full = ChatStore(engine, max_messages_per_chat=2)
    full.finish_turn(full.reopen_last_turn("user1", "s2"), "A pecan.")
    assert found(store, "user1", "walnut") == []
    assert found(store, "user1", "pecan") == ["s2"]
    assert_index_matches_messages(engine)


def test_deleting_the_newest_message_holding_a_word_dates_its_chat_by_the_next_newest(
    engine: Engine, store: ChatStore
) -> None:
    """A Retry, a replaced answer and another tool's delete of single messages: where the
    message gone was the newest holding a word, the chat is found by the next newest (its
    snippet too), and each word's count of holders stays exact."""
    store.create_session("ann", session_id="a", title="—")
    store.append_messages(
        "ann",
        "a",
        [("human", "plum jam"), ("ai", "plum tart"), ("human", "fig"), ("ai", "plum pie")],
    )
    ask(store, "ann", "b", "plum cake", "fig roll")
    store.append_messages("ann", "a", [("human", "plum?")])
    turn = store.begin_turn("ann", "a", "which fig and plum")
    store.finish_turn(turn, "the plum one")
    assert found(store, "ann", "plum") == ["a", "b"]
    # In a full chat, a retried answer replaces the one holding "plum".
    ChatStore(engine, max_messages_per_chat=7).finish_turn(turn, "none")
    assert_index_matches_messages(engine)
    assert found(store, "ann", "plum") == ["a", "b"]
    with write_transaction(whole_database(engine)) as conn:
        # The newest messages of chat a holding "plum" go, in one statement with an old one.
        conn.execute(
            text(
                "DELETE FROM chat_messages WHERE session_id = 'a' "
                "AND content IN ('plum?', 'which fig and plum', 'plum jam')"
            )
        )
    assert_index_matches_messages(engine)
    # Chat a's newest "plum" is now "plum pie", older than chat b's "plum cake".
    assert found(store, "ann", "plum") == newest_hits_by_hand(engine, "ann", "plum") == ["b", "a"]
    [hit] = store.search_sessions("ann", "pie")
    assert hit.session_id == "a"
    assert found(store, "ann", "fig") == newest_hits_by_hand(engine, "ann", "fig") == ["b", "a"]


def test_a_word_count_gone_wrong_outside_the_app_goes_with_the_words_last_holder(
    engine: Engine, store: ChatStore
) -> None:
    """A row counting one holder too many (a writer outside the app) does not outlive the
    word: when its last holder goes, no next holder is found and the row goes with it."""
    ask(store, "ann", "s1", "quince jam", "plum")
    with write_transaction(whole_database(engine)) as conn:
        conn.execute(text("UPDATE session_terms SET hits = hits + 1"))
    # A full chat's Retry replaces the answer: "plum" had one real holder.
    full = ChatStore(engine, max_messages_per_chat=2)
    full.finish_turn(full.reopen_last_turn("ann", "s1"), "fig")
    assert found(store, "ann", "plum") == []
    with whole_database(engine).connect() as conn:
        words = conn.execute(text("SELECT term FROM session_terms")).scalars().all()
    assert sorted(word.split("x", 1)[1] for word in words) == ["fig", "jam", "quince"]


def test_two_tabs_writing_to_one_chat_on_postgresql_never_deadlock_over_its_words(
    postgres_url: str,
) -> None:
    """One tab asks again and again while the other replaces its answer again and again, both
    with the same words: each write takes the chat's row before its words' rows (an insert by
    its turn, a delete in its trigger), so neither ever holds a word the other waits for while
    waiting for the chat."""
    engine = get_engine(postgres_url)
    migrate(engine)
    store = ChatStore(engine)
    store.create_session("ann", session_id="s1", title="—")
    answered = store.begin_turn("ann", "s1", "plum fig pear")
    errors: list[BaseException] = []

    def keep(action: Callable[[int], None]) -> None:
        try:
            for number in range(150):
                action(number)
        except BaseException as error:
            errors.append(error)

    def ask_again(number: int) -> None:
        turn = store.begin_turn("ann", "s1", f"plum fig pear {number}")
        store.finish_turn(turn, "plum fig")

    def replace_answer(number: int) -> None:
        store.finish_turn(answered, f"plum fig pear again {number}")

    tabs = [threading.Thread(target=keep, args=(action,)) for action in (ask_again, replace_answer)]
    for tab in tabs:
        tab.start()
    for tab in tabs:
        tab.join()
    assert errors == []
    assert_index_matches_messages(engine)
    dispose_engine(postgres_url)


def test_clearing_a_session_removes_its_words(engine: Engine, store: ChatStore) -> None:
    ask(store, "user1", "s1", "Marmalade?", "Oranges.")
    ask(store, "user1", "s2", "Jam?", "Berries.")
    store.clear_session("user1", "s1")
    assert found(store, "user1", "marmalade") == []
    assert found(store, "user1", "jam") == ["s2"]
    ask(store, "user1", "s1", "Quince now", "ok")
    assert found(store, "user1", "quince") == ["s1"]
    assert_index_matches_messages(engine)


def test_imported_messages_are_found_and_only_by_their_new_owner(
    engine: Engine, store: ChatStore
) -> None:
    ask(store, "alice", "s1", "Tell me about marmalade", "Oranges 🍊.")
    ask(store, "alice", "s2", "Tell me about jam", "Berries.")
    exported = export_user_json(store, user_id="alice")
    delete_user_content(store, user_id="alice")
    assert import_user_json(store, user_id="bob", data=exported) == 2
    assert found(store, "bob", "marmalade") == ["s1"]
    assert found(store, "bob", "🍊") == ["s1"]
    assert sorted(found(store, "bob", "tell")) == ["s1", "s2"]
    assert found(store, "alice", "marmalade") == []
    assert_index_matches_messages(engine)
    # Appended through the LangChain adapter's path: indexed too.
    store.append_messages("bob", "s2", [("human", "and quince?"), ("ai", "also")])
    assert found(store, "bob", "quince") == ["s2"]
    assert_index_matches_messages(engine)


def test_each_engine_indexes_exactly_the_normalisers_terms(
    engine: Engine, store: ChatStore
) -> None:
    """The engine's own tokenizer splits the stored terms only at our spaces: what is indexed
    is what the normaliser made, in any script."""
    content = "Éclair ﬁle ½ 東京に ｶﾞｽ 한국어 हिन्दी 1️⃣ 🇫🇷 👩‍👩‍👧 1e5 0x1F co\xadoperate"
    ask(store, "user1", "s1", content, "")
    with whole_database(engine).connect() as conn:
        key = conn.scalar(select(search_owners.c.key))
        expected = indexed_terms(key, content).split()
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql(
                "CREATE VIRTUAL TABLE temp.terms USING fts5vocab(main, message_search, instance)"
            )
            stored = conn.execute(
                text("SELECT term FROM temp.terms GROUP BY term ORDER BY min(offset)")
            ).scalars()
        else:
            stored = conn.execute(
                text("SELECT lexeme FROM message_search, unnest(terms) ORDER BY positions[1]")
            ).scalars()
        assert list(stored) == list(dict.fromkeys(expected))


# The normaliser ------------------------------------------------------------------------------


def test_every_token_points_at_its_own_text_in_the_original() -> None:
    content = "Cafe\u0301 ÉCLAIR ﬁle 東京 ｶﾞｽ 🇫🇷 1️⃣ Straße"
    assert [(token.text, content[token.start : token.end]) for token in tokens_with_offsets(content)] == [
        ("cafe", "Cafe\u0301"),
        ("eclair", "ÉCLAIR"),
        ("file", "ﬁle"),
        ("東", "東"),
        ("京", "京"),
        ("ガ", "ｶﾞ"),
        ("ス", "ｽ"),
        ("emoji1f1ebx1f1f7", "🇫🇷"),
        ("emoji31x20e3", "1️⃣"),
        ("strasse", "Straße"),
    ]  # fmt: skip


def test_punctuation_and_control_characters_separate_words() -> None:
    assert normalise('NEAR(a b) "q" -x a:b ^a\t(c\nAND OR \\ \' *') == [
        "near", "a", "b", "q", "x", "a", "b", "a", "c", "and", "or",
    ]  # fmt: skip
    assert normalise("%_ --- ?!") == []


def test_the_query_keeps_phrases_and_a_prefix_only_on_a_last_word() -> None:
    query = parse_query("東京 java jav")
    assert [(part.tokens, part.prefix) for part in query.parts] == [
        (("東", "京"), False),
        (("java",), False),
        (("jav",), True),
    ]
    assert [part.prefix for part in parse_query("java 東京").parts] == [False, False]
    assert [part.prefix for part in parse_query("java 😀").parts] == [False, False]
    assert [(p.tokens, p.prefix) for p in parse_query("java java").parts] == [(("java",), False)]


def test_a_message_of_nearly_every_han_character_is_stored_and_found(
    engine: Engine, store: ChatStore
) -> None:
    """PostgreSQL refuses a tsvector over 1 MiB of words: such a message is still stored, and
    indexed as far as the limit allows, on both engines alike."""
    with write_transaction(
        whole_database(engine)
    ) as conn:  # a long key makes every indexed word longer
        conn.execute(search_owners.insert().values(user_id="user1", key=9_999_999))
    han = "".join(map(chr, range(0x4E00, 0x9FFF))) + "".join(map(chr, range(0x20000, 0x33500)))
    han = han[:100_000]
    ask(store, "user1", "s1", han)
    assert found(store, "user1", "一丁") == ["s1"]
    assert 0 < len(indexed_terms(9_999_999, han).split()) < len(han)
