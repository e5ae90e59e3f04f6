"""The account a verified single sign-on belongs to: found by (issuer, subject), or created
for it. An email address links nothing: the provider may give it to someone else later, and a
password account that happens to share it stays a different account.

A new account takes its username from the configured claim (OIDC_USERNAME_CLAIM), made to fit
the username rule, with -2, -3, ... when the name is taken. It has no password (an empty hash
matches none), so it signs in only through the provider. Like a password sign-up, the first
account of an empty instance is its admin, and a new account needs sign-up open."""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, update

import audit
from accounts.errors import AccountsUnavailable
from accounts.models import User
from accounts.transactions import serialised_transaction
from accounts.users import (
    ACCOUNT_COLUMNS,
    ACCOUNTS_KEY,
    ADMIN,
    USER,
    Account,
    account_from_row,
    has_accounts,
    signup_enabled,
)
from accounts.validation import MAX_DISPLAY_NAME_CHARS, MAX_EMAIL_CHARS, MAX_USERNAME_CHARS
from audit.log import append_events
from database import utcnow
from database.outages import module_outages_raise
from sso.errors import AccountDisabled, IdentityTaken, SignupClosed
from sso.flow import VerifiedLogin
from sso.models import Identity

# What a username is made of (accounts/validation.py); anything else becomes a dash.
_NOT_USERNAME = re.compile(r"[^a-z0-9._-]+")
FALLBACK_USERNAME = "user"
# An account without a password: bcrypt matches no password against it.
NO_PASSWORD = ""

_users = User.__table__
_identities = Identity.__table__


def username_from_claim(value: object) -> str:
    """The part of a claim that can be a username: lower-case, accents dropped, an email's
    domain dropped, anything else a dash; at least 3 characters, with room for a suffix."""
    text = value if isinstance(value, str) else ""
    text = text.split("@", 1)[0] if "@" in text else text
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    text = _NOT_USERNAME.sub("-", text).strip(".-_")[: MAX_USERNAME_CHARS - 6].rstrip(".-_")
    if len(text) < 3:
        return FALLBACK_USERNAME if not text else f"{text}-{FALLBACK_USERNAME}"
    return text


def _free_username(conn: Connection, base: str) -> str:
    """`base`, or the first of base-2, base-3, ... nobody has."""
    taken = set(
        conn.scalars(
            select(_users.c.username).where(
                (_users.c.username == base) | _users.c.username.like(f"{base}-%")
            )
        )
    )
    if base not in taken:
        return base
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"


def _text_claim(claims: dict[str, Any], name: str, limit: int) -> str:
    value = claims.get(name)
    if not isinstance(value, str):
        return ""
    # Invisible characters go first, so the spaces they hid are stripped too.
    value = "".join(char for char in value if unicodedata.category(char)[0] != "C").strip()
    return value[:limit].strip()


def _email(claims: dict[str, Any]) -> str:
    email = _text_claim(claims, "email", MAX_EMAIL_CHARS + 1)
    # Cut short, it would be another address: one too long is not kept at all.
    usable = len(email) <= MAX_EMAIL_CHARS and "@" in email
    return email if usable and not any(char.isspace() for char in email) else ""


def account_for_login(
    engine: Engine, login: VerifiedLogin, *, username_claim: str, now: datetime | None = None
) -> Account:
    """The account of `login`'s (issuer, subject), created if there is none. Raises
    AccountDisabled for a disabled account, SignupClosed when a new one would be needed and
    sign-up is closed."""
    now = now or utcnow()
    email = _email(login.claims)
    key = (_identities.c.issuer == login.issuer) & (_identities.c.subject == login.subject)
    with serialised_transaction(engine, key=ACCOUNTS_KEY) as conn:
        row = conn.execute(
            select(*ACCOUNT_COLUMNS)
            .select_from(_identities.join(_users, _users.c.id == _identities.c.user_id))
            .where(key)
        ).first()
        if row is not None:
            account = account_from_row(row)
            if account.disabled:
                raise AccountDisabled("this account is disabled")
            conn.execute(update(_identities).where(key).values(last_sign_in_at=now, email=email))
            return account
        first = not has_accounts(conn)
        if not first and not signup_enabled(engine):
            raise SignupClosed("no account has this identity and sign-up is closed")
        username = _free_username(conn, username_from_claim(login.claims.get(username_claim)))
        account = Account(
            id=uuid.uuid4().hex,
            username=username,
            display_name=_text_claim(login.claims, "name", MAX_DISPLAY_NAME_CHARS) or username,
            email=email,
            role=ADMIN if first else USER,
            disabled=False,
            created_at=now,
            last_active_at=None,
            sessions_valid_after=now,
            locked_until=None,
        )
        conn.execute(
            _users.insert().values(
                id=account.id,
                username=account.username,
                display_name=account.display_name,
                email=account.email,
                password_hash=NO_PASSWORD,
                role=account.role,
                disabled=False,
                created_at=now,
                last_active_at=None,
                sessions_valid_after=now,
                locked_until=None,
                password_expires_at=None,
            )
        )
        conn.execute(
            _identities.insert().values(
                issuer=login.issuer,
                subject=login.subject,
                user_id=account.id,
                email=email,
                created_at=now,
                last_sign_in_at=now,
            )
        )
        append_events(
            conn,
            action=audit.USER_CREATED,
            actor_id=None,
            events=[(account.id, f"single sign-on: role={account.role}")],
            now=now,
        )
    return account


def link_identity(
    engine: Engine, login: VerifiedLogin, *, user_id: str, now: datetime | None = None
) -> None:
    """Link `login`'s identity to the account `user_id` (which signs in with it from then on,
    besides its password). Raises IdentityTaken when the identity already belongs to another
    account, AccountDisabled when `user_id` is gone or disabled."""
    now = now or utcnow()
    key = (_identities.c.issuer == login.issuer) & (_identities.c.subject == login.subject)
    with serialised_transaction(engine, key=ACCOUNTS_KEY) as conn:
        enabled = conn.scalar(
            select(_users.c.id).where(_users.c.id == user_id, _users.c.disabled.is_(False))
        )
        if enabled is None:
            raise AccountDisabled("the account to link is disabled or gone")
        owner = conn.scalar(select(_identities.c.user_id).where(key))
        if owner is not None and owner != user_id:
            raise IdentityTaken("this provider account already belongs to another account")
        email = _email(login.claims)
        if owner == user_id:
            conn.execute(update(_identities).where(key).values(last_sign_in_at=now, email=email))
            return
        conn.execute(
            _identities.insert().values(
                issuer=login.issuer,
                subject=login.subject,
                user_id=user_id,
                email=email,
                created_at=now,
                last_sign_in_at=now,
            )
        )


def identities_of(engine: Engine, *, user_id: str) -> list[dict[str, Any]]:
    """The provider identities an account signs in with (for its export and the admin)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                _identities.c.issuer,
                _identities.c.subject,
                _identities.c.email,
                _identities.c.created_at,
                _identities.c.last_sign_in_at,
            )
            .where(_identities.c.user_id == user_id)
            .order_by(_identities.c.created_at)
        ).all()
    return [dict(row._mapping) for row in rows]


def sign_in_ways(engine: Engine, user_ids: list[str]) -> dict[str, str]:
    """How each of `user_ids` signs in: "password", "single sign-on" or "password or single
    sign-on" (one query, for a page of users)."""
    if not user_ids:
        return {}
    linked = users_with_identities(engine, user_ids)
    with engine.connect() as conn:
        rows = conn.execute(
            select(_users.c.id, _users.c.password_hash != NO_PASSWORD).where(
                _users.c.id.in_(user_ids)
            )
        ).all()
    ways = {}
    for user_id, has_password in rows:
        if user_id not in linked:
            ways[user_id] = "password"
        else:
            ways[user_id] = "password or single sign-on" if has_password else "single sign-on"
    return ways


def users_with_identities(engine: Engine, user_ids: list[str]) -> set[str]:
    """Which of `user_ids` sign in through a provider (one query, for a page of users)."""
    if not user_ids:
        return set()
    with engine.connect() as conn:
        return set(
            conn.scalars(
                select(_identities.c.user_id).where(_identities.c.user_id.in_(user_ids)).distinct()
            )
        )


# Every public function here reports an unreachable database as AccountsUnavailable.
module_outages_raise(globals(), AccountsUnavailable)
