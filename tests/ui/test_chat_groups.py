"""The sidebar's date groups: by calendar day in the user's zone, not by hours elapsed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ui.chat_groups import (
    MONTH,
    OLDER,
    TODAY,
    UTC_ZONE,
    WEEK,
    YESTERDAY,
    day_group,
    group_by_day,
    zone_named,
)

NOW = datetime(2026, 12, 2, 11, 30, tzinfo=UTC)  # 00:30 on 3 December in Auckland


@pytest.mark.parametrize(
    ("moment", "group"),
    [
        (NOW, TODAY),
        (NOW + timedelta(minutes=5), TODAY),  # a clock a little ahead
        (datetime(2026, 12, 2, 0, 1, tzinfo=UTC), TODAY),
        (datetime(2026, 12, 1, 23, 59, tzinfo=UTC), YESTERDAY),
        (NOW - timedelta(days=2), WEEK),
        (NOW - timedelta(days=7), WEEK),
        (NOW - timedelta(days=8), MONTH),
        (NOW - timedelta(days=30), MONTH),
        (NOW - timedelta(days=31), OLDER),
    ],
)
def test_groups_in_utc(moment: datetime, group: str) -> None:
    assert day_group(moment, NOW, UTC_ZONE) == group


def test_the_same_moment_falls_on_the_zones_own_day() -> None:
    auckland = ZoneInfo("Pacific/Auckland")
    moment = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)  # 23:00 on 2 December there
    assert day_group(moment, NOW, UTC_ZONE) == TODAY
    assert day_group(moment, NOW, auckland) == YESTERDAY


def test_consecutive_chats_of_one_group_share_its_heading() -> None:
    moments = [NOW, NOW - timedelta(hours=1), NOW - timedelta(days=1), NOW - timedelta(days=40)]
    groups = group_by_day(moments, lambda moment: moment, NOW, UTC_ZONE)
    assert [(label, len(items)) for label, items in groups] == [
        (TODAY, 2),
        (YESTERDAY, 1),
        (OLDER, 1),
    ]


@pytest.mark.parametrize("name", [None, "", "Mars/Olympus_Mons", "../etc/passwd"])
def test_an_unknown_or_missing_zone_is_utc(name: str | None) -> None:
    assert zone_named(name) is UTC_ZONE


def test_a_known_zone_is_used() -> None:
    assert zone_named("Europe/Paris") == ZoneInfo("Europe/Paris")
