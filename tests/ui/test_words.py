"""Numbers, times, audit actions and the cores' messages, in the words the pages show."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

import audit
from ui.words import ACTION_WORDS, counted, message_time, sentence, when


@pytest.mark.parametrize(
    ("number", "words"), [(0, "0 chats"), (1, "1 chat"), (2, "2 chats"), (10_000, "10,000 chats")]
)
def test_a_count_agrees_with_its_noun(number: int, words: str) -> None:
    assert counted(number, "chat") == words


def test_an_irregular_plural_is_given() -> None:
    assert counted(3, "reply", "replies") == "3 replies"
    assert counted(1, "reply", "replies") == "1 reply"


def test_a_cores_message_becomes_a_sentence() -> None:
    assert sentence("this is the last enabled administrator") == (
        "This is the last enabled administrator."
    )
    assert sentence("the username 'x' is taken: choose another") == (
        "The username 'x' is taken: choose another."
    )
    assert sentence("Already a sentence?") == "Already a sentence?"
    assert sentence("") == ""


def test_a_time_is_written_in_the_readers_zone() -> None:
    moment = datetime(2026, 12, 1, 19, 16, 45, tzinfo=UTC)
    assert when(moment, ZoneInfo("Asia/Tokyo")) == "2 Dec 2026, 04:16"
    assert when(moment, UTC) == "1 Dec 2026, 19:16"
    assert when(None, UTC) == "never"


def test_every_audit_action_has_words() -> None:
    assert set(ACTION_WORDS) == set(audit.ACTIONS)
    assert len(set(ACTION_WORDS.values())) == len(audit.ACTIONS)


def test_a_message_time_is_short_today_and_says_the_day_before() -> None:
    paris = ZoneInfo("Europe/Paris")
    now = datetime(2026, 12, 7, 22, 30, tzinfo=UTC)  # 23:30 in Paris
    assert message_time(datetime(2026, 12, 7, 13, 5, tzinfo=UTC), paris, now) == "14:05"
    # 23:10 UTC on the 6th is already the 7th in Paris: today there.
    assert message_time(datetime(2026, 12, 6, 23, 10, tzinfo=UTC), paris, now) == "00:10"
    assert message_time(datetime(2026, 3, 1, 9, 0, tzinfo=UTC), paris, now) == "1 Mar, 10:00"
    assert message_time(datetime(2025, 12, 24, 18, 0, tzinfo=UTC), paris, now) == (
        "24 Dec 2025, 19:00"
    )
