"""Operator settings changed at run time from the admin page (sign-up switch, retention)."""

from __future__ import annotations

from sqlalchemy import Engine, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from database.base import Base
from database.engine import upsert_ignore, write_transaction


class AppSetting(Base):
    __tablename__ = "app_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


def read_setting(engine: Engine, key: str) -> str | None:
    """The stored value of `key`, or None if it was never set."""
    with engine.connect() as conn:
        return conn.scalar(select(AppSetting.value).where(AppSetting.key == key))


def write_setting(engine: Engine, key: str, value: str) -> None:
    """Store `value` under `key`, replacing what was there."""
    table = AppSetting.__table__
    with write_transaction(engine) as conn:
        conn.execute(upsert_ignore(conn, table).values(key=key, value=value))
        conn.execute(table.update().where(table.c.key == key).values(value=value))
