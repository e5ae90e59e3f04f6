"""The sidebar as a user keeps it, in Chromium: pinned chats on top, archived chats out of the
list (still searched, restored from "Archived chats"), the rest grouped by day in the browser's
own time zone, titles on one line and left-aligned; and a title the model writes appearing in
the header and the list without a click."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import update

from database import utcnow, write_transaction
from memory.models import ChatSession
from tests.browser.conftest import (
    RunningApp,
    screenshot,
    send,
    settle,
    sidebar_chats,
    sign_up,
    store_of,
    stub_app,
    user_id_of,
)
from ui.chat_groups import MONTH, OLDER, TODAY, WEEK, YESTERDAY, day_group

pytestmark = pytest.mark.browser

ZONE = "Pacific/Auckland"  # 13 hours ahead of UTC in December: its days are not UTC's


def headings(page: Page) -> list[str]:
    """The sidebar list's bold captions (Pinned, Today, Yesterday...), in order."""
    chat_list = page.get_by_test_id("stSidebar").locator(".st-key-chat-list")
    return [t.strip() for t in chat_list.locator("strong").all_inner_texts()]


def new_chat(page: Page) -> None:
    page.get_by_test_id("stSidebar").get_by_role("button", name="New chat").click()
    expect(page.get_by_role("heading", name="New chat")).to_be_visible()
    settle(page)


def click(page: Page, name: str) -> None:
    page.get_by_role("button", name=name, exact=True).click()
    settle(page)


def test_a_pinned_chat_sits_on_top_and_goes_back_to_its_day_when_unpinned(
    app: RunningApp, page: Page
) -> None:
    sign_up(page, app.url, "pia")
    send(page, "oldest chat")
    new_chat(page)
    send(page, "middle chat")
    new_chat(page)
    send(page, "newest chat")
    expect(sidebar_chats(page)).to_have_text(["newest chat", "middle chat", "oldest chat"])
    assert headings(page) == ["Today"]

    sidebar_chats(page).get_by_text("oldest chat").click()
    settle(page)
    click(page, "Pin")
    expect(sidebar_chats(page)).to_have_text(["oldest chat", "newest chat", "middle chat"])
    assert headings(page) == ["Pinned", "Today"]
    expect(page.get_by_role("button", name="Unpin", exact=True)).to_be_visible()
    screenshot(page, "sidebar-01-pinned")

    page.reload()
    settle(page)
    expect(sidebar_chats(page)).to_have_text(["oldest chat", "newest chat", "middle chat"])
    click(page, "Unpin")
    # Pinning did not make it newer: it is back where its date puts it.
    expect(sidebar_chats(page)).to_have_text(["newest chat", "middle chat", "oldest chat"])
    assert headings(page) == ["Today"]


def test_an_archived_chat_leaves_the_list_is_still_found_and_is_restored(
    app: RunningApp, page: Page
) -> None:
    sign_up(page, app.url, "archie")
    send(page, "tides and the moon")
    new_chat(page)
    send(page, "volcanoes erupting")
    click(page, "Archive")
    expect(page.get_by_text("Archived: not in your list of chats")).to_be_visible()
    expect(sidebar_chats(page)).to_have_text(["tides and the moon"])

    search = page.get_by_test_id("stSidebar").get_by_role("textbox", name="Search chats")
    search.fill("volcanoes")
    search.press("Enter")
    settle(page)
    expect(sidebar_chats(page)).to_have_text(["volcanoes erupting"])
    expect(page.get_by_test_id("stSidebar").get_by_text("Archived", exact=True)).to_be_visible()
    search.fill("")
    search.press("Enter")
    settle(page)

    click(page, "Archived chats")
    expect(sidebar_chats(page)).to_have_text(["volcanoes erupting"])
    screenshot(page, "sidebar-02-archived")
    sidebar_chats(page).get_by_text("volcanoes erupting").click()
    settle(page)
    click(page, "Restore")
    expect(sidebar_chats(page)).to_have_count(0)
    expect(page.get_by_text("No archived chats.")).to_be_visible()
    click(page, "Back to chats")
    expect(sidebar_chats(page)).to_have_text(["volcanoes erupting", "tides and the moon"])
    # Only its place changed: the conversation is as it was.
    expect(page.get_by_test_id("stChatMessageContent")).to_have_text(
        ["volcanoes erupting", "Echo: volcanoes erupting"]
    )


def a_moment_whose_day_differs_in(zone: ZoneInfo, now: datetime) -> tuple[datetime, str]:
    """A time the sidebar must group by `zone`'s calendar, not UTC's: one minute either side of
    `zone`'s midnight, whichever falls on another UTC day; and its group in `zone`."""
    midnight = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    for moment in (midnight + timedelta(minutes=1), midnight - timedelta(minutes=1)):
        if day_group(moment, now, zone) != day_group(moment, now, ZoneInfo("UTC")):
            return moment, day_group(moment, now, zone)
    raise AssertionError("no such moment: the zone keeps UTC's days")


@pytest.fixture
def auckland_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, timezone_id=ZONE)
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def test_chats_are_grouped_by_day_in_the_browsers_time_zone_on_one_left_aligned_line(
    app: RunningApp, auckland_page: Page
) -> None:
    page = auckland_page
    sign_up(page, app.url, "dora")
    store, user_id = store_of(app), user_id_of(app, "dora")
    now = utcnow()
    edge, edge_group = a_moment_whose_day_differs_in(ZoneInfo(ZONE), now)
    long_title = "A very long question about the history of glaciers " * 3
    dates = {
        "edge of the day": edge,
        "three days ago": now - timedelta(days=3),
        "three weeks ago": now - timedelta(days=21),
        long_title: now - timedelta(days=90),
    }
    for title, when in dates.items():
        session = store.create_session(user_id, title=title)
        store.append_messages(user_id, session.session_id, [("human", title), ("ai", "ok")])
        with write_transaction(store.engine) as conn:
            conn.execute(
                update(ChatSession)
                .where(ChatSession.user_id == user_id, ChatSession.session_id == session.session_id)
                .values(updated_at=when)
            )
    page.reload()
    settle(page)
    assert headings(page) == [edge_group, WEEK, MONTH, OLDER]
    assert edge_group in (TODAY, YESTERDAY)
    expect(sidebar_chats(page)).to_have_count(4)

    # One line each, left-aligned: the long title is cut, not wrapped, and starts where a
    # short one does.
    short, long = sidebar_chats(page).nth(0), sidebar_chats(page).nth(3)
    expect(long.locator("p")).to_have_css("text-overflow", "ellipsis")
    assert abs(long.bounding_box()["height"] - short.bounding_box()["height"]) < 2
    short_text = short.locator("p").bounding_box()
    long_text = long.locator("p").bounding_box()
    assert abs(short_text["x"] - long_text["x"]) < 2
    assert short_text["x"] - short.bounding_box()["x"] < 24
    screenshot(page, "sidebar-03-date-groups")


@pytest.fixture(scope="module")
def titled_app(
    tmp_path_factory: pytest.TempPathFactory, model_stub: str, cookie_key: str
) -> Iterator[RunningApp]:
    """The app with the model's titles on (the other tests keep first-words titles)."""
    data_dir: Path = tmp_path_factory.mktemp("titled-app")
    with stub_app(data_dir, model_stub, cookie_key, MODEL_TITLES="on") as running:
        yield running


def test_the_models_title_replaces_the_first_words_without_a_click_and_a_rename_wins(
    titled_app: RunningApp, page: Page
) -> None:
    sign_up(page, titled_app.url, "tito")
    send(page, "How do tides work?")
    # The stub echoes the title request's last message; its first line is the title.
    title = "Echo: Name this chat"
    expect(page.get_by_role("heading", name=title)).to_be_visible(timeout=15_000)
    expect(sidebar_chats(page)).to_have_text([title])
    user_id = user_id_of(titled_app, "tito")
    session_id = re.search(r"session=([^&]+)", page.url).group(1)
    summary = store_of(titled_app).get_session(user_id, session_id)
    assert (summary.title, summary.title_source) == (title, "model")

    # Later answers ask for no title; a name the user gives stays.
    page.get_by_role("button", name="Rename", exact=True).click()
    popover = page.get_by_test_id("stPopoverBody")
    # Opening the popover reruns the page (its open state is tracked); a loaded machine may
    # still be in that run when a script clicks Save, a person never is.
    settle(page)
    popover.get_by_role("textbox", name="New title").fill("Tides")
    popover.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Tides")).to_be_visible()
    # Saved, the popover closes by itself.
    expect(page.get_by_test_id("stPopoverBody")).to_have_count(0)
    send(page, "And the moon?")
    page.wait_for_timeout(1500)
    expect(page.get_by_role("heading", name="Tides")).to_be_visible()
    assert store_of(titled_app).get_session(user_id, session_id).title == "Tides"
