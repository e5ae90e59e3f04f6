"""Tables of single sign-on: which provider identity belongs to which account, and the sign-ins
that went to the provider and have not come back yet."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from database import Base


class Identity(Base):
    """An account's identity at an OpenID provider: the provider's issuer and its `sub` for the
    person, which together never change and are never given to anyone else. Never the email:
    a provider may give an email address to someone else later."""

    __tablename__ = "sso_identities"

    issuer: Mapped[str] = mapped_column(String(255), primary_key=True)
    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), ForeignKey("users.id", ondelete="CASCADE"))
    # What the provider last said, shown to the admin and exported; never used to match.
    email: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime]
    last_sign_in_at: Mapped[datetime]

    __table_args__ = (Index("ix_sso_identities_user_id", "user_id"),)


class PendingLogin(Base):
    """A sign-in sent to the provider: what its answer must match. Keyed on the SHA-256 of the
    `state` the browser carries, bound to that browser's cookie, used at most once."""

    __tablename__ = "sso_logins"

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))
    browser_hash: Mapped[str] = mapped_column(String(64))
    redirect_uri: Mapped[str] = mapped_column(String(2048))
    next_path: Mapped[str] = mapped_column(String(2048), default="/")
    # Set when a signed-in account links this identity to itself instead of signing in.
    link_user_id: Mapped[str | None] = mapped_column(String(32))
    expires_at: Mapped[datetime]

    __table_args__ = (Index("ix_sso_logins_expires_at", "expires_at"),)
