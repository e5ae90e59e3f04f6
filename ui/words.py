"""How the pages put numbers, times, actions and the cores' messages into words."""

from __future__ import annotations

from datetime import datetime, tzinfo

import audit

# The audit log's actions as an admin reads them; the stored names stay as they are (CSV).
ACTION_WORDS = {
    audit.HISTORY_VIEWED: "Opened a chat",
    audit.USER_DISABLED: "Disabled an account",
    audit.USER_ENABLED: "Enabled an account",
    audit.USER_UNLOCKED: "Unlocked an account",
    audit.ROLE_CHANGED: "Changed a role",
    audit.SIGNUP_TOGGLED: "Switched sign-up",
    audit.RETENTION_CHANGED: "Changed retention",
    audit.RETENTION_PURGED: "Purged old chats",
    audit.ACCOUNT_ERASED: "Erased an account",
    audit.USER_CREATED: "Created an account",
    audit.PASSWORD_RESET: "Reset a password",
    audit.QUOTA_CHANGED: "Changed a quota",
    audit.SIGN_IN_METHODS_CHANGED: "Changed how people sign in",
}
# What st.column_config.DatetimeColumn shows (moment.js tokens): "7 Dec 2026, 14:05".
TABLE_TIME_FORMAT = "D MMM YYYY, HH:mm"


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """ "1 chat", "2 chats", "10,000 messages"."""
    return f"{number:,} {noun if number == 1 else plural or noun + 's'}"


def sentence(text: str) -> str:
    """A core's message ("this is the last enabled administrator: ...") as a sentence on the
    page: a capital first letter and a full stop."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def when(moment: datetime | None, zone: tzinfo) -> str:
    """A time in the reader's zone, the way people write it: "7 Dec 2026, 14:05"."""
    if moment is None:
        return "never"
    local = moment.astimezone(zone)
    return f"{local.day} {local:%b %Y, %H:%M}"


def message_time(moment: datetime, zone: tzinfo, now: datetime) -> str:
    """When a message was written, as small print under it, in the reader's zone: "14:05"
    today, "7 Dec, 14:05" this year, "7 Dec 2025, 14:05" before."""
    local, today = moment.astimezone(zone), now.astimezone(zone)
    if local.date() == today.date():
        return f"{local:%H:%M}"
    if local.year == today.year:
        return f"{local.day} {local:%b, %H:%M}"
    return when(moment, zone)
