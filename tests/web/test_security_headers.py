"""The security headers and the WebSocket Origin check on the real app (`streamlit run
server.py` in a process of its own), over plain HTTP and a raw WebSocket client."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.browser.conftest import RunningApp
from tests.support.postgres import free_port
from tests.web.policy import SECURITY_HEADERS, directives, sha256_source

INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
COOKIE_MANAGER = "/component/extra_streamlit_components.CookieManager.cookie_manager/index.html"
# One of each kind of response the app gives: the page and its SPA fallback, Streamlit's
# assets and endpoints, media, components, 4xx answers, and routes of the app's own.
PATHS = [
    "/",
    "/chat",
    "/no/such/page",  # Streamlit answers unknown paths with index.html
    "/_stcore/health",
    "/_stcore/host-config",
    "/favicon.png",
    "/manifest.json",
    COOKIE_MANAGER,
    "/media/nonexistent.png",
    "/_stcore/agent/no-such-endpoint",
    "/auth/signed-out",
    "/files/my-chats.json",
]


def get(app: RunningApp, path: str, **headers: str) -> httpx.Response:
    # No redirects followed: a redirect is a response of its own and must carry the headers.
    return httpx.get(app.url + path, headers=headers, follow_redirects=False, timeout=15)


def assert_security_headers(response: httpx.Response, *, framed_by_self: bool = False) -> None:
    headers = response.headers
    for name in SECURITY_HEADERS:
        assert len(headers.get_list(name)) == 1, f"{response.url}: {name} {headers.get_list(name)}"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    for feature in ("camera", "microphone", "geolocation"):
        assert f"{feature}=()" in headers["permissions-policy"]
    csp = directives(headers["content-security-policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"][:2] == ["'self'", "'wasm-unsafe-eval'"]
    assert all(source.startswith("'sha256-") for source in csp["script-src"][2:])
    assert csp["style-src"] == ["'self'", "'unsafe-inline'"]
    assert csp["connect-src"] == ["'self'"]
    assert csp["frame-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert csp["form-action"] == ["'self'"]
    if framed_by_self:  # a component's document, framed by the app's own page
        assert csp["frame-ancestors"] == ["'self'"]
        assert headers["x-frame-options"] == "SAMEORIGIN"
    else:
        assert csp["frame-ancestors"] == ["'none'"]
        assert headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_every_kind_of_response_has_the_headers(app: RunningApp, path: str, encoding: str) -> None:
    response = get(app, path, **{"Accept-Encoding": encoding})
    assert_security_headers(response, framed_by_self=path.startswith("/component/"))


def test_streamlit_assets_and_error_answers_have_the_headers(app: RunningApp) -> None:
    index = get(app, "/").text
    asset = re.search(r'src="\./(static/js/index\.[\w-]+\.js)"', index)
    assert asset, "no entry script in index.html"
    answers = {
        "asset": get(app, "/" + asset.group(1)),
        "bad request": get(app, "//evil.example/x"),  # Streamlit's static files: 400
        "wrong method": httpx.post(app.url + "/_stcore/health", timeout=15),  # 405
    }
    assert answers["asset"].status_code == 200
    assert "javascript" in answers["asset"].headers["content-type"]
    assert answers["bad request"].status_code == 400
    assert answers["wrong method"].status_code == 405
    for response in answers.values():
        assert_security_headers(response)
        assert directives(response.headers["content-security-policy"])["script-src"] == [
            "'self'",
            "'wasm-unsafe-eval'",
        ]


@pytest.mark.parametrize("path", ["/", "/chat"])
def test_the_page_policy_allows_exactly_its_inline_script(app: RunningApp, path: str) -> None:
    # /chat is gzipped by Streamlit (the root is not): the hash is of the page as read
    # (httpx inflates it again).
    response = get(app, path, **{"Accept-Encoding": "gzip"})
    assert response.headers.get("content-encoding") == ("gzip" if path == "/chat" else None)
    scripts = INLINE_SCRIPT.findall(response.text)
    assert len(scripts) == 1 and "prerenderReady" in scripts[0]
    csp = directives(response.headers["content-security-policy"])
    assert csp["script-src"] == ["'self'", "'wasm-unsafe-eval'", sha256_source(scripts[0])]


def test_revalidated_page_keeps_its_hash(app: RunningApp) -> None:
    """index.html is no-cache: every reload is a conditional GET answered 304, and the 304's
    headers replace the stored ones, so its policy must still allow the inline script."""
    first = get(app, "/")
    again = get(app, "/", **{"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["content-security-policy"] == first.headers["content-security-policy"]
    assert again.headers["x-frame-options"] == "DENY"


def test_the_cookie_managers_document_gets_its_own_hashes(app: RunningApp) -> None:
    """The component's document is served once a page has drawn the component; until then it
    is a 404, with the headers all the same (checked above). Its hashes are checked in
    test_csp_in_browser.py, where the sign-in page draws it."""
    response = get(app, COOKIE_MANAGER)
    assert response.status_code in (200, 404)
    if response.status_code == 200:
        scripts = INLINE_SCRIPT.findall(response.text)
        csp = directives(response.headers["content-security-policy"])
        assert csp["script-src"] == ["'self'", "'wasm-unsafe-eval'", *map(sha256_source, scripts)]


# -- WebSocket Origin check -------------------------------------------------------------------


def stream_url(app: RunningApp) -> str:
    return app.url.replace("http://", "ws://") + "/_stcore/stream"


def open_stream(app: RunningApp, origin: str | None) -> None:
    """The handshake Streamlit's frontend makes (subprotocol "streamlit", then the XSRF token
    and session id, which may be empty), with `origin`; closed again once accepted."""
    with connect(
        stream_url(app),
        origin=origin,  # type: ignore[arg-type]
        subprotocols=["streamlit"],  # type: ignore[list-item]
        open_timeout=15,
    ) as websocket:
        assert websocket.subprotocol == "streamlit"


def test_websocket_from_the_apps_own_origin_is_accepted(app: RunningApp) -> None:
    open_stream(app, app.url)


def test_websocket_without_origin_is_accepted(app: RunningApp) -> None:
    """A client that is not a browser sends no Origin; it carries no victim's cookies."""
    open_stream(app, None)


@pytest.mark.parametrize("origin", ["http://evil.example", "localhost-other-port", "null"])
def test_websocket_from_another_origin_is_refused(app: RunningApp, origin: str) -> None:
    """The same handshake as the accepted one, from another origin: a 403 with this app's
    reason (Streamlit's own refusal is a bare 403). Streamlit itself lets in any page on
    localhost or the machine's addresses: a page on http://localhost:<another port>."""
    if origin == "localhost-other-port":
        origin = f"http://localhost:{free_port()}"
        from streamlit.web.server.starlette.starlette_websocket import _is_origin_allowed

        assert _is_origin_allowed(origin, urlsplit(app.url).netloc)  # Streamlit would accept
    with pytest.raises(InvalidStatus) as refused:
        open_stream(app, origin)
    assert refused.value.response.status_code == 403
    assert b"Origin" in refused.value.response.body
