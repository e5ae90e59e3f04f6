"""A daily quota as a user meets it in Chromium: the sidebar says what is left; the question
over the limit is refused before the model hears it, with the reset time in the browser's own
time zone, and stays typed in the chat box to send once the quota resets; a stopped answer
counts what it used."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from langchain_core.messages import AIMessage
from langchain_core.messages.utils import count_tokens_approximately
from playwright.sync_api import Browser, Page, expect

from memory import DEFAULT_ABILITY
from memory.chain import question_tokens
from quotas import Limits, set_own_limits, todays_use
from tests.browser.conftest import (
    RunningApp,
    act_and_settle,
    messages,
    paced,
    screenshot,
    send,
    sign_up,
    store_of,
    stub_control,
    user_id_of,
    wait_until_quiet,
)
from tests.browser.test_chat_actions_in_browser import (
    LONG_QUESTION,
    SLOW,
    ask_and_stop_after_the_first_words,
    wait_for,
)
from tests.scale.conftest import session_id_of

pytestmark = pytest.mark.browser

ZONE = "Asia/Tokyo"  # UTC+9 all year, no daylight saving: midnight UTC is 09:00 there


@pytest.fixture
def page_in_tokyo(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, timezone_id=ZONE)
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def reset_day() -> str:
    """ "today" or "tomorrow", as Tokyo sees the next midnight UTC (09:00 there)."""
    now = datetime.now(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=UTC)
    local_now, local_reset = now.astimezone(ZoneInfo(ZONE)), midnight.astimezone(ZoneInfo(ZONE))
    return "today" if local_reset.date() == local_now.date() else "tomorrow"


def left_today(page: Page) -> str:
    caption = page.get_by_test_id("stSidebar").get_by_text("Left today")
    expect(caption).to_be_visible()
    return caption.inner_text().strip()


def test_the_question_over_the_limit_is_refused_with_the_local_reset_time_and_kept_typed(
    app: RunningApp, page_in_tokyo: Page, model_stub: str
) -> None:
    page = page_in_tokyo
    sign_up(page, app.url, "quinn")
    set_own_limits(store_of(app).engine, user_id_of(app, "quinn"), Limits(messages_per_day=1))
    send(page, "What is jvm?")
    day = reset_day()
    assert left_today(page) == f"Left today: 0 of 1 messages. Resets at 09:00 {day} (Asia/Tokyo)."
    asked = len(stub_control(model_stub, "prompts")["prompts"])

    box = page.get_by_test_id("stChatInputTextArea")
    box.fill("A long question I took care to write")
    act_and_settle(page, lambda: box.press("Enter"))

    alert = page.get_by_test_id("stAlertContentError")
    expect(alert).to_contain_text("You have used today's quota of 1 message.")
    expect(alert).to_contain_text(f"It resets at 09:00 {day} (Asia/Tokyo).")
    expect(alert).to_contain_text("Your message is back in the box below, to send then.")
    expect(box).to_have_value("A long question I took care to write")
    assert messages(page) == ["What is jvm?", "Echo: What is jvm?"]
    assert len(stub_control(model_stub, "prompts")["prompts"]) == asked
    screenshot(page, "quota-refused")

    # Still there after another click elsewhere on the page (a rerun redraws the box).
    act_and_settle(page, page.get_by_role("button", name="Retry").click)
    expect(box).to_have_value("A long question I took care to write")
    assert messages(page) == ["What is jvm?", "Echo: What is jvm?"]


def test_a_stopped_answer_counts_its_prompt_and_the_words_that_arrived(
    app: RunningApp, page: Page, model_stub: str
) -> None:
    sign_up(page, app.url, "stella")
    user_id = user_id_of(app, "stella")
    engine = store_of(app).engine
    set_own_limits(engine, user_id, Limits(messages_per_day=5, tokens_per_day=100_000))
    wait_until_quiet(page)
    question = LONG_QUESTION
    alone = question_tokens(question, ability=DEFAULT_ABILITY)

    with paced(model_stub, SLOW):
        ask_and_stop_after_the_first_words(page, question)
        # The stopped run stores its partial answer, and settles, when the model's next word
        # reaches it.
        wait_for(
            lambda: todays_use(engine, [user_id])[user_id].tokens_used > alone,
            what="the stopped turn's cost",
        )

    [partial] = [
        m for m in store_of(app).load_messages(user_id, session_id_of(page)) if m.role == "ai"
    ]
    status = todays_use(engine, [user_id])[user_id]
    assert status.messages_used == 1
    assert status.tokens_used == alone + count_tokens_approximately([AIMessage(partial.content)])
