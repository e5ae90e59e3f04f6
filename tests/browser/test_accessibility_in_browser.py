"""axe-core (pinned in tests/support/axe, run in Chromium) finds no serious or critical
violation, and no heading out of order (a moderate one, asked for by issue 17), on any page: sign-in, create account, the chat (new, with messages, while an
answer streams), My data, Account, and each tab of the admin page.

axe is added with Playwright's init script, which the browser runs in every frame before the
page's own scripts and outside its Content-Security-Policy: the app's policy stays on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    PROJECT_DIR,
    RunningApp,
    open_app,
    paced,
    screenshot,
    send,
    settle,
    sign_up,
    wait_until_quiet,
)

pytestmark = pytest.mark.browser

AXE = PROJECT_DIR / "tests" / "support" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.1 A and AA, and axe's best practices (heading order, landmarks...).
RUN_AXE = """async () => {
  const result = await axe.run(document, {
    runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']},
  });
  return result.violations
    .filter(v => v.impact === 'serious' || v.impact === 'critical' || v.id === 'heading-order')
    .map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' :: ' + n.failureSummary)}));
}"""
ADMIN_TABS = ["Users", "Stored histories", "Audit log", "Usage", "Quotas", "Retention"]


def violations(page: Page) -> list[dict[str, Any]]:
    return page.evaluate(RUN_AXE)


def audited(page: Page, name: str, found: dict[str, list[dict[str, Any]]]) -> None:
    found[name] = violations(page)
    screenshot(page, f"axe-{name}")


@pytest.fixture
def axe_page(browser: Browser) -> Page:
    assert AXE.exists(), "run scripts/test once: it installs axe-core from npm"
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def test_no_page_has_a_serious_or_critical_axe_violation(
    app: RunningApp, axe_page: Page, model_stub: str
) -> None:
    page = axe_page
    found: dict[str, list[dict[str, Any]]] = {}
    open_app(page, app.url)
    wait_until_quiet(page, 1.0)
    audited(page, "sign-in", found)
    page.get_by_role("tab", name="Create account").click()
    audited(page, "create-account", found)

    sign_up(page, app.url, "axel")  # the first account: the administrator
    audited(page, "chat-new", found)
    send(page, "Tell me about **accessible** pages")
    audited(page, "chat-with-messages", found)
    with paced(model_stub, 0.3):
        box = page.get_by_test_id("stChatInputTextArea")
        box.fill("And a longer answer, while it streams, word by word")
        box.press("Enter")
        expect(page.get_by_role("button", name="Stop")).to_be_visible()
        audited(page, "chat-streaming", found)
    expect(page.get_by_role("button", name="Stop")).to_have_count(0, timeout=60_000)
    settle(page)

    for name, path in (("my-data", "/my_data"), ("account", "/account"), ("admin", "/admin")):
        page.goto(f"{app.url}{path}")
        settle(page)
        audited(page, name, found)
    for tab in ADMIN_TABS:
        page.get_by_role("tab", name=tab).click()
        settle(page)
        audited(page, f"admin-{tab.lower().replace(' ', '-')}", found)

    serious = {name: items for name, items in found.items() if items}
    Path(PROJECT_DIR / "test-output").mkdir(exist_ok=True)
    (PROJECT_DIR / "test-output" / "axe.json").write_text(json.dumps(found, indent=2))
    assert serious == {}, json.dumps(serious, indent=2)
