"""Tables of the accounts core: users and failed sign-ins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, Integer, String
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
    locked_until: Mapped[datetime | None]


class LoginFailure(Base):
    """One failed sign-in, by the username typed (which need not exist)."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    username: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]

    __table_args__ = (Index("ix_login_failures_username_at", "username", "at"),)
