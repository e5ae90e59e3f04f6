"""Edit and branch, answer versions, and temporary chats, as a user clicks through them in
Chromium with the stub model: an edited question starts a branch ("< 2 / 2 >" goes back to the
old one), Retry keeps the old answer beside the new, and a temporary chat leaves nothing in the
database or the data directory."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import inspect, text

from accounts import find_account
from database import get_engine
from memory import ChatStore
from memory.store import INTERRUPTED
from tests.browser.conftest import (
    RunningApp,
    messages,
    paced,
    screenshot,
    send,
    settle,
    sidebar_chats,
    sign_up,
    wait_until_quiet,
)
from tests.browser.test_chat_actions_in_browser import (
    LONG_QUESTION,
    SLOW,
    ask_and_stop_after_the_first_words,
    prompts_sent,
    wait_for,
)

pytestmark = pytest.mark.browser


def app_store(app: RunningApp) -> ChatStore:
    return ChatStore(get_engine(f"sqlite:///{app.env['DATA_DIR']}/chat.db"))


def open_chat_id(page: Page) -> str:
    return re.search(r"session=([^&]+)", page.url).group(1)


def every_version(app: RunningApp, username: str, page: Page) -> list[tuple[str, bool]]:
    store = app_store(app)
    account = find_account(store.engine, username=username)
    assert account is not None
    stored = store.load_messages(account.id, open_chat_id(page), every_version=True)
    return [(m.content, m.on_path) for m in stored]


def versions_label(page: Page) -> list[str]:
    labels = page.locator("[class*='st-key-versions-']")
    return [label.strip() for label in labels.all_inner_texts()]


def control(page: Page, prefix: str, index: int = 0) -> Locator:
    return page.locator(f"[class*='st-key-{prefix}-'] button").nth(index)


def test_editing_a_question_answers_it_on_a_new_branch_and_the_old_one_stays(
    app: RunningApp, model_stub: str, page: Page
) -> None:
    sign_up(page, app.url, "edda")
    send(page, "What is a fjord?")
    send(page, "And a moraine?")
    old_branch = ["What is a fjord?", "Echo: What is a fjord?", "And a moraine?"]
    old_branch.append("Echo: And a moraine?")
    asked = len(prompts_sent(model_stub))

    control(page, "edit", 0).click()
    box = page.get_by_role("textbox", name="Edit your message")
    expect(box).to_have_value("What is a fjord?")
    screenshot(page, "branches-01-editing")
    box.fill("What is a glacier?")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_test_id("stChatMessageContent")).to_have_text(
        ["What is a glacier?", "Echo: What is a glacier?"], timeout=30_000
    )
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)
    settle(page)
    assert versions_label(page) == ["2 / 2"]
    # The model heard the edited question alone: nothing of the old branch.
    [edited] = prompts_sent(model_stub)[asked:]
    assert [(m["role"], m["content"]) for m in edited[1:]] == [("user", "What is a glacier?")]
    screenshot(page, "branches-02-edited")

    control(page, "older").click()
    expect(page.get_by_test_id("stChatMessageContent")).to_have_text(old_branch)
    settle(page)
    assert versions_label(page) == ["1 / 2"]
    expect(control(page, "older")).to_be_disabled()

    # The next question follows the branch on screen, and survives a reload.
    send(page, "And a drumlin?")
    page.reload()
    settle(page)
    expect(page.get_by_test_id("stChatMessageContent")).to_have_text(
        [*old_branch, "And a drumlin?", "Echo: And a drumlin?"]
    )
    control(page, "newer").click()
    expect(page.get_by_test_id("stChatMessageContent")).to_have_text(
        ["What is a glacier?", "Echo: What is a glacier?"]
    )
    assert len(every_version(app, "edda", page)) == 8
    assert len(sidebar_chats(page).all()) == 1

    # On a phone the controls stay on one line, under the question, inside the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    settle(page)
    row = page.locator("[class*='st-key-message-actions-']").first
    expect(row).to_be_visible()
    box = row.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    older, newer = control(page, "older").bounding_box(), control(page, "newer").bounding_box()
    assert older is not None and newer is not None
    assert abs(older["y"] - newer["y"]) < 4
    screenshot(page, "branches-05-phone")


def test_retry_keeps_the_interrupted_answer_as_version_one_of_two(
    app: RunningApp, model_stub: str, page: Page
) -> None:
    sign_up(page, app.url, "vera")
    wait_until_quiet(page)
    with paced(model_stub, SLOW):
        ask_and_stop_after_the_first_words(page, LONG_QUESTION)
        settle(page)
        wait_for(lambda: len(every_version(app, "vera", page)) == 2, what="the stopped answer")
    page.reload()
    settle(page)
    page.get_by_role("button", name="Retry").click()
    full_answer = f"Echo: {LONG_QUESTION}"
    expect(page.get_by_test_id("stChatMessageContent").nth(1)).to_have_text(
        full_answer, timeout=30_000
    )
    settle(page)
    assert versions_label(page) == ["2 / 2"]
    expect(page.get_by_text("This answer was interrupted.")).to_have_count(0)
    screenshot(page, "branches-03-retried")

    control(page, "older").click()
    expect(page.get_by_text("This answer was interrupted.")).to_be_visible()
    settle(page)
    assert versions_label(page) == ["1 / 2"]
    partial = messages(page)[1]
    assert full_answer.startswith(partial.removesuffix("This answer was interrupted.").strip())
    stored = every_version(app, "vera", page)
    assert [on_path for _, on_path in stored] == [True, True, False]
    # The question is one message: Retry added an answer, not a second question.
    assert [content for content, _ in stored].count(LONG_QUESTION) == 1
    statuses = [
        m.status
        for m in app_store(app).load_messages(
            find_account(app_store(app).engine, username="vera").id, open_chat_id(page)
        )
    ]
    assert statuses == ["complete", INTERRUPTED]


def rows_holding(app: RunningApp, marker: str) -> list[str]:
    engine = get_engine(f"sqlite:///{app.env['DATA_DIR']}/chat.db")
    found = []
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                if marker in " ".join(str(value) for value in row):
                    found.append(table)
    return found


def files_holding(folder: Path, marker: str) -> list[str]:
    needle = marker.encode()
    return [
        str(path) for path in folder.rglob("*") if path.is_file() and needle in path.read_bytes()
    ]


def test_a_temporary_chat_is_answered_remembered_and_leaves_no_trace(
    app: RunningApp, model_stub: str, page: Page
) -> None:
    sign_up(page, app.url, "tove")
    send(page, "A saved question with marker-saved-7f3a")
    page.get_by_test_id("stSidebar").get_by_role("button", name="Temporary chat").click()
    expect(page.get_by_role("heading", name="Temporary chat")).to_be_visible()
    expect(page.get_by_text("This chat is not saved.")).to_be_visible()
    settle(page)
    asked = len(prompts_sent(model_stub))
    marker = "marker-temp-91c2"
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(f"My locker code is {marker}")
    box.press("Enter")
    expect(page.get_by_test_id("stChatMessageContent").nth(1)).to_have_text(
        f"Echo: My locker code is {marker}", timeout=30_000
    )
    settle(page)
    box.fill("What is my locker code?")
    box.press("Enter")
    expect(page.get_by_test_id("stChatMessageContent")).to_have_count(4, timeout=30_000)
    expect(page.get_by_role("button", name="Stop")).to_have_count(0, timeout=30_000)
    settle(page)
    screenshot(page, "branches-04-temporary")
    # It remembers within itself: the second prompt carried the first exchange.
    second = prompts_sent(model_stub)[asked + 1]
    assert any(marker in m["content"] for m in second[1:-1])
    # Not listed, not searched, not stored: no row, no file of the app holds its words.
    assert len(sidebar_chats(page).all()) == 1
    page.get_by_test_id("stSidebar").get_by_role("textbox", name="Search chats").fill(marker)
    page.keyboard.press("Enter")
    expect(page.get_by_text("No chat matches.")).to_be_visible()
    with get_engine(f"sqlite:///{app.env['DATA_DIR']}/chat.db").connect() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(FULL)"))
    assert rows_holding(app, marker) == []
    assert files_holding(Path(app.env["DATA_DIR"]), marker) == []
    # The control: the same search finds the saved chat's words, in a row and in a file.
    assert rows_holding(app, "marker-saved-7f3a")
    assert files_holding(Path(app.env["DATA_DIR"]), "marker-saved-7f3a")

    # Opening another chat forgets it; coming back starts an empty one.
    page.get_by_test_id("stSidebar").get_by_role("textbox", name="Search chats").fill("")
    page.keyboard.press("Enter")
    settle(page)
    sidebar_chats(page).first.click()
    expect(page.get_by_role("heading", name="Temporary chat")).to_have_count(0)
    settle(page)
    page.get_by_test_id("stSidebar").get_by_role("button", name="Temporary chat").click()
    expect(page.get_by_role("heading", name="Temporary chat")).to_be_visible()
    settle(page)
    expect(page.get_by_test_id("stChatMessage")).to_have_count(0)


def download(app: RunningApp, page: Page, path: str) -> str:
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "chat_auth")
    request = urllib.request.Request(f"{app.url}{path}", headers={"Cookie": f"chat_auth={token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode()


def test_an_edited_chat_is_exported_with_its_versions_and_imported_back_with_them(
    app: RunningApp, page: Page, tmp_path: Path
) -> None:
    sign_up(page, app.url, "expo")
    send(page, "What is a fjord?")
    control(page, "edit", 0).click()
    page.get_by_role("textbox", name="Edit your message").fill("What is a glacier?")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_test_id("stChatMessageContent")).to_have_text(
        ["What is a glacier?", "Echo: What is a glacier?"], timeout=30_000
    )
    settle(page)

    exported = json.loads(download(app, page, "/files/my-chats.json"))
    [chat] = exported["sessions"]
    assert [(m["number"], m["parent"], m["selected"], m["content"]) for m in chat["messages"]] == [
        (1, None, False, "What is a fjord?"),
        (2, 1, True, "Echo: What is a fjord?"),
        (3, None, True, "What is a glacier?"),
        (4, 3, True, "Echo: What is a glacier?"),
    ]
    markdown = download(app, page, "/files/my-chats.md")
    assert "What is a glacier?" in markdown and "Echo: What is a fjord?" not in markdown
    assert "This chat also holds 2 other versions of its messages" in markdown

    file = tmp_path / "my-chats.json"
    file.write_text(json.dumps(exported))
    page.goto(f"{app.url}/my_data")
    settle(page)
    page.locator("input[type=file]").set_input_files(str(file))
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_text("Imported 1 chat.")).to_be_visible(timeout=30_000)
    page.goto(app.url)
    settle(page)
    chats = sidebar_chats(page)
    expect(chats).to_have_count(2)
    for index in range(2):
        chats.nth(index).click()
        settle(page)
        expect(page.get_by_test_id("stChatMessageContent")).to_have_text(
            ["What is a glacier?", "Echo: What is a glacier?"]
        )
        assert versions_label(page) == ["2 / 2"]
    # A loaded CI machine can take longer than the default 5 s for this rerun.
    expect(control(page, "older")).to_be_enabled()
    control(page, "older").click()
    expect(page.get_by_test_id("stChatMessageContent")).to_have_text(
        ["What is a fjord?", "Echo: What is a fjord?"], timeout=20_000
    )
