"""The sidebar's date groups (Today, Yesterday, Previous 7 days, Previous 30 days, Older), by
calendar day in the user's own time zone. No Streamlit here: the rule is tested on its own."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, tzinfo
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

TODAY, YESTERDAY, WEEK, MONTH, OLDER = (
    "Today",
    "Yesterday",
    "Previous 7 days",
    "Previous 30 days",
    "Older",
)
UTC_ZONE = ZoneInfo("UTC")

Dated = TypeVar("Dated")


def zone_named(name: str | None) -> tzinfo:
    """The IANA time zone the browser reported (e.g. "Europe/Paris"); UTC for none or an
    unknown name, so a strange value never breaks the sidebar."""
    if not name:
        return UTC_ZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC_ZONE


def day_group(moment: datetime, now: datetime, zone: tzinfo) -> str:
    """The group of a chat last updated at `moment`, seen at `now`, both aware times."""
    days = (now.astimezone(zone).date() - moment.astimezone(zone).date()).days
    if days <= 0:  # a clock a little ahead of this server's is still today
        return TODAY
    if days == 1:
        return YESTERDAY
    if days <= 7:
        return WEEK
    if days <= 30:
        return MONTH
    return OLDER


def group_by_day(
    items: Iterable[Dated], moment_of, now: datetime, zone: tzinfo
) -> list[tuple[str, list[Dated]]]:
    """`items` (newest first) cut into consecutive groups, each with its label."""
    groups: list[tuple[str, list[Dated]]] = []
    for item in items:
        label = day_group(moment_of(item), now, zone)
        if not groups or groups[-1][0] != label:
            groups.append((label, []))
        groups[-1][1].append(item)
    return groups
