"""full-text search: an index of every message, one per engine, keyed by owner

`search_owners` gives each user who has messages a small integer key; the index stores each
message's normalised words prefixed with that key (`17xjava`), so a user's search reads only
that user's terms (memory/search.py explains the matching rule and the measurements).
- SQLite: an FTS5 table `message_search(terms)` whose rowid is chat_messages.id, and an AFTER
  DELETE trigger on chat_messages that removes a message's entry, whoever deletes it.
  A later revision that rebuilds chat_messages with batch_alter_table (SQLite's copy-and-move)
  drops this trigger with the old table: it must create it again.
- PostgreSQL: a table `message_search(message_id, user_id, session_id, terms tsvector)`
  referencing chat_messages ON DELETE CASCADE, with a GIN index on terms and a btree on
  (user_id, message_id DESC) for walking a user's newest messages. It carries the session id
  so that neither way of searching has to visit chat_messages for each hit. Two SQL functions,
  message_search_recent and message_search_sessions, are those two ways of searching, each
  held to its plan.
Existing messages are indexed here, in batches, by the app's own normaliser
(memory.search.indexed_terms), imported rather than copied: an index is only right when built
by the normaliser the queries use, and a frozen copy would build, on every database migrated
after the normaliser changes, an index the queries disagree with until a re-indexing revision
repairs it. The price is that `indexed_terms(owner_key, content) -> str` must keep its
signature for this revision's sake. The DDL, by contrast, is written out here and never changes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import Connection, TextClause, text

from memory.search import indexed_terms

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Messages normalised and written per statement: bounded memory whatever the table's size.
BACKFILL_BATCH = 2_000

_MESSAGES_TO_INDEX = text(
    "SELECT m.id, m.user_id, m.session_id, o.key, m.content FROM chat_messages AS m "
    "JOIN search_owners AS o ON o.user_id = m.user_id "
    "WHERE m.id > :after ORDER BY m.id LIMIT :batch"
)


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        _create_for_sqlite(conn)
        _backfill(
            conn,
            text("INSERT INTO message_search (rowid, terms) VALUES (:id, :terms)"),
        )
        return
    _create_for_postgres(conn)
    _backfill(
        conn,
        text(
            "INSERT INTO message_search (message_id, user_id, session_id, terms) "
            "VALUES (:id, :user_id, :session_id, to_tsvector('simple', :terms))"
        ),
    )
    # Built after the backfill: one sort per index instead of a million inserts into each.
    # fastupdate off: GIN's pending list (up to 4 MB until a vacuum flushes it) is read in
    # full by every search. Messages arrive one at a time, so writing each straight into the
    # index costs little and keeps a search's time the same between vacuums.
    op.execute(
        "CREATE INDEX ix_message_search_terms ON message_search USING gin (terms) "
        "WITH (fastupdate = off)"
    )
    op.execute(
        "CREATE INDEX ix_message_search_user_recent ON message_search (user_id, message_id DESC)"
    )
    _create_search_functions()


def _create_search_functions() -> None:
    """The two ways memory/search.py searches, each pinned to its plan by a SET clause (which
    also keeps PostgreSQL from inlining the function, so the setting holds when it plans)."""
    # The walk must go down the btree in order and stop at the window: never a bitmap scan
    # of all the user's rows followed by a sort.
    op.execute(
        "CREATE FUNCTION message_search_recent("
        "owner VARCHAR, before BIGINT, wanted INTEGER, query TSQUERY) "
        "RETURNS TABLE (message_id BIGINT, session_id VARCHAR, matches BOOLEAN) "
        "LANGUAGE sql STABLE SET enable_bitmapscan = off AS $$ "
        "SELECT s.message_id, s.session_id, s.terms @@ query FROM message_search AS s "
        "WHERE s.user_id = owner AND s.message_id < before "
        "ORDER BY s.message_id DESC LIMIT wanted $$"
    )
    # The hits must come from the GIN index, never from a scan of the table (or of the user's
    # rows) filtered by the word; MATERIALIZED keeps the owner's btree out of the GIN scan.
    op.execute(
        "CREATE FUNCTION message_search_sessions("
        "owner VARCHAR, before BIGINT, wanted INTEGER, query TSQUERY) "
        "RETURNS TABLE (session_id VARCHAR, newest BIGINT) "
        "LANGUAGE sql STABLE SET enable_seqscan = off AS $$ "
        "WITH hits AS MATERIALIZED (SELECT s.message_id, s.user_id, s.session_id "
        "FROM message_search AS s WHERE s.terms @@ query) "
        "SELECT h.session_id, max(h.message_id) AS newest FROM hits AS h "
        "WHERE h.user_id = owner AND h.message_id < before "
        "GROUP BY h.session_id ORDER BY newest DESC LIMIT wanted $$"
    )


def _create_for_sqlite(conn: Connection) -> None:
    op.execute(
        "CREATE TABLE search_owners ("
        "user_id VARCHAR(255) NOT NULL, key INTEGER NOT NULL, "
        "CONSTRAINT pk_search_owners PRIMARY KEY (user_id), "
        "CONSTRAINT uq_search_owners_key UNIQUE (key))"
    )
    # The terms are normalised already (memory/search.py): FTS5 must split them only at the
    # spaces, so marks (M*) count as word characters and no diacritic is removed a second
    # time. columnsize=0: nothing is ranked, so no row's length need be kept.
    op.execute(
        "CREATE VIRTUAL TABLE message_search USING fts5(terms, "
        "tokenize = \"unicode61 remove_diacritics 0 categories 'L* N* Co M*'\", columnsize = 0)"
    )
    op.execute(
        "CREATE TRIGGER chat_messages_search_delete AFTER DELETE ON chat_messages "
        "BEGIN DELETE FROM message_search WHERE rowid = OLD.id; END"
    )
    conn.execute(
        text(
            "INSERT INTO search_owners (user_id, key) "
            "SELECT user_id, row_number() OVER (ORDER BY user_id) "
            "FROM (SELECT DISTINCT user_id FROM chat_messages)"
        )
    )


def _create_for_postgres(conn: Connection) -> None:
    op.execute(
        "CREATE TABLE search_owners ("
        "user_id VARCHAR(255) NOT NULL, key INTEGER GENERATED BY DEFAULT AS IDENTITY NOT NULL, "
        "CONSTRAINT pk_search_owners PRIMARY KEY (user_id), "
        "CONSTRAINT uq_search_owners_key UNIQUE (key))"
    )
    op.execute(
        "CREATE TABLE message_search ("
        "message_id BIGINT NOT NULL, user_id VARCHAR(255) NOT NULL, "
        "session_id VARCHAR(255) NOT NULL, terms TSVECTOR NOT NULL, "
        "CONSTRAINT pk_message_search PRIMARY KEY (message_id), "
        "CONSTRAINT fk_message_search_message_id_chat_messages FOREIGN KEY (message_id) "
        "REFERENCES chat_messages (id) ON DELETE CASCADE)"
    )
    conn.execute(
        text(
            "INSERT INTO search_owners (user_id) "
            "SELECT DISTINCT user_id FROM chat_messages ORDER BY user_id"
        )
    )


def _backfill(conn: Connection, insert: TextClause) -> None:
    after = 0
    while True:
        rows = conn.execute(_MESSAGES_TO_INDEX, {"after": after, "batch": BACKFILL_BATCH}).all()
        if not rows:
            return
        entries = [
            {"id": row.id, "user_id": row.user_id, "session_id": row.session_id, "terms": terms}
            for row in rows
            if (terms := indexed_terms(row.key, row.content))
        ]
        if entries:
            conn.execute(insert, entries)
        after = rows[-1].id


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS chat_messages_search_delete")
    else:
        op.execute(
            "DROP FUNCTION IF EXISTS message_search_sessions(VARCHAR, BIGINT, INTEGER, TSQUERY)"
        )
        op.execute(
            "DROP FUNCTION IF EXISTS message_search_recent(VARCHAR, BIGINT, INTEGER, TSQUERY)"
        )
    # On SQLite this also drops FTS5's own shadow tables (message_search_data, ..._idx...).
    op.execute("DROP TABLE IF EXISTS message_search")
    op.execute("DROP TABLE IF EXISTS search_owners")
