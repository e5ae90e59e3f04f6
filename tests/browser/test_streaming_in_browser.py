"""While an answer streams, in Chromium: the page holds still, Stop sits by the chat box, the
box takes no second message, and the messages' own actions are gone; when it ends, Stop goes
with it. After a model error the same page shows the chat's title, the notice and Retry.

A script recorded before the app's own (Playwright's init script) samples the page on every
animation frame while a turn runs: what the header says and where it is, how many specialty
lines there are, where Stop is, whether the box is disabled, which actions show."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    RunningApp,
    messages,
    paced,
    screenshot,
    send,
    settle,
    sign_up,
    stub_app,
    stub_control,
)

pytestmark = pytest.mark.browser

QUESTION = "Describe how a glacier moves, word by slow word, from the top down to the sea"
TITLE = "Describe how a glacier moves, word by slow word, from the t…"  # its first words

RECORD_FRAMES_JS = """
window.__frames = null;
window.__record = () => { window.__frames = []; };
const sample = () => {
  if (window.__frames && window.__frames.length < 20000) {
    const q = s => Array.from(document.querySelectorAll(s));
    // Buttons a user can see: drawn, with a size (not one left hidden in the page's tree).
    const buttons = name => q('button').filter(
      b => b.getClientRects().length > 0 && b.innerText.trim().endsWith(name));
    const stop = buttons('Stop')[0];
    const box = document.querySelector('[data-testid="stChatInputTextArea"]');
    const h1 = q('h1');
    const main = document.querySelector('[data-testid="stMain"]');
    const answers = q('[data-testid="stChatMessageContent"]');
    window.__frames.push({
      headers: h1.map(h => h.innerText.trim()),
      // Where the header is on the page (not in the window, which follows the answer).
      headerTop: h1.length ? h1[0].getBoundingClientRect().top + main.scrollTop : null,
      specialtyLines: q('[data-testid="stCaptionContainer"]')
        .filter(c => c.innerText.startsWith('Assistant specialized in')).length,
      stop: !!stop,
      stopByTheBox: !!stop && !!stop.closest('[data-testid="stBottom"]'),
      stopInAMessage: !!stop && !!stop.closest('[data-testid="stChatMessage"]'),
      boxDisabled: !!box && box.disabled,
      retry: buttons('Retry').length,
      edit: buttons('Edit').length,
      t: performance.now(),
      lastMessage: answers.length ? answers[answers.length - 1].innerText.trim() : '',
    });
  }
  requestAnimationFrame(sample);
};
requestAnimationFrame(sample);
"""


@pytest.fixture(scope="module")
def app(
    tmp_path_factory: pytest.TempPathFactory, model_stub: str, cookie_key: str
) -> Iterator[RunningApp]:
    """The app answered by the stub; chats keep their first-words titles, so that a header
    that changes can only be the page moving, not the model's title arriving."""
    data_dir = tmp_path_factory.mktemp("streaming-data")
    with stub_app(data_dir, model_stub, cookie_key, MODEL_TITLES="off") as running:
        yield running


def recorded(page: Page) -> list[dict[str, Any]]:
    return page.evaluate("() => window.__frames")


@pytest.fixture
def recording_page(page: Page) -> Page:
    page.add_init_script(RECORD_FRAMES_JS)
    return page


def ask_slowly(page: Page, model_stub: str, question: str) -> list[dict[str, Any]]:
    """Send `question` with the words coming slowly; the frames sampled until the page settled."""
    with paced(model_stub, 0.12):
        page.evaluate("() => window.__record()")
        box = page.get_by_test_id("stChatInputTextArea")
        box.fill(question)
        box.press("Enter")
        expect(page.get_by_role("button", name="Stop")).to_be_visible(timeout=30_000)
        screenshot(page, f"streaming-{page.viewport_size['width']}-while-answering")
        expect(page.get_by_role("button", name="Stop")).to_have_count(0, timeout=60_000)
        settle(page)
    return recorded(page)


def while_streaming(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [frame for frame in frames if frame["stop"]]


@pytest.mark.parametrize("viewport", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
def test_the_page_holds_still_while_an_answer_streams_and_stop_sits_by_the_box(
    app: RunningApp, model_stub: str, recording_page: Page, viewport: tuple[int, int]
) -> None:
    page = recording_page
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    sign_up(page, app.url, f"still{viewport[0]}")

    frames = ask_slowly(page, model_stub, QUESTION)

    streaming = while_streaming(frames)
    assert len(streaming) > 10, "the answer streamed over many frames"
    answer = f"Echo: {QUESTION}"
    assert messages(page)[-1] == answer
    # From the first streamed word the header is the chat's title, once, in one place.
    first = next(i for i, frame in enumerate(frames) if frame["stop"])
    after = frames[first:]
    assert {tuple(frame["headers"]) for frame in after} <= {(TITLE,)}, "no 'New chat', no jump"
    assert len({round(frame["headerTop"]) for frame in after}) == 1
    assert max(frame["specialtyLines"] for frame in frames) == 1, "never shown twice"
    # Stop by the chat box, never in the answer; the box takes no second message meanwhile.
    assert all(frame["stopByTheBox"] and not frame["stopInAMessage"] for frame in streaming)
    assert all(frame["boxDisabled"] for frame in streaming)
    # Stop goes with the answer's last word, before the answer is stored: at most the frames
    # between two of the server's messages show the whole answer with Stop (before this
    # change: 24 frames, 380 ms, spent storing it).
    lingering = [frame for frame in streaming if frame["lastMessage"] == answer]
    print(f"\nStop shown with the whole answer: {len(lingering)} frames")
    assert len(lingering) <= 3
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_enabled()
    screenshot(page, f"streaming-{viewport[0]}-answered")


def test_retry_and_edit_are_hidden_while_an_answer_streams(
    app: RunningApp, model_stub: str, recording_page: Page
) -> None:
    page = recording_page
    sign_up(page, app.url, "hidden")
    send(page, "a first question")
    expect(page.get_by_role("button", name="Retry")).to_be_visible()

    frames = ask_slowly(page, model_stub, QUESTION)

    streaming = while_streaming(frames)
    assert streaming and all(frame["retry"] == 0 and frame["edit"] == 0 for frame in streaming)
    expect(page.get_by_role("button", name="Retry")).to_be_visible()
    expect(page.get_by_role("button", name="Edit")).to_have_count(2)


def test_after_a_model_error_the_page_shows_the_title_the_notice_and_retry_without_a_reload(
    app: RunningApp, model_stub: str, page: Page
) -> None:
    sign_up(page, app.url, "failing")
    stub_control(model_stub, "mode", {"mode": "server_error"})
    try:
        box = page.get_by_test_id("stChatInputTextArea")
        box.fill(QUESTION)
        box.press("Enter")
        expect(page.get_by_text("Your message is saved: Retry.")).to_be_visible(timeout=30_000)
        settle(page)
    finally:
        stub_control(model_stub, "mode", {"mode": "normal"})
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)
    expect(page.get_by_text("no answer yet")).to_have_count(0)
    screenshot(page, "streaming-model-error-recovered")

    page.get_by_role("button", name="Retry").click()
    expect(page.get_by_test_id("stChatMessage")).to_have_count(2, timeout=30_000)
    expect(page.get_by_role("button", name="Stop")).to_have_count(0, timeout=30_000)
    settle(page)
    assert messages(page) == [QUESTION, f"Echo: {QUESTION}"]
    expect(page.get_by_text("Your message is saved: Retry.")).to_have_count(0)


def test_a_new_chat_welcomes_with_starter_prompts_and_one_click_asks_one(
    app: RunningApp, page: Page
) -> None:
    sign_up(page, app.url, "starter")
    specialty = page.get_by_role("textbox", name="Assistant's specialty")
    specialty.fill("cooking")
    specialty.press("Enter")
    settle(page)
    prompt = "How do I keep pasta from sticking?"
    expect(page.get_by_text("Ask the cooking assistant anything")).to_be_visible()
    expect(page.get_by_role("button", name=prompt)).to_be_visible()
    screenshot(page, "new-chat-welcome")

    page.get_by_role("button", name=prompt).click()

    expect(page.get_by_test_id("stChatMessage")).to_have_count(2, timeout=30_000)
    expect(page.get_by_role("button", name="Stop")).to_have_count(0, timeout=30_000)
    settle(page)
    assert messages(page) == [prompt, f"Echo: {prompt}"]
    expect(page.get_by_role("heading", level=1)).to_have_text(prompt)
    expect(page.get_by_text("Assistant specialized in cooking")).to_be_visible()
