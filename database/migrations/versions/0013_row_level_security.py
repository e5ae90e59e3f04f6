"""row-level security on PostgreSQL: every chat row is seen and written only for its owner

The tables that hold chat content (chat_sessions, chat_messages, and the search index:
message_search, search_owners, session_terms) get ROW LEVEL SECURITY, enabled and FORCEd, so
the table owner is held to it too unless its role has BYPASSRLS. A row is visible and writable
only while the transaction's `app.user_id` (set with set_config(..., true) by
database/row_security.py) names its owner; with no setting nothing is visible.
session_terms has no user column: its terms carry the owner's search key (`17xjava`).

One more way in, for reading only: an administrator's audited look at one chat. While
`app.audit_id` names an audit_log row that records this very administrator (`app.user_id`,
still an enabled admin) opening this owner's chat (history_viewed) less than
AUDITED_READ_MINUTES ago, that chat's session and messages are readable.

What must cross owners goes through SECURITY DEFINER functions that return only what they are
for (they run as the migration's role, which must therefore bypass RLS, as the documented
owner role does):
- chat_expired_sessions(cutoff, wanted): the keys of chats not updated since `cutoff`, locked
  FOR UPDATE, for the retention purge (which then deletes them owner by owner);
- chat_sessions_outline(owner, wanted): one user's chats without their titles, for the admin
  page's choice before a reason is given;
- chat_messages_per_day(start, end, humans): messages, or distinct writers, per UTC day;
- chat_usage(owners): sessions, messages and characters per user.

SQLite has no row security: there isolation stays in the application's queries (README).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUDITED_READ_MINUTES = 10

_OWNER = "NULLIF(current_setting('app.user_id', true), '')"

_AUDITED_CHAT = f"""
CREATE FUNCTION chat_audited_chat() RETURNS TABLE (owner_id VARCHAR, chat_id VARCHAR)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT a.subject_user_id, a.session_id
    FROM audit_log AS a JOIN users AS u ON u.id = a.actor_id
    WHERE a.id = CASE WHEN current_setting('app.audit_id', true) ~ '^[0-9]{{1,18}}$'
                      THEN current_setting('app.audit_id', true)::BIGINT END
    AND a.action = 'history_viewed'
    AND a.actor_id = {_OWNER}
    AND u.role = 'admin' AND NOT u.disabled
    AND a.at > now() - interval '{AUDITED_READ_MINUTES} minutes'
$$
"""

# Scalar subqueries: each is computed once per statement (an InitPlan), not once per row.
_OWN = f"user_id = {_OWNER}"
_AUDITED = (
    "user_id = (SELECT owner_id FROM chat_audited_chat()) "
    "AND session_id = (SELECT chat_id FROM chat_audited_chat())"
)
_OWN_TERMS = (
    "starts_with(term, (SELECT o.key::TEXT || 'x' FROM search_owners AS o "
    f"WHERE o.user_id = {_OWNER}))"
)

_EXPIRED_SESSIONS = """
CREATE FUNCTION chat_expired_sessions(cutoff TIMESTAMPTZ, wanted INTEGER)
RETURNS TABLE (user_id VARCHAR, session_id VARCHAR)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT c.user_id, c.session_id FROM chat_sessions AS c
    WHERE c.updated_at < cutoff ORDER BY c.updated_at LIMIT wanted FOR UPDATE
$$
"""

_SESSIONS_OUTLINE = """
CREATE FUNCTION chat_sessions_outline(owner VARCHAR, wanted INTEGER)
RETURNS TABLE (session_id VARCHAR, created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ,
               message_count INTEGER, shelf VARCHAR)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT c.session_id, c.created_at, c.updated_at, c.message_count, c.shelf
    FROM chat_sessions AS c WHERE c.user_id = owner
    ORDER BY c.updated_at DESC, c.session_id DESC LIMIT wanted
$$
"""

_MESSAGES_PER_DAY = """
CREATE FUNCTION chat_messages_per_day(first TIMESTAMPTZ, last TIMESTAMPTZ, writers BOOLEAN)
RETURNS TABLE (day DATE, n BIGINT)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT CAST(timezone('UTC', m.created_at) AS DATE) AS day,
           CASE WHEN writers THEN count(DISTINCT m.user_id) ELSE count(*) END
    FROM chat_messages AS m
    WHERE m.created_at >= first AND m.created_at < last AND (NOT writers OR m.role = 'human')
    GROUP BY 1
$$
"""

_USAGE = """
CREATE FUNCTION chat_usage(owners VARCHAR[])
RETURNS TABLE (user_id VARCHAR, sessions BIGINT, messages BIGINT, characters BIGINT)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT o.user_id,
           (SELECT count(*) FROM chat_sessions AS c WHERE c.user_id = o.user_id),
           (SELECT count(*) FROM chat_messages AS m WHERE m.user_id = o.user_id),
           (SELECT coalesce(sum(length(m.content)), 0) FROM chat_messages AS m
            WHERE m.user_id = o.user_id)
    FROM unnest(owners) AS o(user_id)
$$
"""

_FUNCTIONS = {
    "chat_audited_chat()": _AUDITED_CHAT,
    "chat_expired_sessions(TIMESTAMPTZ, INTEGER)": _EXPIRED_SESSIONS,
    "chat_sessions_outline(VARCHAR, INTEGER)": _SESSIONS_OUTLINE,
    "chat_messages_per_day(TIMESTAMPTZ, TIMESTAMPTZ, BOOLEAN)": _MESSAGES_PER_DAY,
    "chat_usage(VARCHAR[])": _USAGE,
}

# table -> (its own-rows rule, the audited read rule or None)
_TABLES = {
    "chat_sessions": (_OWN, _AUDITED),
    "chat_messages": (_OWN, _AUDITED),
    "message_search": (_OWN, None),
    "search_owners": (_OWN, None),
    "session_terms": (_OWN_TERMS, None),
}


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for signature, body in _FUNCTIONS.items():
        op.execute(body)
        # Only roles granted EXECUTE (database/row_security.py grants the app's) may call them.
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
    for table, (own, audited) in _TABLES.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY {table}_owner ON {table} USING ({own}) WITH CHECK ({own})")
        if audited is not None:
            op.execute(
                f"CREATE POLICY {table}_audited_read ON {table} FOR SELECT USING ({audited})"
            )


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for table, (_own, audited) in _TABLES.items():
        if audited is not None:
            op.execute(f"DROP POLICY {table}_audited_read ON {table}")
        op.execute(f"DROP POLICY {table}_owner ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    for signature in _FUNCTIONS:
        op.execute(f"DROP FUNCTION {signature}")
