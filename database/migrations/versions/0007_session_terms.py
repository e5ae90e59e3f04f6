"""search: one row per word and chat, so that a word's chats are read newest first directly

`session_terms(term, session_id, hits, newest)`: for every indexed term (owner key included,
`17xjava`) and every chat holding it, how many of the chat's messages hold it and the id of
the newest one. A one-word search reads the `limit` rows of its word with the highest
`newest` from the index (term, newest DESC), and those ids are the messages its snippets come
from: 50 rows, however the word's hits lie. The message index of 0005 could only walk the
user's hits newest first, which for a word in every message of a few long chats means every
hit (110 ms on SQLite, 220 ms on PostgreSQL for 100k), and on PostgreSQL turned to the GIN
index for a rarer word, which reads every hit of the user (7 ms at 1M).

Kept exact in the transaction of every write, whoever writes:
- Rows are added by memory.search.index_messages, right after the messages' own index entries.
  The backfill here runs the same statements over every message, written out again: this
  revision's schema is fixed, the app's statements may follow later ones.
- Rows are taken away by the database when a message goes:
  - SQLite: AFTER DELETE triggers on chat_messages. While the message's chat has rows, one
    counts the message's terms out of them (read back from its FTS5 row through json_each,
    since a trigger can hold no WITH clause), finds the next newest holder where the message
    was the newest, and removes the FTS5 row; otherwise the other removes the FTS5 row alone.
  - PostgreSQL: a statement-level AFTER DELETE trigger on chat_messages does the same for
    all the statement's rows at once, then removes their message_search rows. It replaces the
    foreign key's ON DELETE CASCADE, which deleted those rows one statement per message.
  - A whole chat's rows are one range of the primary key (session_id, term), which the store
    deletes in one statement before the chat's messages (memory.search.forget_chats).
- The terms column is "C"-collated on PostgreSQL (code point order, as SQLite's), so that the
  words a prefix begins are a range of it.
- PostgreSQL gets `message_search_word`, the one-word search in one call.
SQLite's fts5vocab table of 0006 goes: the longer words a prefix begins are now listed from
session_terms on both engines.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A message's terms, as rows, from the text its FTS5 entry `s` stores: terms are runs of letters,
# digits and marks separated by single spaces (memory/search.py), never a quote or a
# backslash, so this is always a JSON array of them.
_SQLITE_TERMS_OF = "json_each('[\"' || replace(s.terms, ' ', '\",\"') || '\"]')"

_SQLITE_ADD = (
    "INSERT INTO session_terms (term, session_id, hits, newest) "
    "SELECT w.value, m.session_id, count(DISTINCT m.id), max(m.id) "
    "FROM message_search AS s JOIN chat_messages AS m ON m.id = s.rowid, "
    + _SQLITE_TERMS_OF
    # WHERE true: SQLite's parser needs a WHERE between a SELECT's join and ON CONFLICT.
    + " AS w WHERE true GROUP BY w.value, m.session_id "
    "ON CONFLICT (session_id, term) DO UPDATE SET hits = hits + excluded.hits, "
    "newest = max(newest, excluded.newest)"
)
_POSTGRES_ADD = (
    "INSERT INTO session_terms (term, session_id, hits, newest) "
    "SELECT w.term, s.session_id, count(*), max(s.message_id) "
    "FROM message_search AS s, unnest(tsvector_to_array(s.terms)) AS w(term) "
    "GROUP BY w.term, s.session_id "
    "ON CONFLICT (session_id, term) DO UPDATE SET hits = session_terms.hits + excluded.hits, "
    "newest = greatest(session_terms.newest, excluded.newest)"
)

_OLD_TERMS = (
    "SELECT w.value FROM message_search AS s, " + _SQLITE_TERMS_OF + " AS w WHERE s.rowid = OLD.id"
)
_CHAT_HAS_ROWS = "EXISTS (SELECT 1 FROM session_terms AS g WHERE g.session_id = OLD.session_id)"
# Two triggers, whichever SQLite runs first: the one for a chat that still has rows counts the
# message's terms out (reading them from its FTS5 row) and removes that row; the other removes
# the FTS5 row alone when the chat has no rows left, which is the case for every message of a
# whole chat being deleted, since the store removes such a chat's rows in one statement first
# (memory.search.forget_chats): about 80 us a message saved. Removing the FTS5 row twice is
# harmless. The next newest holder is found by FTS5, newest first (CROSS JOIN keeps that
# order), checked against the stored terms themselves; the message being deleted is already
# gone from chat_messages.
_SQLITE_DELETE_TRIGGERS = (
    f"""
CREATE TRIGGER chat_messages_search_delete_terms AFTER DELETE ON chat_messages
WHEN {_CHAT_HAS_ROWS} BEGIN
    UPDATE session_terms SET hits = hits - 1
    WHERE session_id = OLD.session_id AND term IN ({_OLD_TERMS});
    DELETE FROM session_terms
    WHERE session_id = OLD.session_id AND hits = 0 AND term IN ({_OLD_TERMS});
    UPDATE session_terms SET newest = coalesce((
        SELECT s.rowid FROM message_search AS s CROSS JOIN chat_messages AS m ON m.id = s.rowid
        WHERE s.terms MATCH '"' || session_terms.term || '"'
        AND m.user_id = OLD.user_id AND m.session_id = OLD.session_id
        AND instr(' ' || s.terms || ' ', ' ' || session_terms.term || ' ') > 0
        ORDER BY s.rowid DESC LIMIT 1), OLD.id)
    WHERE session_id = OLD.session_id AND newest = OLD.id AND term IN ({_OLD_TERMS});
    -- No holder found after all (a count gone wrong by some writer outside the app): the row
    -- goes, as it would with its last holder.
    DELETE FROM session_terms
    WHERE session_id = OLD.session_id AND newest = OLD.id AND term IN ({_OLD_TERMS});
    DELETE FROM message_search WHERE rowid = OLD.id;
END
""",
    f"""
CREATE TRIGGER chat_messages_search_delete AFTER DELETE ON chat_messages
WHEN NOT {_CHAT_HAS_ROWS} BEGIN
    DELETE FROM message_search WHERE rowid = OLD.id;
END
""",
)
_SQLITE_OLD_DELETE_TRIGGER = (
    "CREATE TRIGGER chat_messages_search_delete AFTER DELETE ON chat_messages "
    "BEGIN DELETE FROM message_search WHERE rowid = OLD.id; END"
)

# One statement for the counts: the rows whose every holder goes are deleted, the others
# counted down; it returns those whose newest holder goes. For each of them the next newest
# is then found and planned with that very word (plan_cache_mode): the GIN index for a word
# the chat holds rarely, a walk down the user's newest rows for a common one. A generic plan
# walked for every word: 24 ms for a Retry in a long chat, against 2 here. The other rows
# being deleted are still visible to that search (the statement sees its snapshot), so they
# are skipped by id.
_POSTGRES_DELETE_FUNCTION = """
CREATE FUNCTION chat_messages_unindex() RETURNS trigger LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    moved RECORD;
    next_newest BIGINT;
BEGIN
    -- The chats' rows first, in key order, as every writer of the store takes them: a tool's
    -- delete then waits for a turn being written to the same chat instead of counting its
    -- words from a snapshot that turn changes under it.
    PERFORM FROM chat_sessions AS c
    WHERE (c.user_id, c.session_id) IN (SELECT r.user_id, r.session_id FROM removed AS r)
    ORDER BY c.user_id, c.session_id FOR UPDATE OF c;
    FOR moved IN
        WITH gone AS MATERIALIZED (
            SELECT w.term, s.user_id, s.session_id, count(*) AS n, max(s.message_id) AS top
            FROM removed AS r
            JOIN message_search AS s ON s.message_id = r.id
            CROSS JOIN unnest(tsvector_to_array(s.terms)) AS w(term)
            GROUP BY w.term, s.user_id, s.session_id
        ), emptied AS (
            DELETE FROM session_terms AS t USING gone AS g
            WHERE t.term = g.term AND t.session_id = g.session_id AND t.hits <= g.n
        )
        UPDATE session_terms AS t SET hits = t.hits - g.n
        FROM gone AS g
        WHERE t.term = g.term AND t.session_id = g.session_id AND t.hits > g.n
        RETURNING t.term, g.user_id, g.session_id, g.top, t.newest = g.top AS newest_gone
    LOOP
        CONTINUE WHEN NOT moved.newest_gone;
        SELECT max(s.message_id) INTO next_newest FROM message_search AS s
        WHERE s.terms @@ CAST(quote_literal(moved.term) AS tsquery)
        AND s.user_id = moved.user_id AND s.session_id = moved.session_id
        AND s.message_id < moved.top
        AND NOT EXISTS (SELECT FROM removed AS x WHERE x.id = s.message_id);
        IF next_newest IS NULL THEN
            -- No holder left after all (a count gone wrong by some writer outside the
            -- app): the row goes, as it would with its last holder.
            DELETE FROM session_terms AS t
            WHERE t.term = moved.term AND t.session_id = moved.session_id;
        ELSE
            UPDATE session_terms AS t SET newest = next_newest
            WHERE t.term = moved.term AND t.session_id = moved.session_id;
        END IF;
    END LOOP;
    DELETE FROM message_search AS s USING removed AS r WHERE s.message_id = r.id;
    RETURN NULL;
END
$$
"""
_POSTGRES_DELETE_TRIGGER = (
    "CREATE TRIGGER chat_messages_search_delete AFTER DELETE ON chat_messages "
    "REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION chat_messages_unindex()"
)
_POSTGRES_FOREIGN_KEY = "fk_message_search_message_id_chat_messages"

# A one-word search in one call (a round trip costs about 0.15 ms here): the owner's key, the
# longer words of a prefix (one probe each), then the `wanted` chats with the newest holders of
# any of these words, read from (term, newest DESC); past `max_words` longer words, 0006's
# message_search_hits with the prefix query, as memory/search.py does on SQLite. (Terms hold
# no quote or backslash, so quote_literal makes the plain quoted lexeme to_tsquery expects.)
_POSTGRES_WORD_FUNCTION = """
CREATE FUNCTION message_search_word(
    owner VARCHAR, word TEXT, prefix BOOLEAN, wanted INTEGER, max_words INTEGER)
RETURNS TABLE (message_id BIGINT)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    owner_key INTEGER;
    high TEXT;
    last_code INTEGER;
    next_term TEXT;
    to_messages BOOLEAN;
    terms TEXT[];
BEGIN
    SELECT o.key INTO owner_key FROM search_owners AS o WHERE o.user_id = owner;
    IF owner_key IS NULL THEN
        RETURN;
    END IF;
    -- The word as the index holds it: session_terms' words come from to_tsvector, whose
    -- lowercasing follows the database's locale (in a UTF-8 one it lowercases Cherokee,
    -- which Python's casefold makes uppercase), so the query's word goes through it too, as
    -- to_tsquery does for message_search_hits. A word the parser splits goes there.
    terms := tsvector_to_array(to_tsvector('simple', owner_key || 'x' || word));
    to_messages := cardinality(terms) <> 1;
    IF prefix AND NOT to_messages THEN
        last_code := ascii(right(terms[1], 1));
        to_messages := last_code >= 1114111;
        high := left(terms[1], -1) || chr(least(last_code + 1, 1114111));
        next_term := terms[1];
        WHILE NOT to_messages LOOP
            SELECT min(t.term) INTO next_term FROM session_terms AS t
            WHERE t.term > next_term AND t.term < high;
            EXIT WHEN next_term IS NULL;
            to_messages := cardinality(terms) > max_words;
            terms := terms || next_term;
        END LOOP;
    END IF;
    IF to_messages THEN
        RETURN QUERY SELECT h.message_id FROM message_search_hits(owner, wanted, to_tsquery(
            'simple', quote_literal(owner_key || 'x' || word) || CASE WHEN prefix
            THEN ':*' ELSE '' END)) AS h;
        RETURN;
    END IF;
    RETURN QUERY
        SELECT max(x.newest) FROM unnest(terms) AS w(term)
        CROSS JOIN LATERAL (SELECT t.newest, t.session_id FROM session_terms AS t
            WHERE t.term = w.term ORDER BY t.newest DESC LIMIT wanted) AS x
        GROUP BY x.session_id ORDER BY max(x.newest) DESC LIMIT wanted;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE TABLE session_terms ("
            "term VARCHAR NOT NULL, session_id VARCHAR(255) NOT NULL, "
            "hits INTEGER NOT NULL, newest INTEGER NOT NULL, "
            "CONSTRAINT pk_session_terms PRIMARY KEY (session_id, term)) WITHOUT ROWID"
        )
        op.execute(_SQLITE_ADD)
        op.execute("DROP TRIGGER chat_messages_search_delete")
        for trigger in _SQLITE_DELETE_TRIGGERS:
            op.execute(trigger)
        op.execute("DROP TABLE message_search_terms")
    else:
        op.execute(
            "CREATE TABLE session_terms ("
            'term TEXT COLLATE "C" NOT NULL, session_id VARCHAR(255) NOT NULL, '
            "hits INTEGER NOT NULL, newest BIGINT NOT NULL, "
            "CONSTRAINT pk_session_terms PRIMARY KEY (session_id, term))"
        )
        op.execute(_POSTGRES_ADD)
        op.execute(f"ALTER TABLE message_search DROP CONSTRAINT {_POSTGRES_FOREIGN_KEY}")
        op.execute(_POSTGRES_DELETE_FUNCTION)
        op.execute(_POSTGRES_DELETE_TRIGGER)
        op.execute(_POSTGRES_WORD_FUNCTION)
    # Built after the backfill: one sort instead of an insert per row. On SQLite the primary
    # key's own columns ride along in it, so a search reads (newest, session_id) from it alone.
    include = "" if op.get_bind().dialect.name == "sqlite" else " INCLUDE (session_id)"
    op.execute(
        f"CREATE INDEX ix_session_terms_newest ON session_terms (term, newest DESC){include}"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE message_search_terms USING fts5vocab(message_search, row)")
        op.execute("DROP TRIGGER chat_messages_search_delete_terms")
        op.execute("DROP TRIGGER chat_messages_search_delete")
        op.execute(_SQLITE_OLD_DELETE_TRIGGER)
    else:
        op.execute("DROP FUNCTION message_search_word(VARCHAR, TEXT, BOOLEAN, INTEGER, INTEGER)")
        op.execute("DROP TRIGGER chat_messages_search_delete ON chat_messages")
        op.execute("DROP FUNCTION chat_messages_unindex()")
        # Rows of messages deleted meanwhile without the trigger cannot exist: it was in place.
        op.execute(
            f"ALTER TABLE message_search ADD CONSTRAINT {_POSTGRES_FOREIGN_KEY} "
            "FOREIGN KEY (message_id) REFERENCES chat_messages (id) ON DELETE CASCADE"
        )
    op.execute("DROP TABLE session_terms")
