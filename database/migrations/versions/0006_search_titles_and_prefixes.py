"""search: titles read from an index, a last word's prefix listed from FTS5's vocabulary

- The sidebar's index on chat_sessions (user_id, updated_at, session_id) gains the title, so
  that a search tests every title of the user without visiting the table: 1.2 ms for 2,000
  titles became 0.2 ms on SQLite. Same name, same order: the sidebar reads it as before.
- SQLite: `message_search_terms`, an fts5vocab table over message_search, lists the indexed
  words that begin with the last word of a query. A prefix query merges the whole postings of
  every such word before giving its first row (3 ms for a word in all 100k messages of a
  user); the few words listed this way are asked for by name instead, which FTS5 streams
  newest first and stops at once (memory/search.py). The vocabulary is FTS5's own view of its
  index: nothing is stored, so it is exact after every delete and needs no erasure of its own.
- PostgreSQL: one function, `message_search_hits`, does in one call what memory/search.py did
  in up to six round trips through 0005's two functions (a walk down the user's newest
  messages in growing windows, then the GIN index): it walks in the server and turns to the
  GIN index by the same rule, and stops as soon as every session of the user is found. 0005's
  functions are dropped with it; a downgrade makes them again from 0005 itself.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SIDEBAR_INDEX = "ix_chat_sessions_user_recent"


# The walk's rule (memory/search.py had it in Python): windows of 100 messages doubling to
# 1,600. Walking costs about 1 us a message, the GIN path 2.5-7 us a hit of the user (every
# one of them, whatever the limit): walk on while at least one message in 20 matches; past
# 3,200 messages walked, only while one in 7 does; else the GIN index finds the older hits.
_SEARCH_HITS = """
CREATE FUNCTION message_search_hits(owner VARCHAR, wanted INTEGER, query TSQUERY)
RETURNS TABLE (message_id BIGINT, session_id VARCHAR)
LANGUAGE plpgsql STABLE
SET enable_bitmapscan = off SET enable_seqscan = off
AS $$
DECLARE
    seen VARCHAR[] := '{}';
    sessions INTEGER;
    walked INTEGER := 0;
    window_size INTEGER := 100;
    in_window INTEGER := 0;
    window_hits INTEGER := 0;
    last_id BIGINT := NULL;
    walked_row RECORD;
BEGIN
    SELECT count(*) INTO sessions FROM chat_sessions AS c WHERE c.user_id = owner;
    wanted := least(wanted, sessions);
    IF wanted < 1 THEN
        RETURN;
    END IF;
    -- Down the btree (user_id, message_id DESC), never a scan and a sort of all the user's
    -- rows: with bitmap and sequential scans off (the SET clause above) the index is the one
    -- way left, whatever plan this statement gets cached with.
    FOR walked_row IN
        SELECT s.message_id, s.session_id, s.terms @@ query AS matches
        FROM message_search AS s WHERE s.user_id = owner ORDER BY s.message_id DESC
    LOOP
        last_id := walked_row.message_id;
        in_window := in_window + 1;
        IF walked_row.matches THEN
            window_hits := window_hits + 1;
            IF NOT walked_row.session_id = ANY (seen) THEN
                seen := seen || walked_row.session_id;
                message_id := walked_row.message_id;
                session_id := walked_row.session_id;
                RETURN NEXT;
                IF cardinality(seen) >= wanted THEN
                    RETURN;
                END IF;
            END IF;
        END IF;
        IF in_window = window_size THEN
            walked := walked + in_window;
            EXIT WHEN window_hits * 20 < in_window;
            EXIT WHEN walked >= 3200 AND window_hits * 7 < in_window;
            window_size := least(window_size * 2, 1600);
            in_window := 0;
            window_hits := 0;
        END IF;
    END LOOP;
    IF in_window < window_size OR last_id IS NULL THEN
        RETURN;  -- every message of the user was walked
    END IF;
    -- The hits older than the walk, from the GIN index (the owner key is in every lexeme: no
    -- other user's posting is read), never from a scan filtered by the word; MATERIALIZED
    -- keeps the owner's btree out of the GIN scan. Planned here, with bitmap scans on.
    PERFORM set_config('enable_bitmapscan', 'on', true);
    RETURN QUERY EXECUTE
        'WITH hits AS MATERIALIZED (SELECT h.message_id, h.user_id, h.session_id '
        'FROM message_search AS h WHERE h.terms @@ $1) '
        'SELECT max(h.message_id), h.session_id FROM hits AS h '
        'WHERE h.user_id = $2 AND h.message_id < $3 AND NOT h.session_id = ANY ($4) '
        'GROUP BY h.session_id ORDER BY max(h.message_id) DESC LIMIT $5'
        USING query, owner, last_id, seen, wanted - cardinality(seen);
END
$$
"""
_OLD_FUNCTIONS = (
    "message_search_sessions(VARCHAR, BIGINT, INTEGER, TSQUERY)",
    "message_search_recent(VARCHAR, BIGINT, INTEGER, TSQUERY)",
)


def upgrade() -> None:
    # Dropped and made again rather than altered: neither engine adds a column to an index.
    op.drop_index(_SIDEBAR_INDEX, table_name="chat_sessions")
    op.create_index(
        _SIDEBAR_INDEX, "chat_sessions", ["user_id", "updated_at", "session_id", "title"]
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE message_search_terms USING fts5vocab(message_search, row)")
        return
    for function in _OLD_FUNCTIONS:
        op.execute(f"DROP FUNCTION {function}")
    op.execute(_SEARCH_HITS)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS message_search_terms")
    else:
        op.execute("DROP FUNCTION IF EXISTS message_search_hits(VARCHAR, INTEGER, TSQUERY)")
        revision_0005 = op.get_context().script.get_revision("0005")
        revision_0005.module._create_search_functions()
    op.drop_index(_SIDEBAR_INDEX, table_name="chat_sessions")
    op.create_index(_SIDEBAR_INDEX, "chat_sessions", ["user_id", "updated_at", "session_id"])
