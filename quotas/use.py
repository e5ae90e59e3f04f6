"""Daily quotas: the limits in force for a user, a question admitted or refused against them,
and what each user has used today.

A question is admitted by one conditional UPDATE of the user's row for today (its count + 1
within the limit, its tokens within theirs). On PostgreSQL a second UPDATE of the same row
waits for the first and re-checks the condition on the row the first left; on SQLite writers
queue (BEGIN IMMEDIATE). Either way two app processes can never both take a quota's last
question. Days are UTC days: a quota resets at midnight UTC, shown in the user's own zone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Connection, Engine, case, select, update

from database import utcnow
from database.app_settings import AppSetting, write_setting
from database.engine import upsert_ignore, write_transaction
from database.outages import DatabaseUnavailable, module_outages_raise
from quotas.models import QuotaUse, UserQuota

DEFAULT_MESSAGES_KEY = "quota_messages_per_day"
DEFAULT_TOKENS_KEY = "quota_tokens_per_day"
# Beyond this a limit means nothing a day could reach; it also keeps counts in an INTEGER.
MAX_LIMIT = 1_000_000_000

_use = QuotaUse.__table__
_user_quotas = UserQuota.__table__
_settings = AppSetting.__table__


class QuotaError(ValueError):
    """Base of every error the quotas core raises on purpose."""


class InvalidLimit(QuotaError):
    """A limit that is not a whole number between 0 and MAX_LIMIT."""


class QuotasUnavailable(QuotaError, DatabaseUnavailable):
    """The database cannot be reached now; nothing was counted."""


class QuotaExceeded(QuotaError):
    """Today's quota has no room for this question; it was not counted and not sent."""

    def __init__(self, *, kind: str, limit: int, resets_at: datetime, alone: bool = False) -> None:
        self.kind = kind
        self.limit = limit
        self.resets_at = resets_at
        # The question by itself is over the limit: no use today would have let it in.
        self.alone = alone
        plural = "" if limit == 1 else "s"
        self.unit = f"message{plural}" if kind == "messages" else f"token{plural} (approximately)"
        super().__init__(self.sentence(f"{resets_at:%Y-%m-%d %H:%M} UTC"))

    def sentence(self, when: str) -> str:
        """The refusal for a person, with `when` (the reset time as they read it) in it."""
        if self.alone:
            return (
                f"This message alone is more than today's whole quota of {self.limit:,} "
                f"{self.unit}. Shorten it, or wait until the quota resets at {when}."
            )
        return f"You have used today's quota of {self.limit:,} {self.unit}. It resets at {when}."


@dataclass(frozen=True)
class Limits:
    """Messages and approximate tokens a user may spend per day; None is no limit."""

    messages_per_day: int | None = None
    tokens_per_day: int | None = None


@dataclass(frozen=True)
class Reservation:
    """A question admitted today: the day it counts on and the tokens counted for it so far.
    Not `counted` when the user had no limits: then nothing is written for it at all."""

    user_id: str
    day: date
    tokens: int
    counted: bool = True


@dataclass(frozen=True)
class QuotaStatus:
    """A user's limits in force and what they used today."""

    limits: Limits
    messages_used: int
    tokens_used: int
    resets_at: datetime

    @property
    def messages_left(self) -> int | None:
        limit = self.limits.messages_per_day
        return None if limit is None else max(0, limit - self.messages_used)

    @property
    def tokens_left(self) -> int | None:
        limit = self.limits.tokens_per_day
        return None if limit is None else max(0, limit - self.tokens_used)


def check_limit(value: object, name: str) -> int | None:
    """`value` as a limit: None (no limit) or a whole number from 0 to MAX_LIMIT."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LIMIT:
        raise InvalidLimit(f"{name} must be a whole number from 0 to {MAX_LIMIT:,}, or no limit")
    return value


def utc_day(now: datetime) -> date:
    return now.astimezone(UTC).date()


def resets_at(day: date) -> datetime:
    """When the quota of `day` ends: the next midnight UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


def _stored_limit(raw: str | None) -> int | None:
    return int(raw) if raw not in (None, "") else None


def _default_limits(conn: Connection) -> Limits:
    rows = dict(
        conn.execute(
            select(_settings.c.key, _settings.c.value).where(
                _settings.c.key.in_((DEFAULT_MESSAGES_KEY, DEFAULT_TOKENS_KEY))
            )
        ).all()
    )
    return Limits(
        _stored_limit(rows.get(DEFAULT_MESSAGES_KEY)), _stored_limit(rows.get(DEFAULT_TOKENS_KEY))
    )


def _own_limits(conn: Connection, user_ids: Sequence[str]) -> dict[str, Limits]:
    rows = conn.execute(
        select(
            _user_quotas.c.user_id, _user_quotas.c.messages_per_day, _user_quotas.c.tokens_per_day
        ).where(_user_quotas.c.user_id.in_(list(user_ids)))
    )
    return {row.user_id: Limits(row.messages_per_day, row.tokens_per_day) for row in rows}


def _in_force(default: Limits, own: Limits | None) -> Limits:
    if own is None:
        return default
    return Limits(
        default.messages_per_day if own.messages_per_day is None else own.messages_per_day,
        default.tokens_per_day if own.tokens_per_day is None else own.tokens_per_day,
    )


def default_limits(engine: Engine) -> Limits:
    """The instance's default limits (both None until an admin sets them)."""
    with engine.connect() as conn:
        return _default_limits(conn)


def set_default_limits(engine: Engine, limits: Limits) -> None:
    """Replace the default limits of every user without limits of their own."""
    values = {
        DEFAULT_MESSAGES_KEY: check_limit(limits.messages_per_day, "messages per day"),
        DEFAULT_TOKENS_KEY: check_limit(limits.tokens_per_day, "tokens per day"),
    }
    for key, value in values.items():
        write_setting(engine, key, "" if value is None else str(value))


def own_limits(engine: Engine, user_id: str) -> Limits:
    """The user's own limits (None where the default applies)."""
    with engine.connect() as conn:
        return _own_limits(conn, [user_id]).get(user_id, Limits())


def set_own_limits(
    engine: Engine, user_id: str, limits: Limits, *, now: datetime | None = None
) -> None:
    """Give the user their own limits; None in either follows the default there."""
    messages = check_limit(limits.messages_per_day, "messages per day")
    tokens = check_limit(limits.tokens_per_day, "tokens per day")
    now = now or utcnow()
    with write_transaction(engine) as conn:
        if messages is None and tokens is None:
            conn.execute(_user_quotas.delete().where(_user_quotas.c.user_id == user_id))
            return
        values = {"messages_per_day": messages, "tokens_per_day": tokens, "updated_at": now}
        conn.execute(upsert_ignore(conn, _user_quotas).values(user_id=user_id, **values))
        conn.execute(_user_quotas.update().where(_user_quotas.c.user_id == user_id).values(values))


def _limits_in_force(conn: Connection, user_ids: Sequence[str]) -> dict[str, Limits]:
    default = _default_limits(conn)
    own = _own_limits(conn, user_ids)
    return {user_id: _in_force(default, own.get(user_id)) for user_id in user_ids}


def limits_in_force(engine: Engine, user_ids: Sequence[str]) -> dict[str, Limits]:
    """Each user's limits as applied: their own where set, the default elsewhere."""
    with engine.connect() as conn:
        return _limits_in_force(conn, user_ids)


def admit_question(
    engine: Engine, user_id: str, *, tokens: int, now: datetime | None = None
) -> Reservation:
    """Count one question of `tokens` (its own, before the history is known) on today's quota,
    or raise QuotaExceeded and count nothing. Call it before the model is called."""
    tokens = max(0, int(tokens))
    day = utc_day(now or utcnow())
    with engine.connect() as conn:
        # Read first: without limits nothing is written, and SQLite's write lock is not taken.
        limits = _limits_in_force(conn, [user_id])[user_id]
    if limits == Limits():
        return Reservation(user_id, day, 0, counted=False)
    with write_transaction(engine) as conn:
        # Read again under the write: a limit set meanwhile applies to this question.
        limits = _limits_in_force(conn, [user_id])[user_id]
        conn.execute(
            upsert_ignore(conn, _use).values(user_id=user_id, day=day, messages=0, tokens=0)
        )
        conditions = [_use.c.user_id == user_id, _use.c.day == day]
        if limits.messages_per_day is not None:
            conditions.append(_use.c.messages + 1 <= limits.messages_per_day)
        if limits.tokens_per_day is not None:
            conditions.append(_use.c.tokens + tokens <= limits.tokens_per_day)
        admitted = conn.execute(
            update(_use)
            .where(*conditions)
            .values(messages=_use.c.messages + 1, tokens=_use.c.tokens + tokens)
        ).rowcount
        if admitted == 1:
            return Reservation(user_id, day, tokens)
        used = conn.execute(
            select(_use.c.messages).where(_use.c.user_id == user_id, _use.c.day == day)
        ).scalar_one()
    if limits.messages_per_day is not None and used + 1 > limits.messages_per_day:
        raise QuotaExceeded(
            kind="messages", limit=limits.messages_per_day, resets_at=resets_at(day)
        )
    assert limits.tokens_per_day is not None
    raise QuotaExceeded(
        kind="tokens",
        limit=limits.tokens_per_day,
        resets_at=resets_at(day),
        alone=tokens > limits.tokens_per_day,
    )


def settle_tokens(engine: Engine, reservation: Reservation, *, tokens: int) -> None:
    """Count what the turn really cost (prompt plus answer, `tokens`) on the day it was
    admitted. The answer may take the day past its token limit; the next question is refused."""
    extra = max(0, int(tokens)) - reservation.tokens
    if extra <= 0 or not reservation.counted:
        return
    with write_transaction(engine) as conn:
        conn.execute(
            update(_use)
            .where(_use.c.user_id == reservation.user_id, _use.c.day == reservation.day)
            .values(tokens=_use.c.tokens + extra)
        )


def release_question(engine: Engine, reservation: Reservation) -> None:
    """Give back what `admit_question` counted for a question that never reached the model
    (it could not be stored, or the model could not be reached): it cost nothing."""
    if not reservation.counted:
        return
    with write_transaction(engine) as conn:
        conn.execute(
            update(_use)
            .where(
                _use.c.user_id == reservation.user_id,
                _use.c.day == reservation.day,
                _use.c.messages > 0,
            )
            .values(
                messages=_use.c.messages - 1,
                tokens=case(
                    (_use.c.tokens > reservation.tokens, _use.c.tokens - reservation.tokens),
                    else_=0,
                ),
            )
        )


def todays_use(
    engine: Engine, user_ids: Sequence[str], *, now: datetime | None = None
) -> dict[str, QuotaStatus]:
    """Each user's limits in force and what they used today (zeros for no use)."""
    day = utc_day(now or utcnow())
    with engine.connect() as conn:
        limits = _limits_in_force(conn, user_ids)
        rows = conn.execute(
            select(_use.c.user_id, _use.c.messages, _use.c.tokens).where(
                _use.c.day == day, _use.c.user_id.in_(list(user_ids))
            )
        )
        used = {row.user_id: (row.messages, row.tokens) for row in rows}
    return {
        user_id: QuotaStatus(limits[user_id], *used.get(user_id, (0, 0)), resets_at(day))
        for user_id in user_ids
    }


def prune_use(engine: Engine, *, before: date) -> int:
    """Delete the counts of days before `before` (the current day is never needed again once
    it has passed); returns how many rows went."""
    with write_transaction(engine) as conn:
        return conn.execute(_use.delete().where(_use.c.day < before)).rowcount


# Every public function here reports an unreachable database as QuotasUnavailable.
module_outages_raise(globals(), QuotasUnavailable)
