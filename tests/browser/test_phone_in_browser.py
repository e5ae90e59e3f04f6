"""The chat at a phone's 390x844 in Chromium: picking a chat in the drawer closes it, New chat
is in the top bar, the chat's actions are one row of icons that keep their names, and the
messages take the full width."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import RunningApp, messages, screenshot, send, settle, sign_up

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser: Browser) -> Page:
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def drawer(page: Page):
    return page.get_by_test_id("stSidebar")


def open_drawer(page: Page) -> None:
    page.get_by_test_id("stExpandSidebarButton").click()
    expect(drawer(page)).to_have_attribute("data-collapsed", "false")


def test_on_a_phone_the_drawer_closes_on_a_pick_and_new_chat_is_in_the_top_bar(
    app: RunningApp, phone: Page
) -> None:
    page = phone
    sign_up(page, app.url, "pocket")
    send(page, "first chat on the phone")

    # New chat from the top bar, without opening the drawer.
    top = page.locator(".st-key-top-new-chat button").filter(visible=True)
    expect(top).to_have_count(1)
    box = top.bounding_box()
    assert box is not None and box["y"] < 60, "in the top bar"
    top.click()
    expect(page.get_by_role("heading", name="New chat")).to_be_visible()
    settle(page)
    send(page, "second chat on the phone")

    # The chat's actions: one row of four icon buttons, each still named for a screen reader.
    names = ["Pin", "Archive", "Rename", "Delete"]
    buttons = [page.locator(".st-key-chat-actions").get_by_role("button", name=n) for n in names]
    tops = {round(button.bounding_box()["y"]) for button in buttons}
    assert len(tops) == 1, f"one row, not {tops}"
    assert all(button.bounding_box()["width"] < 60 for button in buttons)
    # The messages use the width of the screen.
    message = page.get_by_test_id("stChatMessage").first.bounding_box()
    assert message is not None and message["width"] >= PHONE["width"] - 40
    screenshot(page, "phone-01-chat")

    # Picking the other chat in the drawer closes the drawer and shows that chat.
    open_drawer(page)
    expect(drawer(page).get_by_role("button", name="first chat on the phone")).to_be_in_viewport()
    page.wait_for_timeout(500)  # the drawer slides in
    screenshot(page, "phone-02-drawer")
    drawer(page).get_by_role("button", name="first chat on the phone").click()
    expect(drawer(page)).to_have_attribute("data-collapsed", "true")
    expect(page.get_by_role("heading", level=1)).to_have_text("first chat on the phone")
    settle(page)
    assert messages(page) == ["first chat on the phone", "Echo: first chat on the phone"]
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)
    screenshot(page, "phone-03-picked")

    # And New chat in the drawer closes it too.
    open_drawer(page)
    drawer(page).get_by_role("button", name="New chat").click()
    expect(drawer(page)).to_have_attribute("data-collapsed", "true")
    expect(page.get_by_role("heading", name="New chat")).to_be_visible()


def test_on_a_wide_screen_the_top_bar_has_no_second_new_chat(app: RunningApp, page: Page) -> None:
    sign_up(page, app.url, "desk")
    expect(page.locator(".st-key-top-new-chat")).to_be_hidden()
    expect(page.get_by_role("button", name="New chat")).to_have_count(1)
