"""the auditor's role reads nothing but the chat its audit row names, and only for this database

Migration 0014 gave the audited read a role of its own, chat_auditor. A role belongs to the
cluster, not to one database, so every app role on the cluster is a member of the same one.
Taking it left two ways around the audit:
- 0013's owner policy applies to every role, chat_auditor included: with `app.user_id` set to
  any user, the auditor's role read that user's chats, no audit row needed;
- the app role of another database on the cluster (CONNECT is PUBLIC's by default) could take
  chat_auditor here and read what this database's owner policy or a fresh audit row opened.

A RESTRICTIVE policy for chat_auditor now ANDs two conditions onto whatever the permissive
policies allow it:
- the row is the chat that `app.audit_id`'s audit row records (0013's chat_audited_chat()),
  so the owner policy opens nothing to it;
- the login role (session_user, which SET ROLE does not change) may write this table: this
  database's app role or its owner. Another database's app role has no privilege here.
Both are scalar subqueries, computed once per statement, and only on the auditor's queries:
the app's own queries never take the role, so their cost (README) is unchanged.

The downgrade drops the two policies and so gives back 0014's behaviour, gap included.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUDITOR = "chat_auditor"
_AUDITED_TABLES = ("chat_sessions", "chat_messages")


def _held_to_its_audit(table: str) -> str:
    return (
        f"(SELECT has_table_privilege(session_user, 'public.{table}', 'INSERT')) "
        "AND user_id = (SELECT owner_id FROM chat_audited_chat()) "
        "AND session_id = (SELECT chat_id FROM chat_audited_chat())"
    )


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for table in _AUDITED_TABLES:
        op.execute(
            f"CREATE POLICY {table}_auditor_held ON {table} AS RESTRICTIVE FOR SELECT "
            f"TO {AUDITOR} USING ({_held_to_its_audit(table)})"
        )


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for table in _AUDITED_TABLES:
        op.execute(f"DROP POLICY {table}_auditor_held ON {table}")
