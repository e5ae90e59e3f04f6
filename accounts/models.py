"""Tables of the accounts core: users, failed sign-ins, server-side sign-ins and the browsers
that have signed in to an account before."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from database import Base


class User(Base):
    """One account: the normalised username, a bcrypt hash, the role and its switches."""

    __tablename__ = "users"

    # Opaque and stable: chat histories and the audit log refer to this, never to the name.
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(255), default="")
    password_hash: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16), default="user")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    last_active_at: Mapped[datetime | None]
    # Cookies issued before this instant are refused: sign-out, password change and disabling
    # move it forward, which revokes every cookie the user holds.
    sessions_valid_after: Mapped[datetime]
    # A mirror of the latest lock on the username, for the admin page (accounts/lockout.py).
    locked_until: Mapped[datetime | None]
    # Set while the password is a temporary one (accounts/bulk_import.py): it must be replaced
    # at first sign-in, and signs nobody in after this time.
    password_expires_at: Mapped[datetime | None]


class LoginFailure(Base):
    """One failed (or not yet checked) sign-in: the username typed, which need not exist, and
    the client it came from ("local", an IP address, or "" for the operator CLI)."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    username: Mapped[str] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(64), default="", server_default="")
    at: Mapped[datetime]

    __table_args__ = (
        # The name's ceiling across every client.
        Index("ix_login_failures_username_at", "username", "at"),
        # The lock of one (name, client) pair.
        Index("ix_login_failures_username_client_at", "username", "client", "at"),
    )


class SignInRecord(Base):
    """One server-side sign-in. The browser's cookie is a random token of which only the
    SHA-256 is kept; until the handover ticket is exchanged for that cookie, `token_hash` is
    NULL and the handover columns hold the ticket's hash, the browser it is bound to and its
    expiry (accounts/sign_ins.py)."""

    __tablename__ = "sign_ins"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    handover_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    handover_browser: Mapped[str | None] = mapped_column(String(64))
    handover_expires_at: Mapped[datetime | None]
    next_path: Mapped[str] = mapped_column(String(2048), default="/")
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    device: Mapped[str] = mapped_column(String(100))

    __table_args__ = (
        Index("ix_sign_ins_user_id_created_at", "user_id", "created_at"),
        # What prune_sign_ins deletes.
        Index("ix_sign_ins_expires_at", "expires_at"),
    )


class KnownBrowser(Base):
    """A browser (the SHA-256 of its "browser" cookie) that has signed in to this account:
    the name's ceiling on failed sign-ins does not shut it out (accounts/lockout.py)."""

    __tablename__ = "known_browsers"

    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    browser_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_sign_in_at: Mapped[datetime]
