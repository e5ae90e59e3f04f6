"""Every message has a Copy button in Chromium: it puts the message's own text, as shown, in
the clipboard (not its time, nor markup), and says so; on a phone as on a desktop it never
lies over the message's text."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import PASSWORD, RunningApp, send, settle, sign_up

pytestmark = pytest.mark.browser

# Whether any Copy button's box meets the text box of its own message.
COVERS_TEXT_JS = """() => Array.from(document.querySelectorAll('[data-testid="stChatMessage"]'))
  .some((message) => {
    const button = message.querySelector('.copy-message');
    const text = message.querySelector('[data-testid="stMarkdownContainer"]');
    if (!button || !text) return false;
    const b = button.getBoundingClientRect();
    return Array.from(text.querySelectorAll('p, li, pre'))
      .flatMap((block) => Array.from(block.getClientRects()))
      .some((r) => r.left < b.right && b.left < r.right && r.top < b.bottom && b.top < r.bottom);
  })"""
LONG_LINE = "Describe how a glacier moves, word by slow word, from the top down to the sea"


def test_copy_puts_a_messages_own_text_in_the_clipboard(app: RunningApp, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app.url)
    page = context.new_page()
    try:
        sign_up(page, app.url, "copier", PASSWORD)
        send(page, "Say **bold** things")
        messages = page.get_by_test_id("stChatMessage")
        expect(page.get_by_role("button", name="Copy message")).to_have_count(2)
        copies = page.locator(".copy-message")

        messages.nth(1).hover()
        copies.nth(1).click()

        expect(copies.nth(1)).to_have_text("Copied")
        # What a screen reader reads on the focused button changes with it.
        expect(copies.nth(1)).to_have_accessible_name("Copied")
        assert page.evaluate("() => navigator.clipboard.readText()") == "Echo: Say bold things"
        copies.nth(0).click()
        assert page.evaluate("() => navigator.clipboard.readText()") == "Say bold things"
        expect(copies.nth(1)).to_have_text("Copy", timeout=5_000)
        expect(copies.nth(1)).to_have_accessible_name("Copy message")

        send(page, LONG_LINE)
        for width, height in ((1280, 800), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            settle(page)
            assert not page.evaluate(COVERS_TEXT_JS), (width, height)
    finally:
        context.close()
