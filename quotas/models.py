"""Tables of the quotas core: per-user limits, and what each user has used on each day."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from database import Base


class UserQuota(Base):
    """One user's own limits. A NULL column follows the instance's default."""

    __tablename__ = "user_quotas"

    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    messages_per_day: Mapped[int | None] = mapped_column(Integer)
    tokens_per_day: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime]


class QuotaUse(Base):
    """What one user spent on one UTC day: questions sent to the model, and approximate tokens
    (prompt plus answer, counted as the context budget counts them). One row per day, so a
    question's check and its count are one conditional UPDATE of one row."""

    __tablename__ = "quota_use"

    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    messages: Mapped[int] = mapped_column(Integer, default=0)
    tokens: Mapped[int] = mapped_column(Integer, default=0)
