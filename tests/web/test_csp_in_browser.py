"""The Content-Security-Policy in Chromium: the sign-in page (with the cookie manager
component's iframe), signing up, the chat page and a reload of it run without one violation
report, and the app connects. The policy is really enforced here: a script added to the page
at the end is blocked and reported.

Pages under this policy can only be waited on with function predicates (`"() => ..."`, as
tests/browser's helpers do): Playwright runs a string expression given to wait_for_function
through eval inside the page, which the policy blocks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

import accounts
from memory import open_store
from tests.browser.conftest import (
    PASSWORD,
    RunningApp,
    has_cookie,
    settle,
    try_sign_in,
    visible_form,
    wait_until_quiet,
)
from tests.scale.conftest import cheap_hashes
from tests.web.policy import sha256_source

pytestmark = pytest.mark.browser

# Every violation report of every document (iframes included: init scripts run in each frame).
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI), true);
"""


@dataclass
class Watched:
    page: Page
    console: list[str] = field(default_factory=list)

    def violations(self) -> list[str]:
        """The reports of every frame's current document."""
        found = []
        for frame in self.page.frames:
            for report in frame.evaluate("() => window.__csp || []"):
                found.append(f"{frame.url}: {report}")
        return found

    def csp_console_errors(self) -> list[str]:
        return [text for text in self.console if "Content Security Policy" in text]


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    """A page in a context of its own that enforces CSP (the shared `context` fixture might
    one day bypass it for the other browser tests), recording violations and console text."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, bypass_csp=False)
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(20_000)
    watched = Watched(page)
    page.on("console", lambda message: watched.console.append(_text(message)))
    yield watched
    context.close()


def _text(message: ConsoleMessage) -> str:
    return f"{message.type}: {message.text}"


def open_sign_in_page(watched: Watched, app: RunningApp) -> None:
    page = watched.page
    page.goto(app.url)
    settle(page)
    expect(visible_form(page, "Sign in")).to_be_visible()
    # The cookie manager component's own document, in its iframe.
    page.wait_for_selector("iframe[src*='/component/']", state="attached")
    wait_until_quiet(page)


def test_sign_in_page_runs_without_a_violation(watched: Watched, app: RunningApp) -> None:
    open_sign_in_page(watched, app)
    page = watched.page
    component = next(frame for frame in page.frames if "/component/" in frame.url)
    component.wait_for_load_state()
    assert component.evaluate("() => Array.isArray(window.__csp)")  # it was watched too
    assert watched.violations() == []
    assert watched.csp_console_errors() == []
    # The favicon is the app's own file (Streamlit points a ":material/...:" page_icon at
    # fonts.gstatic.com, which the policy would refuse).
    favicon = page.evaluate("() => document.querySelector(\"link[rel='shortcut icon']\").href")
    assert favicon.startswith(app.url + "/"), favicon
    # The component's document, now that the page has drawn it, allows its own inline script.
    document = httpx.get(component.url, timeout=15)
    scripts = re.findall(r"<script>(.*?)</script>", document.text, re.S)
    assert scripts
    policy = document.headers["content-security-policy"]
    assert (
        f"script-src 'self' 'wasm-unsafe-eval' {' '.join(map(sha256_source, scripts))};" in policy
    )
    assert "frame-ancestors 'self'" in policy
    # The policy is enforced: a script the page did not come with is blocked and reported.
    ran = page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
        " document.body.append(s); return window.__ran === 1; }"
    )
    assert ran is False
    assert any("script-src-elem inline" in report for report in watched.violations())


def test_sign_up_chat_and_reload_run_without_a_violation(watched: Watched, app: RunningApp) -> None:
    page = watched.page
    open_sign_in_page(watched, app)
    page.get_by_role("tab", name="Create account").click()
    form = visible_form(page, "Create account")
    form.get_by_role("textbox", name="Username").fill("csp-user")
    form.get_by_role("textbox", name="New password").fill(PASSWORD)
    form.get_by_role("textbox", name="Repeat the password").fill(PASSWORD)
    form.get_by_role("button", name="Create account").click()
    box = page.get_by_test_id("stChatInputTextArea")
    expect(box).to_be_visible(timeout=30_000)
    assert has_cookie(page)  # set by the app's own handover route, not by a script
    settle(page)

    box.fill("Hello `code` and **bold**")
    box.press("Enter")
    expect(page.get_by_test_id("stChatMessage")).to_have_count(2, timeout=60_000)
    expect(page.get_by_role("button", name="Retry").first).to_be_visible(timeout=60_000)
    settle(page)
    assert watched.violations() == []

    # A reload revalidates index.html (no-cache): the 304's policy must still allow its
    # inline script, or the browser's stored headers would lose the hash.
    page.reload()
    settle(page)
    expect(page.get_by_test_id("stChatMessage")).to_have_count(2, timeout=30_000)
    assert watched.violations() == []
    assert watched.csp_console_errors() == []


def test_every_page_of_an_administrator_runs_without_a_violation(
    watched: Watched, app: RunningApp
) -> None:
    """My data, Account and each tab of Admin (tables, charts, forms) under the policy."""
    url = f"sqlite:///{Path(app.env['DATA_DIR']) / 'chat.db'}"
    engine = open_store(url).engine
    if accounts.find_account(engine, username="csp-admin") is None:
        with cheap_hashes():
            accounts.create_account(
                engine, username="csp-admin", password=PASSWORD, role="admin", via_signup=False
            )
    page = watched.page
    open_sign_in_page(watched, app)
    try_sign_in(page, "csp-admin", PASSWORD)
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_visible(timeout=30_000)
    for path, heading in (("/my_data", "My data"), ("/account", "Account"), ("/admin", "Admin")):
        page.goto(app.url + path)
        settle(page)
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        assert watched.violations() == [], path
    for tab in ("Users", "Stored histories", "Audit log", "Usage", "Retention"):
        page.get_by_role("tab", name=tab).click()
        settle(page)
        page.wait_for_timeout(300)  # the grid and the charts draw after the run
        assert watched.violations() == [], tab
    assert watched.csp_console_errors() == []
