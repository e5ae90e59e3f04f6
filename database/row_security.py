"""Who a transaction works for, told to PostgreSQL so that its row-level security (migration
0013) can hold every chat query to that user.

Each transaction that touches chat content opens through `reading_for` or `writing_for`, which
call `act_for` first: `set_config('app.user_id', ..., true)`, local to the transaction, so
nothing outlives it on a pooled connection, behind SQLAlchemy's pool or PgBouncer in
transaction mode alike. A transaction that sets nothing sees no chat row. An admin's audited
read also takes the role AUDITOR_ROLE for its transaction (`SET LOCAL ROLE`): only that role
is under the audited-read policy (migration 0014), so the app's everyday queries do not carry
it. SQLite has no row security; there `act_for` does nothing and the store's own WHERE clauses
are the isolation.

`check_app_role` refuses a PostgreSQL role that would not be held to the policies (a
superuser, a role with BYPASSRLS, the owner of the chat tables, or one that may SET ROLE to
any of these) unless DATABASE_ALLOW_RLS_BYPASS says this is a development setup.
`grant_app_role` gives the app's role what it needs on the owner's tables, now and for what
later migrations create, and the audited reader's role to take (never to inherit)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import ProgrammingError

import settings
from database.engine import is_sqlite, write_transaction

# The chat tables that migration 0013 puts under row-level security.
PROTECTED_TABLES = (
    "chat_sessions",
    "chat_messages",
    "message_search",
    "search_owners",
    "session_terms",
)
# The cross-owner paths (SECURITY DEFINER functions of migration 0013) the app may call.
NARROW_FUNCTIONS = (
    "chat_audited_chat()",
    "chat_expired_sessions(TIMESTAMPTZ, INTEGER)",
    "chat_sessions_outline(VARCHAR, INTEGER)",
    "chat_messages_per_day(TIMESTAMPTZ, TIMESTAMPTZ, BOOLEAN)",
    "chat_usage(VARCHAR[])",
)
# Appended to, never changed (migration 0002): the app may read and add rows, nothing more.
_APPEND_ONLY = ("audit_log",)
# The role an admin's audited read runs as (migration 0014): the audited-read policy is its
# alone, and it may only SELECT the two tables that policy opens.
AUDITOR_ROLE = "chat_auditor"

_INSUFFICIENT_PRIVILEGE = "42501"

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

_USER = "set_config('app.user_id', :user_id, true)"
_AUDIT = "set_config('app.audit_id', :audit_id, true)"
# A read is made read only in the same round trip, so that it may end in COMMIT (reading_for).
_READ_ONLY = "set_config('transaction_read_only', 'on', true)"
# (naming an audit row, read only) -> the one statement that says all of it
_SETTINGS = {
    (audited, read_only): text(
        "SELECT "
        + ", ".join([_USER, *([_AUDIT] if audited else []), *([_READ_ONLY] if read_only else [])])
    )
    for audited in (False, True)
    for read_only in (False, True)
}
# LOCAL: undone at COMMIT or ROLLBACK, so the next transaction on the connection is the app's.
_BECOME_AUDITOR = text(f"SET LOCAL ROLE {AUDITOR_ROLE}")


class RowSecurityBypassed(RuntimeError):
    """The app's PostgreSQL role would see every user's chats: row security would not hold."""


def act_for(
    conn: Connection, user_id: str, *, audit_id: int | None = None, read_only: bool = False
) -> None:
    """From here to the end of the transaction, `conn` works for `user_id` (and, with
    `audit_id`, may read, and only read, the one chat that audit row records this admin
    opening); with `read_only`, the transaction may write nothing at all."""
    if is_sqlite(conn):
        return
    statement = _SETTINGS[(audit_id is not None, read_only)]
    if audit_id is None:
        conn.execute(statement, {"user_id": user_id})
    else:
        conn.execute(statement, {"user_id": user_id, "audit_id": str(audit_id)})
        conn.execute(_BECOME_AUDITOR)


@contextmanager
def reading_for(
    engine: Engine, user_id: str, *, audit_id: int | None = None
) -> Iterator[Connection]:
    """A connection whose transaction reads for `user_id`, read only; it ends on exit.

    A read that succeeds ends in COMMIT, with nothing to commit: psycopg forgets every
    prepared statement of its connection at each ROLLBACK, so with reads rolled back no query
    of the store ever reached psycopg's prepare_threshold (5 runs) and each was parsed and
    planned anew. A read that fails is rolled back."""
    with engine.connect() as conn:
        act_for(conn, user_id, audit_id=audit_id, read_only=True)
        yield conn
        conn.commit()


@contextmanager
def writing_for(engine: Engine, user_id: str) -> Iterator[Connection]:
    """A write transaction for `user_id`: committed on success, rolled back on any error."""
    with write_transaction(engine) as conn:
        act_for(conn, user_id)
        yield conn


def bypass_allowed() -> bool:
    return settings.get_bool("DATABASE_ALLOW_RLS_BYPASS", False)


def bypass_reasons(engine: Engine) -> list[str]:
    """Why the role `engine` connects as would not be held to row security (none: it is)."""
    if is_sqlite(engine):
        return []
    with engine.connect() as conn:
        role = conn.execute(
            text(
                "SELECT current_user AS name, rolsuper, rolbypassrls FROM pg_roles "
                "WHERE rolname = current_user"
            )
        ).one()
        # MEMBER, not USAGE: the app's role inherits no role (grant_app_role makes it
        # NOINHERIT) but could still SET ROLE to any role it is a member of.
        owned = conn.scalars(
            text(
                "SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n "
                "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
                "AND c.relname = ANY(:tables) AND pg_has_role(current_user, c.relowner, 'MEMBER')"
            ),
            {"tables": list(PROTECTED_TABLES)},
        ).all()
        # The app takes a role of its own for audited reads (AUDITOR_ROLE): any role it may
        # take must be held to row security as much as it is.
        lifted = conn.scalars(
            text(
                "SELECT rolname FROM pg_roles WHERE (rolsuper OR rolbypassrls) "
                "AND rolname <> current_user AND pg_has_role(current_user, oid, 'MEMBER')"
            )
        ).all()
    reasons = []
    if role.rolsuper:
        reasons.append(f"role {role.name} is a superuser")
    if role.rolbypassrls:
        reasons.append(f"role {role.name} has BYPASSRLS")
    if owned:
        reasons.append(f"role {role.name} owns {', '.join(sorted(owned))}")
    if lifted:
        reasons.append(
            f"role {role.name} may become {', '.join(sorted(lifted))}, "
            "which row security does not hold"
        )
    return reasons


def check_app_role(engine: Engine) -> None:
    """Raise RowSecurityBypassed when the app's role could read past row security, unless
    DATABASE_ALLOW_RLS_BYPASS is set (a development database with one role)."""
    reasons = bypass_reasons(engine)
    if reasons and not bypass_allowed():
        raise RowSecurityBypassed(
            "The app will not start: its PostgreSQL role could read every user's chats ("
            + "; ".join(reasons)
            + "). Connect DATABASE_URL as a role that owns no table and has neither "
            "SUPERUSER nor BYPASSRLS, run migrations with DATABASE_OWNER_URL (README, "
            '"PostgreSQL roles"), or set DATABASE_ALLOW_RLS_BYPASS=1 on a development machine.'
        )


def check_role_name(role: str) -> str:
    if not isinstance(role, str) or not _ROLE_NAME.match(role):
        raise ValueError(f"{role!r} is not a plain PostgreSQL role name (a-z, 0-9, _)")
    return role


def grant_app_role(owner: Engine, role: str) -> None:
    """As the tables' owner: let `role` use every table, sequence and narrow function of the
    schema, and whatever later migrations create (ALTER DEFAULT PRIVILEGES); and let it take
    AUDITOR_ROLE for an audited read without inheriting it."""
    role = check_role_name(role)
    if is_sqlite(owner):
        raise ValueError("roles exist on PostgreSQL only")
    with write_transaction(owner) as conn:
        _grant_auditor(conn, role)
        conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {role}"))
        conn.execute(
            text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
        )
        for table in _APPEND_ONLY:
            conn.execute(text(f"REVOKE UPDATE, DELETE ON {table} FROM {role}"))
        conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"))
        for signature in NARROW_FUNCTIONS:
            conn.execute(text(f"GRANT EXECUTE ON FUNCTION {signature} TO {role}"))
        conn.execute(
            text(
                "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE "
                f"ON TABLES TO {role}"
            )
        )
        conn.execute(
            text(
                f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}"
            )
        )


def _grant_auditor(conn: Connection, role: str) -> None:
    """Make `role` a member of AUDITOR_ROLE that does not inherit it. A policy TO a role holds
    every member that inherits it: inherited, the audited-read policy would be back on each of
    the app's queries, which is the cost migration 0014 removes. PostgreSQL 15 cannot make one
    grant non-inheriting (GRANT ... WITH INHERIT FALSE is 16's), so the role inherits nothing;
    it needs nothing inherited, as everything it uses is granted to it directly here."""
    inherits = conn.scalar(
        text("SELECT rolinherit FROM pg_roles WHERE rolname = :role"), {"role": role}
    )
    steps = [f"GRANT {AUDITOR_ROLE} TO {role}"]
    if inherits:
        steps.insert(0, f"ALTER ROLE {role} NOINHERIT")
    for step in steps:
        try:
            conn.execute(text(step))
        except ProgrammingError as error:
            if getattr(error.orig, "sqlstate", None) != _INSUFFICIENT_PRIVILEGE:
                raise
            raise ValueError(
                f"this role may not run {step!r}: run it as a superuser (README, "
                '"PostgreSQL roles"), then grant-app-role again'
            ) from error
