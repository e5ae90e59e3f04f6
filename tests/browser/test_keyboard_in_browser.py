"""The app by keyboard alone, in Chromium against the real app (answered by the stub model):
sign in, send a message, switch chats and sign out with Tab, Shift+Tab, typing and Enter, and
no mouse. Every place the focus stops is on screen and has a size (no invisible stop such as
the sign-in cookie manager's frame), and the focus lands in the chat box after sign-in, after
each answer and after opening a chat (issue 17)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Locator, Page, expect

import accounts
from memory.store import new_session_id
from tests.browser.conftest import (
    PASSWORD,
    CspWatch,
    RunningApp,
    open_app,
    screenshot,
    settle,
    store_of,
    wait_for_cookie,
    wait_until_quiet,
)

LONG = 60_000  # ms, for a loaded machine
ANSWER = "Echo: And a warm drink?"  # the stub model's answer to the second turn

FOCUS_JS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return {tag: 'BODY'};
  const box = el.getBoundingClientRect();
  const style = getComputedStyle(el);
  return {
    tag: el.tagName,
    text: (el.getAttribute('aria-label') || el.innerText || '').trim().slice(0, 60),
    keys: Array.from(el.closest('[class*="st-key-"]')?.classList || [])
      .filter((name) => name.startsWith('st-key-')),
    width: box.width, height: box.height,
    onScreen: box.bottom > 0 && box.right > 0 && box.top < innerHeight && box.left < innerWidth,
    shown: style.visibility !== 'hidden' && style.opacity !== '0',
  };
}"""


def _focused(page: Page) -> dict[str, Any]:
    return page.evaluate(FOCUS_JS)


def _assert_seen(stop: dict[str, Any]) -> None:
    """A focus stop the user can see: never a frame, never of no size, never hidden."""
    if stop["tag"] == "BODY":  # the focus leaving the page's end, before it starts again
        return
    assert stop["tag"] != "IFRAME", stop
    assert stop["width"] > 0 and stop["height"] > 0, stop
    assert stop["shown"], stop


def _tab_until(page: Page, wanted, *, backwards: bool = False, most: int = 80) -> list[dict]:
    """Press Tab (or Shift+Tab) until the focused element is `wanted`; every stop on the way is
    one the user can see. Returns the stops."""
    stops = []
    for _ in range(most):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        stop = _focused(page)
        _assert_seen(stop)
        stops.append(stop)
        if wanted(stop):
            return stops
    raise AssertionError(f"never reached after {most} presses: {stops}")


def _chat_box(page: Page) -> Locator:
    return page.get_by_test_id("stChatInputTextArea")


def _type_and_send(page: Page, text: str, *, messages_after: int) -> None:
    """Type into the focused chat box, press Enter, and wait for the answer: the focus is
    then back in the box."""
    page.keyboard.type(text)
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("stChatMessage")).to_have_count(messages_after, timeout=LONG)
    expect(page.get_by_role("button", name="Retry")).to_be_visible(timeout=LONG)
    settle(page)
    expect(_chat_box(page)).to_be_focused(timeout=10_000)


def test_sign_in_send_switch_chats_and_sign_out_by_keyboard_alone(
    page: Page, app: RunningApp
) -> None:
    csp = CspWatch(page)
    open_app(page, app.url)  # the app migrates its database file on its first page
    store = store_of(app)
    account = accounts.create_account(
        store.engine, username="keys", password=PASSWORD, role="user", via_signup=False
    )
    older = new_session_id()
    store.finish_turn(store.begin_turn(account.id, older, "Soup for a cold evening"), "Lentils.")

    page.reload()
    settle(page)
    wait_until_quiet(page, 1.0)
    stops = _tab_until(page, lambda stop: stop.get("text") == "Username", most=10)
    # The skip link, the page's scrollable main area, the tabs, then the field: nothing hidden.
    assert len(stops) <= 4, stops
    page.keyboard.type("keys")
    page.keyboard.press("Tab")
    assert _focused(page)["text"] == "Password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")

    expect(_chat_box(page)).to_be_visible(timeout=LONG)
    wait_for_cookie(page)
    expect(_chat_box(page)).to_be_focused(timeout=10_000)
    screenshot(page, "keyboard-signed-in")

    _type_and_send(page, "Hello from the keyboard", messages_after=2)

    # Backwards from the chat box, through the page, to the older chat in the sidebar.
    _tab_until(
        page, lambda stop: f"st-key-open-{older}" in stop.get("keys", []), backwards=True, most=120
    )
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("stChatMessage").first).to_contain_text("Soup", timeout=LONG)
    settle(page)
    expect(_chat_box(page)).to_be_focused(timeout=10_000)
    # A second turn in the same chat: the box, disabled while the answer streamed, has the
    # focus back for the next question.
    _type_and_send(page, "And a warm drink?", messages_after=4)
    # Streamlit has no aria-live of its own: the app's status region tells a screen reader the
    # whole answer once it is complete.
    status = page.get_by_role("status").filter(has_text=ANSWER)
    expect(status).to_have_attribute("aria-live", "polite")
    expect(status).to_have_text(ANSWER)
    screenshot(page, "keyboard-switched-chat")

    _tab_until(
        page, lambda stop: stop.get("text", "").endswith("Sign out"), backwards=True, most=120
    )
    page.keyboard.press("Enter")
    expect(page.get_by_role("textbox", name="Username")).to_be_visible(timeout=LONG)
    wait_for_cookie(page, present=False)
    assert csp.violations() == []
