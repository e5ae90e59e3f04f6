"""The newest turn stays in view, in Chromium against the real app (answered by the stub model,
slowed down so that an answer streams for several seconds): in a long chat scrolled to its top,
a sent message brings the page to its end, and the question and the streaming answer are in
view; scrolling up while it streams shows "Jump to latest", which brings the end back and
goes. At a desktop and at a phone's size, under the app's Content-Security-Policy, with no
violation in the console (issue 17; ui/scroll.py)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from memory.store import MESSAGE_PAGE_SIZE, new_session_id
from tests.browser.conftest import (
    CspWatch,
    RunningApp,
    paced,
    screenshot,
    seed_chat,
    settle,
    sign_up,
    store_of,
    user_id_of,
)

LONG = 60_000  # ms: generous, for a loaded two-core machine
SECONDS_PER_WORD = 0.5  # the stub's pace: the answer below streams for about 12 s
QUESTION = "Please repeat these words slowly: " + " ".join(f"w{n}" for n in range(1, 20))
SCROLLER = '[data-testid="stMain"]'  # the main area's scroll container on the chat page

# Functions, never expressions: Playwright evaluates an expression with eval, which the app's
# CSP refuses.
DISTANCE_TO_END_JS = f"""() => {{
  const main = document.querySelector('{SCROLLER}');
  return main.scrollHeight - main.clientHeight - main.scrollTop;
}}"""
AT_END_JS = f"""() => {{
  const main = document.querySelector('{SCROLLER}');
  return main.scrollHeight - main.clientHeight - main.scrollTop <= 4;
}}"""
# What of the page is not covered: below the header, above the chat box's area.
VIEW_JS = """() => {
  const header = document.querySelector('[data-testid="stHeader"]');
  const bottom = document.querySelector('[data-testid="stBottom"]');
  return {
    top: header ? header.getBoundingClientRect().bottom : 0,
    bottom: bottom ? bottom.getBoundingClientRect().top : window.innerHeight,
  };
}"""
FRAME_JS = """() => {
  const frame = document.querySelector('.st-key-turn-in-view iframe');
  return frame && {
    tabindex: frame.getAttribute('tabindex'),
    hidden: frame.getAttribute('aria-hidden'),
    shown: frame.closest('.st-key-turn-in-view').getBoundingClientRect().height,
  };
}"""
FOCUS_RING_JS = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  return {name: el.textContent, width: style.outlineWidth, outline: style.outlineStyle};
}"""


def distance_to_end(page: Page) -> float:
    return page.evaluate(DISTANCE_TO_END_JS)


def in_view(page: Page, target: Locator) -> bool:
    """Whether all of `target` shows: below the header, above the chat box's area."""
    box = target.bounding_box()
    view: dict[str, Any] = page.evaluate(VIEW_JS)
    return (
        box is not None
        and box["y"] >= view["top"] - 1
        and box["y"] + box["height"] <= (view["bottom"] + 1)
    )


def wait_in_view(page: Page, target: Locator, what: str) -> None:
    for _ in range(50):
        if in_view(page, target):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"{what} is not in view: {target.bounding_box()} {page.evaluate(VIEW_JS)}")


def scroll_with_wheel(page: Page, dy: float) -> None:
    """The user's own scrolling: the mouse wheel over the middle of the chat."""
    main = page.locator(SCROLLER).bounding_box()
    assert main is not None
    page.mouse.move(main["x"] + main["width"] / 2, main["y"] + main["height"] / 3)
    page.mouse.wheel(0, dy)


def scroll_to_top(page: Page) -> None:
    """Wheel up until the top shows. Streamlit's own scroll container may take back a first
    wheel turn while it still settles the page at its end (its stick-to-bottom), as a user
    would find and turn the wheel again."""
    for _ in range(10):
        scroll_with_wheel(page, -100_000)
        page.wait_for_timeout(300)
        if page.evaluate(f"() => document.querySelector('{SCROLLER}').scrollTop") == 0:
            return
    raise AssertionError("the wheel never reached the top of the chat")


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)], ids=["desktop", "phone"])
def test_a_message_sent_from_the_top_of_a_long_chat_is_followed_to_its_end(
    app: RunningApp, browser: Browser, model_stub: str, width: int, height: int
) -> None:
    name = f"{width}x{height}"
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    page.set_default_timeout(LONG)
    watched = CspWatch(page)
    jump = page.get_by_role("button", name="Jump to latest")
    try:
        username = f"reader{width}"
        sign_up(page, app.url, username)
        store, user_id, session_id = store_of(app), user_id_of(app, username), new_session_id()
        seed_chat(store, user_id, session_id, MESSAGE_PAGE_SIZE)
        page.goto(f"{app.url}/?session={session_id}")
        settle(page)
        expect(page.get_by_test_id("stChatMessage")).to_have_count(MESSAGE_PAGE_SIZE, timeout=LONG)
        settle(page)

        # The component takes no room and no focus, and is hidden from assistive technology.
        # (follow.js hides its element once loaded, a moment after the page.)
        page.wait_for_function(f"() => ({FRAME_JS})()?.shown === 0")
        assert page.evaluate(FRAME_JS) == {"tabindex": "-1", "hidden": "true", "shown": 0}
        # A chat opens at its end: nothing to jump to.
        expect(jump).to_be_hidden()

        # The user reads from the top: the view is not at the end, and the control says so.
        scroll_to_top(page)
        assert distance_to_end(page) > 2_000
        expect(jump).to_be_visible()
        screenshot(page, f"turn-in-view-{name}-01-top-of-a-long-chat")

        with paced(model_stub, SECONDS_PER_WORD):
            box = page.get_by_test_id("stChatInputTextArea")
            box.fill(QUESTION)
            box.press("Enter")
            stop = page.get_by_role("button", name="Stop")
            expect(stop).to_be_visible(timeout=LONG)
            question = page.get_by_test_id("stChatMessage").filter(has_text=QUESTION).first
            answer = page.get_by_test_id("stChatMessage").filter(has_text="Echo: ").last
            expect(answer).to_contain_text("Please repeat", timeout=LONG)

            # The sent message and its streaming answer are in view, the end of the page too,
            # and they stay so as the answer grows.
            wait_in_view(page, question, "the question")
            wait_in_view(page, answer, "the streaming answer")
            # Stop sits by the chat box, at the foot of the window, whatever the scroll.
            expect(
                page.get_by_test_id("stBottom").get_by_role("button", name="Stop")
            ).to_be_in_viewport()
            expect(jump).to_be_hidden()
            expect(answer).to_contain_text("w3")
            page.wait_for_function(AT_END_JS)
            wait_in_view(page, answer, "the answer as it grows")
            screenshot(page, f"turn-in-view-{name}-02-streaming-in-view")

            # The user scrolls up while it streams: following stops, the control shows, and
            # the growing answer does not pull the page back down.
            scroll_with_wheel(page, -600)
            expect(jump).to_be_visible()
            page.wait_for_timeout(1_500)
            expect(stop).to_be_visible()  # still streaming
            assert distance_to_end(page) > 300
            assert not in_view(page, answer.get_by_text("Echo:"))
            expect(stop).to_be_in_viewport()  # still by the chat box
            expect(jump).to_be_visible()
            screenshot(page, f"turn-in-view-{name}-03-scrolled-up-while-streaming")

            if width >= 1280:
                # Reachable with the keyboard from the chat box, with a visible focus ring.
                page.get_by_test_id("stChatInputTextArea").focus()
                for _ in range(4):
                    page.keyboard.press("Tab")
                    if page.evaluate(FOCUS_RING_JS)["name"].endswith("Jump to latest"):
                        break
                ring = page.evaluate(FOCUS_RING_JS)
                assert ring == {"name": "\u2193Jump to latest", "width": "2px", "outline": "solid"}
                screenshot(page, f"turn-in-view-{name}-04-jump-focused")

            jump.click()
            expect(jump).to_be_hidden()
            expect(stop).to_be_visible()  # it all happened while the answer streamed
            wait_in_view(page, answer, "the answer after Jump")
            # Following again: the answer keeps growing and the end stays in view.
            words_at_jump = len(answer.inner_text().split())
            for _ in range(100):
                if len(answer.inner_text().split()) > words_at_jump:
                    break
                page.wait_for_timeout(100)
            else:
                raise AssertionError("the answer did not grow after Jump")
            page.wait_for_function(AT_END_JS)
            wait_in_view(page, answer, "the answer growing after Jump")
            screenshot(page, f"turn-in-view-{name}-05-after-jump")

            # The answer ends; the page is drawn again from the database, still at its end.
            expect(stop).to_have_count(0, timeout=LONG)
            expect(page.get_by_role("button", name="Retry")).to_be_visible(timeout=LONG)
            settle(page)
        answered = page.get_by_test_id("stChatMessageContent").last
        expect(answered).to_have_text(f"Echo: {QUESTION}", timeout=LONG)
        wait_in_view(page, answered, "the stored answer")
        expect(jump).to_be_hidden()
        screenshot(page, f"turn-in-view-{name}-06-answered")

        # Off the end for any reason, the control shows; on a page without the chat, never.
        scroll_to_top(page)
        expect(jump).to_be_visible()
        page.goto(f"{app.url}/account")
        settle(page)
        expect(jump).to_be_hidden()
        assert watched.violations() == [], watched.violations()
    finally:
        page.context.close()
