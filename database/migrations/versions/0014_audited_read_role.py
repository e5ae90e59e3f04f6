"""the admin's audited read gets a role of its own, off the app's everyday queries

Migration 0013's audited-read policy on chat_sessions and chat_messages applied to every role.
So every SELECT the app made for a user carried it, permissive and so OR'd with the owner's
policy: two InitPlans on chat_audited_chat() to plan each time, and where the planner split
that OR into a BitmapOr (a small chat, as every chain turn reads) two calls of the function to
run, each planning its own query on audit_log and users. That was most of what row security
cost the app (README, "PostgreSQL roles and row-level security").

Now the policy applies TO chat_auditor only: a NOLOGIN role that may SELECT those two tables
and call chat_audited_chat(), nothing else. The app's role is a member that does not inherit
it (NOINHERIT: database/row_security.py's grant_app_role sets it and grants the membership;
on PostgreSQL 15 a grant cannot be made non-inheriting by itself), so the app's own queries
see the owner policy alone, which the planner folds into a one-time filter. An audited read
takes the role for its transaction only (`SET LOCAL ROLE chat_auditor` in act_for, undone at
COMMIT or ROLLBACK like the settings). The check is 0013's, unchanged: `app.audit_id` must
name an audit row that records this enabled admin opening this owner's chat less than
AUDITED_READ_MINUTES ago. Writing in that transaction is now refused by privilege as well.

Every other guarantee of 0013 stands: FORCEd row security on the five chat tables, the owner
policy, the SECURITY DEFINER functions and their grants.

The role belongs to the cluster, not to this database. It is created here if missing, which
takes CREATEROLE; a migration role without it needs a DBA to create it first (README). One
that exists already must not be a superuser nor bypass row security, or the app could read
everything by taking it. The downgrade gives the policies back to every role and revokes the
role's grants in this database; the role itself stays, as other databases may use it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUDITOR = "chat_auditor"
_AUDITED_TABLES = ("chat_sessions", "chat_messages")

# Roles are shared by every database of the cluster: another database's migration may be
# creating it at the same moment (duplicate_object), and one made by hand must not be able to
# bypass row security, since the app's role may take it.
_ENSURE_AUDITOR = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{AUDITOR}') THEN
        BEGIN
            CREATE ROLE {AUDITOR} NOLOGIN NOSUPERUSER NOBYPASSRLS;
        EXCEPTION
            WHEN duplicate_object THEN NULL;
            WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'role {AUDITOR} does not exist and % may not create it',
                    current_user
                USING HINT = 'As a superuser: CREATE ROLE {AUDITOR} NOLOGIN ADMIN '
                    || current_user || '; (README, "PostgreSQL roles")';
        END;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{AUDITOR}'
               AND (rolsuper OR rolbypassrls)) THEN
        RAISE EXCEPTION 'role {AUDITOR} bypasses row security: the app may take it';
    END IF;
END
$$
"""


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute(_ENSURE_AUDITOR)
    op.execute(f"GRANT USAGE ON SCHEMA public TO {AUDITOR}")
    op.execute(f"GRANT SELECT ON {', '.join(_AUDITED_TABLES)} TO {AUDITOR}")
    op.execute(f"GRANT EXECUTE ON FUNCTION chat_audited_chat() TO {AUDITOR}")
    for table in _AUDITED_TABLES:
        op.execute(f"ALTER POLICY {table}_audited_read ON {table} TO {AUDITOR}")


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for table in _AUDITED_TABLES:
        op.execute(f"ALTER POLICY {table}_audited_read ON {table} TO PUBLIC")
    op.execute(f"REVOKE ALL ON FUNCTION chat_audited_chat() FROM {AUDITOR}")
    op.execute(f"REVOKE ALL ON {', '.join(_AUDITED_TABLES)} FROM {AUDITOR}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {AUDITOR}")
