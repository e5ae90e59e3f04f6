"""Security headers on every HTTP response, and an Origin check on every WebSocket handshake.

`SecurityHeaders` is a pure ASGI middleware (no BaseHTTPMiddleware): it rewrites the headers of
`http.response.start` and passes bodies through untouched, so streamed responses stay streamed
and the WebSocket traffic is not wrapped at all. The one exception is an HTML response it has
not seen before: its body is held (Streamlit's index.html is 8 KB) until the inline scripts in
it are hashed into the Content-Security-Policy, and the hashes are then cached per
(path, ETag) or per body digest.

Settings, read once per middleware instance (one per app process):

| name                    | default  | meaning                                                  |
|-------------------------|----------|----------------------------------------------------------|
| FRAME_ANCESTORS         | (none)   | space-separated CSP sources allowed to frame the app     |
| ALLOWED_ORIGINS         | (none)   | comma-separated extra origins for the WebSocket and same_origin() |
| CONTENT_SECURITY_POLICY | on       | "off" drops the CSP header: for tests of the page's own layer only |

Why each allowance of the policy is there (each checked in Chromium on every page, tests/web/):
- `style-src 'unsafe-inline'`: Streamlit's styles are emotion's and styled-components', injected
  at run time as <style> elements, plus React style attributes; without it the page is
  unstyled. Streamlit has no nonce hook for emotion, and attributes would need it anyway.
- `font-src data:`: Streamlit's CSS inlines a KaTeX font (KaTeX_Size3) as a data: URL, and
  Chromium fetched it on every page of this app, the sign-in page included.
- `img-src data:`: Streamlit draws some icons from data: SVGs (the data grid's header icons,
  the spinner icon, an emoji page_icon's favicon). No page of this app needed blob:.
- `frame-src 'self'`: components (streamlit-authenticator's cookie manager) are iframes served
  from /component/; their own documents get `frame-ancestors 'self'` so the app may frame them.
- `script-src 'wasm-unsafe-eval'` (WebAssembly compilation only; JavaScript eval stays
  refused): long.js, in Streamlit's protobuf bundle, compiles a tiny WebAssembly module for
  64-bit arithmetic on every page. Refused, it falls back to plain JavaScript, but every page
  then logs a CSP violation in the console, and a console that is clean of violations is what
  tells an operator the policy holds. No 'unsafe-eval': Vega charts use Streamlit's CSP-safe
  expression interpreter.
- connect-src 'self' covers the page's own ws:/wss: WebSocket (CSP3, Chromium, Firefox).
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import re
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import settings

# Largest HTML body held back to hash its inline scripts. Larger (or undecodable) pages get the
# policy without hashes: their inline scripts are blocked, which fails closed.
MAX_HTML_BYTES = 2 * 1024 * 1024
# Distinct HTML documents whose hashes are kept; every page path of the app serves the same
# index.html, so this only bounds what random URLs can make the process remember.
HASH_CACHE_ENTRIES = 256
COMPONENT_ROUTE = "component"  # Streamlit's v1 components: iframes the app itself frames

PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), serial=(), hid=(), "
    "display-capture=()"
)
# CSP sources a FRAME_ANCESTORS entry may be: a quoted keyword, or a scheme/host source
# (no ';' or ',' or quotes that could end the directive or start another one).
_FRAME_SOURCE = re.compile(r"'self'|'none'|[A-Za-z][A-Za-z0-9+.\-]*:|[A-Za-z0-9*.:/\-_\[\]]+")
_HTML_TYPES = (b"text/html", b"application/xhtml+xml")
# An HTML <script> element: attributes (quoted values may hold '>'), then its text up to the
# first `</script` followed by what ends a tag name, as the HTML tokenizer reads raw text.
_SCRIPT = re.compile(
    r"<script(?=[\s/>])((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>(.*?)</script[\s/>]", re.I | re.S
)
_SRC_ATTRIBUTE = re.compile(r"(?:^|[\s/])src\s*=", re.I)
_DEFAULT_PORTS = {"http": 80, "https": 443}  # an Origin is always http(s), even a WebSocket's


class OriginKey(NamedTuple):
    """An origin reduced to what is compared: scheme, lower-case host, effective port."""

    scheme: str
    host: str
    port: int
    port_given: bool  # the port was written out (not implied by the scheme)


def parse_origin(origin: str) -> OriginKey | None:
    """`scheme://host[:port]` as an OriginKey; None for "null", paths, or anything else."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if (
        scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        return None
    host = parts.hostname.lower().rstrip(".")
    return OriginKey(scheme, host, port or _DEFAULT_PORTS[scheme], port is not None)


def parse_allowed_origins(raw: str | Iterable[str] | None) -> frozenset[tuple[str, str, int]]:
    """ALLOWED_ORIGINS ("https://a.example, https://b.example:8443") as exact origins.

    A malformed entry stops the app at start-up: silently dropping it would refuse the
    deployment's real origin at run time, with no hint why."""
    if raw is None:
        return frozenset()
    entries = raw.split(",") if isinstance(raw, str) else list(raw)
    allowed: set[tuple[str, str, int]] = set()
    for entry in (entry.strip() for entry in entries):
        if not entry:
            continue
        key = parse_origin(entry)
        if key is None:
            raise settings.ConfigurationError(
                f"ALLOWED_ORIGINS entry {entry!r} is not an origin: write scheme://host[:port], "
                "e.g. https://chat.example.org"
            )
        allowed.add(key[:3])
    return frozenset(allowed)


@lru_cache(maxsize=1)
def configured_origins() -> frozenset[tuple[str, str, int]]:
    """ALLOWED_ORIGINS, read once per process (`configured_origins.cache_clear()` rereads)."""
    return parse_allowed_origins(settings.get("ALLOWED_ORIGINS"))


def origin_allowed(
    origin: str,
    host: str | None,
    *,
    allowed: frozenset[tuple[str, str, int]] | None = None,
) -> bool:
    """Whether a request carrying `Origin: origin` comes from the app's own origin (the one in
    its Host header) or from one of `allowed` (default: ALLOWED_ORIGINS).

    Against Host, only host and port are compared, not the scheme: behind a proxy that ends
    TLS the browser's origin is https:// while the request reaching the app is plain http. A
    Host without a port matches an origin on its scheme's default port (80 or 443)."""
    key = parse_origin(origin)
    if key is None:
        return False
    if key[:3] in (configured_origins() if allowed is None else allowed):
        return True
    if not host:
        return False
    try:
        parts = urlsplit(f"//{host.strip()}")
        host_port = parts.port
    except ValueError:
        return False
    hostname = (parts.hostname or "").lower().rstrip(".")
    if hostname != key.host or parts.path or parts.username is not None:
        return False
    if host_port is None:
        return not key.port_given or key.port == _DEFAULT_PORTS[key.scheme]
    return host_port == key.port


def _headers_of(source: Scope | HTTPConnection | Mapping[str, str]) -> Headers:
    if isinstance(source, HTTPConnection):
        return source.headers
    if "type" in source and "headers" in source:
        return Headers(scope=source)  # an ASGI scope (no header is named "type")
    return Headers({name.lower(): value for name, value in source.items()})


def same_origin(
    source: Scope | HTTPConnection | Mapping[str, str],
    *,
    allowed: frozenset[tuple[str, str, int]] | None = None,
) -> bool:
    """Whether a request to one of the app's own state-changing routes was made by the app's
    own pages (or an ALLOWED_ORIGINS one), so that another site cannot make a signed-in
    browser send it. `source` is a Request/WebSocket, an ASGI scope or a header mapping.

    The Origin header decides when present. Without it (browsers omit it on same-origin GETs),
    `Sec-Fetch-Site` must say "same-origin" or "none" (typed, bookmarked). A request with
    neither header is refused: every current browser sends one (Sec-Fetch-Site since Safari
    16.4, 2023), so only other clients lack both, and they can send the app's own Origin."""
    headers = _headers_of(source)
    origin = headers.get("origin")
    if origin is not None:
        return origin_allowed(origin, headers.get("host"), allowed=allowed)
    return headers.get("sec-fetch-site", "").strip().lower() in ("same-origin", "none")


def _frame_sources(raw: str) -> list[str]:
    sources = raw.split()
    for source in sources:
        if not _FRAME_SOURCE.fullmatch(source):
            raise settings.ConfigurationError(
                f"FRAME_ANCESTORS entry {source!r} is not a CSP source: list origins such as "
                "https://portal.example.org (or 'self'), separated by spaces"
            )
    if "'none'" in sources and len(sources) > 1:
        raise settings.ConfigurationError("FRAME_ANCESTORS: 'none' cannot be combined")
    return [source for source in sources if source != "'none'"]


def _csp_switch(raw: str | None) -> bool:
    value = (raw or "on").strip().lower()
    if value not in ("on", "off"):
        raise settings.ConfigurationError(
            f"CONTENT_SECURITY_POLICY must be 'on' or 'off' (tests only), got {raw!r}"
        )
    return value == "on"


def script_hashes(html: bytes, charset: str = "utf-8") -> tuple[str, ...]:
    """The CSP hash sources ('sha256-…') of the inline <script> elements of an HTML body.

    The browser hashes each script's text as its parser sees it, UTF-8 encoded: after
    decoding the page's charset and turning CR LF and lone CR into LF."""
    try:
        text = html.decode(charset, errors="replace")
    except LookupError:
        text = html.decode("utf-8", errors="replace")
    hashes: dict[str, None] = {}  # ordered and without repeats
    for match in _SCRIPT.finditer(text):
        if _SRC_ATTRIBUTE.search(match.group(1)):
            continue
        body = match.group(2).replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
        hashes[f"'sha256-{digest}'"] = None
    return tuple(hashes)


class _Profile(NamedTuple):
    """What one kind of response gets: the CSP around its script hashes, and the rest."""

    csp_head: str  # up to and including script-src's sources before the hashes
    csp_tail: str  # from the directive after script-src
    headers: list[tuple[bytes, bytes]]  # everything but the CSP
    names: frozenset[bytes]  # the names of `headers`
    names_csp: frozenset[bytes]  # and the CSP's

    def csp(self, hashes: str = "") -> tuple[bytes, bytes]:
        return (b"content-security-policy", f"{self.csp_head}{hashes}{self.csp_tail}".encode())


def _x_frame_options(sources: list[str]) -> list[tuple[bytes, bytes]]:
    """X-Frame-Options for browsers without frame-ancestors: it can only say DENY or
    SAMEORIGIN, so with an allow-list of other origins it is left out (CSP decides)."""
    if not sources:
        return [(b"x-frame-options", b"DENY")]
    if sources == ["'self'"]:
        return [(b"x-frame-options", b"SAMEORIGIN")]
    return []


def _profile(frame_sources: list[str]) -> _Profile:
    ancestors = " ".join(frame_sources) or "'none'"
    head = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'"
    tail = (
        "; style-src 'self' 'unsafe-inline'"
        "; img-src 'self' data:"
        "; font-src 'self' data:"
        "; connect-src 'self'"
        "; frame-src 'self'"
        "; object-src 'none'"
        "; base-uri 'self'"
        "; form-action 'self'"
        f"; frame-ancestors {ancestors}"
    )
    headers = [
        *_x_frame_options(frame_sources),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"permissions-policy", PERMISSIONS_POLICY.encode()),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]
    names = frozenset(name for name, _ in headers)
    return _Profile(head, tail, headers, names, names | {b"content-security-policy"})


def _component_prefix() -> str:
    """Where Streamlit serves component documents, under its server.baseUrlPath."""
    try:
        from streamlit import config

        base = str(config.get_option("server.baseUrlPath") or "").strip("/")
    except Exception:  # outside a Streamlit server (unit tests): no base path
        base = ""
    return f"/{base}/{COMPONENT_ROUTE}/" if base else f"/{COMPONENT_ROUTE}/"


def _route_path(scope: Scope) -> str:
    """The request path below the ASGI root_path (a proxy's prefix), as Starlette routes it."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and (path == root or path.startswith(f"{root}/")):
        return path[len(root) :] or "/"
    return path


def _decoded_body(body: bytes, encoding: bytes | None) -> bytes | None:
    """The body without its Content-Encoding (Streamlit gzips page and component HTML), or
    None when it is in an encoding this cannot read or inflates past MAX_HTML_BYTES."""
    if encoding is None or encoding.strip().lower() in (b"", b"identity"):
        return body
    if encoding.strip().lower() not in (b"gzip", b"x-gzip"):
        return None
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        plain = inflater.decompress(body, MAX_HTML_BYTES)
    except zlib.error:
        return None
    return None if inflater.unconsumed_tail else plain


def _charset(content_type: bytes) -> str:
    match = re.search(rb"charset\s*=\s*\"?([A-Za-z0-9._\-]+)", content_type, re.I)
    return match.group(1).decode("ascii") if match else "utf-8"


class SecurityHeaders:
    """Adds the security headers to every HTTP response and refuses WebSocket handshakes
    from other origins. Keyword arguments override the settings (unit tests use them)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        frame_ancestors: str | None = None,
        allowed_origins: str | Iterable[str] | None = None,
        content_security_policy: str | None = None,
        component_prefix: str | None = None,
    ) -> None:
        self.app = app
        frame = _frame_sources(
            settings.get("FRAME_ANCESTORS", "") if frame_ancestors is None else frame_ancestors
        )
        self.allowed_origins = parse_allowed_origins(
            settings.get("ALLOWED_ORIGINS") if allowed_origins is None else allowed_origins
        )
        self.csp_enabled = _csp_switch(
            settings.get("CONTENT_SECURITY_POLICY")
            if content_security_policy is None
            else content_security_policy
        )
        self.page = _profile(frame)
        # Component documents are framed by the app's own pages (and so, when the app is
        # framed, by its framers too: frame-ancestors checks every ancestor).
        self.component = _profile(["'self'", *(s for s in frame if s != "'self'")])
        self.component_prefix = component_prefix or _component_prefix()
        self._hashes: OrderedDict[Any, str] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket" and not self._websocket_origin_ok(scope):
            await self._refuse_websocket(scope, send)
        else:
            await self.app(scope, receive, send)

    # -- WebSocket -------------------------------------------------------------------------

    def _websocket_origin_ok(self, scope: Scope) -> bool:
        """No Origin (a non-browser client: it cannot carry a victim's cookies from a web page)
        or the app's own / an allowed one. Streamlit's own check also lets in any page on
        localhost or one of the machine's addresses, whatever its port: not this one."""
        origin = host = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value.decode("latin-1")
            elif name == b"host":
                host = value.decode("latin-1")
        if origin is None:
            return True
        return origin_allowed(origin, host, allowed=self.allowed_origins)

    async def _refuse_websocket(self, scope: Scope, send: Send) -> None:
        """403 before the handshake completes. With the ASGI denial-response extension
        (uvicorn has it) the 403 carries a reason and these headers; without it, a close
        before accept, which servers answer with a bare 403."""
        if "websocket.http.response" in scope.get("extensions", {}):
            body = b"WebSocket refused: Origin is not this app's\n"
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": 403,
                    "headers": [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"content-length", str(len(body)).encode()),
                        *self._headers_for(self.page, ""),
                    ],
                }
            )
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1008})

    # -- HTTP ------------------------------------------------------------------------------

    def _headers_for(self, profile: _Profile, hashes: str | None) -> list[tuple[bytes, bytes]]:
        """The headers to add; `hashes` None leaves the CSP out (see the 304 case below)."""
        if not self.csp_enabled or hashes is None:
            return profile.headers
        return [profile.csp(hashes), *profile.headers]

    def _cached(self, key: Any) -> str | None:
        hashes = self._hashes.get(key)
        if hashes is not None:
            self._hashes.move_to_end(key)
        return hashes

    def _remember(self, key: Any, hashes: str) -> None:
        self._hashes[key] = hashes
        self._hashes.move_to_end(key)
        while len(self._hashes) > HASH_CACHE_ENTRIES:
            self._hashes.popitem(last=False)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        profile = (
            self.component if _route_path(scope).startswith(self.component_prefix) else self.page
        )
        held: Message | None = None  # the start of an HTML response whose body is being read
        held_info: tuple[Any, bytes | None, str] | None = None  # (cache key, encoding, charset)
        chunks: list[bytes] = []
        size = 0
        started = False  # a start message reached us (held or sent)

        def start_message(message: Message, hashes: str | None) -> Message:
            added = self._headers_for(profile, hashes)
            # A header of the same name the response set itself is replaced; one this does not
            # add (a route's own CSP with CONTENT_SECURITY_POLICY=off) is left as it is.
            names = profile.names if len(added) == len(profile.headers) else profile.names_csp
            kept = [
                (name, value)
                for name, value in message.get("headers", ())
                if name.lower() not in names
            ]
            return {**message, "headers": kept + added}

        async def send_with_headers(message: Message) -> None:
            nonlocal held, held_info, size, started
            kind = message["type"]
            if kind == "http.response.start":
                started = True
                if not self.csp_enabled:
                    await send(start_message(message, None))
                    return
                headers = message.get("headers", ())
                content_type = etag = encoding = None
                for name, value in headers:
                    lower = name.lower()
                    if lower == b"content-type":
                        content_type = value
                    elif lower == b"etag":
                        etag = value
                    elif lower == b"content-encoding":
                        encoding = value
                status = message["status"]
                cached = self._cached((path, etag)) if etag is not None else None
                if cached is not None:
                    await send(start_message(message, cached))
                elif status == 304:
                    # A 304 updates the headers the browser stored with its copy; a policy
                    # without that page's hashes would block its scripts. Unknown hashes
                    # (the process restarted since): leave the stored policy as it is.
                    await send(start_message(message, None))
                elif (
                    content_type is None
                    or content_type.split(b";")[0].strip().lower() not in _HTML_TYPES
                    or status in (204, 206)
                    or scope["method"] == "HEAD"
                ):
                    await send(start_message(message, ""))
                else:
                    # A file's ETag names its content: only a 200 to a GET stands for that
                    # file version (HEADs and ranges never get here).
                    whole_file = etag is not None and status == 200 and scope["method"] == "GET"
                    key = (path, etag) if whole_file else None
                    held, held_info = message, (key, encoding, _charset(content_type))
                return
            if held is None:
                await send(message)
                return
            if kind != "http.response.body":  # e.g. a pathsend: the body is not ours to read
                start, held = start_message(held, ""), None
                await send(start)
                if chunks:
                    await send(
                        {"type": "http.response.body", "body": b"".join(chunks), "more_body": True}
                    )
                await send(message)
                return
            body = message.get("body", b"")
            more = message.get("more_body", False)
            chunks.append(body)
            size += len(body)
            if more and size <= MAX_HTML_BYTES:
                return
            assert held_info is not None
            key, encoding, charset = held_info
            whole = b"".join(chunks)
            hashes = ""
            if not more:
                # Keyed by (path, ETag), else by the digest of the body as sent: a page seen
                # before needs neither inflating nor parsing again.
                cache_key = key or (hashlib.sha256(whole).digest(), encoding, charset)
                found = self._cached(cache_key)
                if found is None:
                    plain = _decoded_body(whole, encoding)
                    found = (
                        ""
                        if plain is None
                        else "".join(f" {h}" for h in script_hashes(plain, charset))
                    )
                    self._remember(cache_key, found)
                hashes = found
            start, held = start_message(held, hashes), None
            await send(start)
            await send({"type": "http.response.body", "body": whole, "more_body": more})
            chunks.clear()

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as error:
            if held is None and started:
                raise  # the response is on its way: nothing left to do but let it fail
            # Starlette's ServerErrorMiddleware, outside this one, would answer the 500
            # without these headers; answer it here (as it would) and let it re-raise for
            # the server's log. Its debug page is left to it (development only).
            app = scope.get("app")
            if getattr(app, "debug", False):
                raise
            held, size, chunks[:] = None, 0, []
            response = await self._error_response(scope, error)
            await response(scope, receive, send_with_headers)
            raise

    async def _error_response(self, scope: Scope, error: Exception) -> Response:
        """The app's own 500 handler's answer (st.App(exception_handlers={500: …})) if it has
        one, else Starlette's plain one."""
        handlers = getattr(scope.get("app"), "exception_handlers", {}) or {}
        handler = handlers.get(500) or handlers.get(Exception)
        if handler is None:
            return PlainTextResponse("Internal Server Error", status_code=500)
        request = Request(scope)
        if inspect.iscoroutinefunction(handler):
            result = handler(request, error)
        else:  # a plain function, as Starlette allows; an async callable object returns a coroutine
            result = await run_in_threadpool(handler, request, error)
        return await result if inspect.isawaitable(result) else result


SECURITY_MIDDLEWARE: list[Middleware] = [Middleware(SecurityHeaders)]
