"""The security middleware on a tiny Starlette app: which headers each kind of response gets,
how the inline-script hashes are found and cached, the settings, and the WebSocket Origin
check. tests/web/test_security_headers.py checks the same on the real app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.websockets import WebSocket

import settings
from tests.web.policy import SECURITY_HEADERS, directives, sha256_source
from web import security
from web.security import SecurityHeaders, origin_allowed, same_origin, script_hashes

OWN_HEADERS = SECURITY_HEADERS
TWO_SCRIPTS = (
    "<!doctype html><html><head><script>window.a = 1</script>"
    '<script src="/static/app.js"></script>'
    '<SCRIPT type="module" data-x="a>b">\r\nimport "/x.js";\r\n</SCRIPT >'
    "</head><body><p>hi</p></body></html>"
)


def boom(_request: Request) -> Response:
    raise RuntimeError("a bug")


def own_headers(_request: Request) -> Response:
    # Headers of the same names as the middleware's, set by the route: replaced, not doubled.
    return PlainTextResponse(
        "mine",
        headers={
            "X-Frame-Options": "SAMEORIGIN",
            "Content-Security-Policy": "default-src *",
            "X-Content-Type-Options": "nosniff",
        },
    )


def streamed(_request: Request) -> Response:
    async def parts() -> AsyncIterator[bytes]:
        for number in range(3):
            yield f"part {number}\n".encode()

    return StreamingResponse(parts(), media_type="text/plain")


def big_html(_request: Request) -> Response:
    filler = "x" * (security.MAX_HTML_BYTES + 10)
    return HTMLResponse(f"<script>window.a = 1</script><p>{filler}</p>")


async def echo_socket(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("hello")
    await websocket.close()


def make_app(static_dir: Path, **options: str) -> Starlette:
    routes = [
        Route("/text", lambda _r: PlainTextResponse("ok")),
        Route("/page", lambda _r: HTMLResponse(TWO_SCRIPTS)),
        Route(
            "/latin1",
            lambda _r: HTMLResponse(
                "<script>'é'</script>".encode("latin-1"), media_type="text/html; charset=latin-1"
            ),
        ),
        Route("/boom", boom),
        Route("/own", own_headers),
        Route("/stream", streamed),
        Route("/big", big_html),
        Route("/component/thing/index.html", lambda _r: HTMLResponse(TWO_SCRIPTS)),
        Route("/gz", lambda _r: HTMLResponse(TWO_SCRIPTS + "<!-- " + "pad " * 400 + "-->")),
        WebSocketRoute("/ws", echo_socket),
        Mount("/files", StaticFiles(directory=static_dir, html=True)),
    ]
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders, component_prefix="/component/", **options),
            Middleware(GZipMiddleware, minimum_size=500),
        ],
    )


@pytest.fixture
def static_dir(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_text(TWO_SCRIPTS)
    return tmp_path


@pytest.fixture
def client(static_dir: Path) -> Iterator[TestClient]:
    with TestClient(make_app(static_dir), raise_server_exceptions=False) as client:
        yield client


def assert_all_headers(response, *, framed_by: str = "'none'") -> dict[str, list[str]]:
    for name in OWN_HEADERS:
        if name == "x-frame-options" and framed_by not in ("'none'", "'self'"):
            assert name not in response.headers
            continue
        values = response.headers.get_list(name)
        assert len(values) == 1, f"{name}: {values}"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cross-origin-opener-policy"] == "same-origin"
    assert "camera=()" in response.headers["permissions-policy"]
    assert "microphone=()" in response.headers["permissions-policy"]
    assert "geolocation=()" in response.headers["permissions-policy"]
    csp = directives(response.headers["content-security-policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == framed_by.split()
    return csp


@pytest.mark.parametrize(
    ("path", "status"),
    [("/text", 200), ("/page", 200), ("/nowhere", 404), ("/boom", 500), ("/files/nothing", 404)],
)
def test_every_response_gets_the_headers(client: TestClient, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    csp = assert_all_headers(response)
    assert response.headers["x-frame-options"] == "DENY"
    if path != "/page":
        assert csp["script-src"] == ["'self'", "'wasm-unsafe-eval'"]


def test_a_500_keeps_the_apps_own_error_handler(static_dir: Path) -> None:
    app = make_app(static_dir)
    app.add_exception_handler(500, lambda _r, _e: PlainTextResponse("sorry", status_code=500))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.text == "sorry"
    assert_all_headers(response)


def test_the_error_still_reaches_the_server(static_dir: Path) -> None:
    """The middleware answers the 500 but re-raises, so the server logs the traceback."""
    with TestClient(make_app(static_dir)) as client, pytest.raises(RuntimeError, match="a bug"):
        client.get("/boom")


def test_headers_a_response_set_itself_are_replaced_not_doubled(client: TestClient) -> None:
    response = client.get("/own")
    assert response.text == "mine"
    assert_all_headers(response)
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src *" not in response.headers["content-security-policy"]


def test_the_policy_allows_what_streamlit_needs_and_no_more(client: TestClient) -> None:
    csp = directives(client.get("/text").headers["content-security-policy"])
    assert csp == {
        "default-src": ["'self'"],
        "script-src": ["'self'", "'wasm-unsafe-eval'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    # WebAssembly compilation alone (Streamlit's long.js): never JavaScript eval.
    assert not any(
        "eval" in value and value != "'wasm-unsafe-eval'"
        for values in csp.values()
        for value in values
    )


def test_html_gets_the_hashes_of_exactly_its_inline_scripts(client: TestClient) -> None:
    response = client.get("/page")
    assert response.text == TWO_SCRIPTS
    csp = assert_all_headers(response)
    # The browser hashes the module script's text with its CR LF read as LF.
    expected = [sha256_source("window.a = 1"), sha256_source('\nimport "/x.js";\n')]
    assert csp["script-src"] == ["'self'", "'wasm-unsafe-eval'", *expected]


def test_the_hash_is_of_the_text_as_the_page_charset_decodes_it(client: TestClient) -> None:
    csp = directives(client.get("/latin1").headers["content-security-policy"])
    assert csp["script-src"] == ["'self'", "'wasm-unsafe-eval'", sha256_source("'é'")]


def test_a_gzipped_page_is_hashed_as_the_browser_reads_it(client: TestClient) -> None:
    response = client.get("/gz", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    csp = directives(response.headers["content-security-policy"])
    assert csp["script-src"][2:] == [
        sha256_source("window.a = 1"),
        sha256_source('\nimport "/x.js";\n'),
    ]
    assert response.text.startswith(TWO_SCRIPTS)  # httpx inflated it: the body is intact


def test_hashes_are_computed_once_per_file_version(
    client: TestClient, static_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = security.script_hashes

    def counted(html: bytes, charset: str = "utf-8") -> tuple[str, ...]:
        calls.append(1)
        return real(html, charset)

    monkeypatch.setattr(security, "script_hashes", counted)
    first = client.get("/files/index.html")
    for _ in range(5):
        again = client.get("/files/index.html")
        assert again.headers["content-security-policy"] == first.headers["content-security-policy"]
    assert len(calls) == 1
    assert sha256_source("window.a = 1") in first.headers["content-security-policy"]
    # A new version of the file (new ETag) is hashed anew.
    (static_dir / "index.html").write_text("<script>changed()</script>")
    changed = client.get("/files/index.html")
    assert sha256_source("changed()") in changed.headers["content-security-policy"]
    assert sha256_source("window.a = 1") not in changed.headers["content-security-policy"]
    assert len(calls) == 2
    # Bodies without an ETag are cached by their digest.
    client.get("/page")
    client.get("/page")
    assert len(calls) == 3


def test_a_304_keeps_the_hashes_or_leaves_the_stored_policy_alone(static_dir: Path) -> None:
    with TestClient(make_app(static_dir)) as client:
        first = client.get("/files/index.html")
        etag = first.headers["etag"]
        not_modified = client.get("/files/index.html", headers={"If-None-Match": etag})
        assert not_modified.status_code == 304
        assert (
            not_modified.headers["content-security-policy"]
            == first.headers["content-security-policy"]
        )
    # A new process has not seen the page: a policy without its hashes would replace the one
    # the browser stored with its copy and block its scripts, so the 304 carries none.
    with TestClient(make_app(static_dir)) as fresh:
        cold = fresh.get("/files/index.html", headers={"If-None-Match": etag})
    assert cold.status_code == 304
    assert "content-security-policy" not in cold.headers
    assert cold.headers["x-frame-options"] == "DENY"


def test_head_and_non_html_are_not_held(client: TestClient) -> None:
    head = client.head("/page")
    assert head.status_code in (200, 405)
    assert "content-security-policy" in head.headers
    streamed = client.get("/stream")
    assert streamed.text == "part 0\npart 1\npart 2\n"
    assert_all_headers(streamed)


def test_a_page_too_big_to_hold_gets_no_hashes_and_all_its_body(client: TestClient) -> None:
    response = client.get("/big")
    assert len(response.content) > security.MAX_HTML_BYTES
    csp = directives(response.headers["content-security-policy"])
    assert csp["script-src"] == [
        "'self'",
        "'wasm-unsafe-eval'",
    ]  # fails closed: the inline script is blocked


def test_component_documents_may_be_framed_by_the_app_itself(client: TestClient) -> None:
    response = client.get("/component/thing/index.html")
    csp = assert_all_headers(response, framed_by="'self'")
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    assert len(csp["script-src"]) == 4  # its own inline scripts' hashes


def test_frame_ancestors_setting(static_dir: Path) -> None:
    app = make_app(static_dir, frame_ancestors="https://portal.example.org 'self'")
    with TestClient(app) as client:
        page = client.get("/text")
        component = client.get("/component/thing/index.html")
    # X-Frame-Options cannot name another origin: with an allow-list only the CSP speaks.
    assert_all_headers(page, framed_by="https://portal.example.org 'self'")
    assert "x-frame-options" not in page.headers
    assert_all_headers(component, framed_by="'self' https://portal.example.org")
    assert "x-frame-options" not in component.headers


def test_frame_ancestors_self_only_is_sameorigin(static_dir: Path) -> None:
    with TestClient(make_app(static_dir, frame_ancestors="'self'")) as client:
        response = client.get("/text")
    assert_all_headers(response, framed_by="'self'")
    assert response.headers["x-frame-options"] == "SAMEORIGIN"


def test_csp_off_drops_only_the_policy(static_dir: Path) -> None:
    with TestClient(make_app(static_dir, content_security_policy="off")) as client:
        for path in ("/text", "/page", "/own"):
            response = client.get(path)
            if path == "/own":  # a route's own CSP is then its own business
                assert response.headers["content-security-policy"] == "default-src *"
            else:
                assert "content-security-policy" not in response.headers
            assert response.headers.get_list("x-frame-options") == ["DENY"]
            assert response.headers.get_list("x-content-type-options") == ["nosniff"]
        assert client.get("/page").text == TWO_SCRIPTS


def test_settings_are_read_once_from_the_environment(
    static_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRAME_ANCESTORS", "https://portal.example.org")
    monkeypatch.setenv("CONTENT_SECURITY_POLICY", "off")
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://chat.example.org")
    monkeypatch.setenv(settings.SECRETS_FILE_ENV, str(static_dir / "none.toml"))
    settings.reload()
    middleware = SecurityHeaders(PlainTextResponse("x"))
    monkeypatch.setenv("FRAME_ANCESTORS", "https://other.example.org")  # too late: read once
    assert middleware.csp_enabled is False
    assert "frame-ancestors https://portal.example.org" in middleware.page.csp()[1].decode()
    assert middleware.allowed_origins == {("https", "chat.example.org", 443)}
    settings.reload()


@pytest.mark.parametrize(
    "options",
    [
        {"frame_ancestors": "https://x.example; script-src *"},
        {"frame_ancestors": "'none' https://x.example"},
        {"allowed_origins": "chat.example.org"},
        {"allowed_origins": "https://chat.example.org/path"},
        {"content_security_policy": "of"},
    ],
)
def test_a_bad_setting_stops_the_app_at_start(options: dict[str, str]) -> None:
    with pytest.raises(settings.ConfigurationError):
        SecurityHeaders(PlainTextResponse("x"), **options)


def test_script_hashes_of_two_inline_scripts() -> None:
    html = b"<script>one()</script><script async src=x.js></script><script >two()</script>"
    assert script_hashes(html) == (sha256_source("one()"), sha256_source("two()"))
    assert script_hashes(b"<p>no scripts</p>") == ()


# -- WebSocket --------------------------------------------------------------------------------


def connect(client: TestClient, headers: dict[str, str]) -> str:
    with client.websocket_connect("/ws", headers=headers) as websocket:
        return websocket.receive_text()


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no Origin: not a browser, so no victim's cookies
        {"origin": "http://testserver"},
        {"origin": "https://testserver"},  # TLS ended by a proxy: the scheme may differ
    ],
)
def test_websocket_from_the_apps_own_origin_or_no_origin(
    client: TestClient, headers: dict[str, str]
) -> None:
    assert connect(client, headers) == "hello"


@pytest.mark.parametrize(
    "origin",
    ["http://evil.example", "http://localhost:9999", "http://testserver:8080", "null", "junk"],
)
def test_websocket_from_another_origin_is_refused(client: TestClient, origin: str) -> None:
    with pytest.raises(WebSocketDenialResponse) as refused:
        connect(client, {"origin": origin})
    assert refused.value.status_code == 403
    assert "Origin" in refused.value.text
    assert refused.value.headers["x-frame-options"] == "DENY"


def test_websocket_refused_by_close_without_the_denial_extension() -> None:
    sent: list[dict] = []

    async def run() -> None:
        async def receive() -> dict:
            return {"type": "websocket.connect"}

        async def send(message: dict) -> None:
            sent.append(message)

        middleware = SecurityHeaders(PlainTextResponse("never"), allowed_origins="")
        scope = {
            "type": "websocket",
            "path": "/ws",
            "headers": [(b"host", b"app.example"), (b"origin", b"http://evil.example")],
        }
        await middleware(scope, receive, send)

    # In a thread of its own: Playwright's sync API may own this thread's event loop.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()
    assert sent == [{"type": "websocket.close", "code": 1008}]


def test_websocket_from_an_allowed_origin(static_dir: Path) -> None:
    app = make_app(static_dir, allowed_origins="https://chat.example.org, http://10.0.0.5:8501")
    with TestClient(app) as client:
        assert connect(client, {"origin": "https://chat.example.org"}) == "hello"
        assert connect(client, {"origin": "http://10.0.0.5:8501"}) == "hello"
        with pytest.raises(WebSocketDenialResponse):
            connect(client, {"origin": "http://chat.example.org"})  # the list is exact


# -- origin_allowed / same_origin -------------------------------------------------------------

NONE: frozenset[tuple[str, str, int]] = frozenset()


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        ("http://127.0.0.1:8501", "127.0.0.1:8501", True),
        ("http://LOCALHOST:8501", "localhost:8501", True),
        ("https://chat.example.org", "chat.example.org", True),  # TLS ended by the proxy
        ("http://chat.example.org", "chat.example.org", True),
        ("https://chat.example.org:443", "chat.example.org", True),
        ("https://chat.example.org", "chat.example.org:443", True),
        ("http://[::1]:8501", "[::1]:8501", True),
        ("http://localhost:9999", "localhost:8501", False),  # Streamlit itself lets this in
        ("http://127.0.0.1:8501", "localhost:8501", False),
        ("http://chat.example.org:8080", "chat.example.org", False),
        ("http://chat.example.org", "chat.example.org:8080", False),
        ("http://evil.example", "chat.example.org", False),
        ("http://chat.example.org.evil.example", "chat.example.org", False),
        ("null", "chat.example.org", False),
        ("http://chat.example.org", None, False),
        ("http://chat.example.org/path", "chat.example.org", False),
        ("ftp://chat.example.org", "chat.example.org", False),
    ],
)
def test_origin_allowed(origin: str, host: str | None, allowed: bool) -> None:
    assert origin_allowed(origin, host, allowed=NONE) is allowed


def test_origin_allowed_by_the_list() -> None:
    listed = security.parse_allowed_origins("https://chat.example.org")
    assert origin_allowed("https://chat.example.org", "127.0.0.1:8501", allowed=listed)
    assert not origin_allowed("http://chat.example.org", "127.0.0.1:8501", allowed=listed)


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({"Origin": "https://chat.example.org", "Host": "chat.example.org"}, True),
        ({"Origin": "https://evil.example", "Host": "chat.example.org"}, False),
        ({"Origin": "https://evil.example", "Sec-Fetch-Site": "same-origin"}, False),
        ({"Host": "chat.example.org", "Sec-Fetch-Site": "same-origin"}, True),
        ({"Host": "chat.example.org", "Sec-Fetch-Site": "none"}, True),
        ({"Host": "chat.example.org", "Sec-Fetch-Site": "same-site"}, False),
        ({"Host": "chat.example.org", "Sec-Fetch-Site": "cross-site"}, False),
        ({"Host": "chat.example.org"}, False),
    ],
)
def test_same_origin(headers: dict[str, str], allowed: bool) -> None:
    assert same_origin(headers, allowed=NONE) is allowed
    scope = {
        "type": "http",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    assert same_origin(scope, allowed=NONE) is allowed
    assert same_origin(Request(scope), allowed=NONE) is allowed
