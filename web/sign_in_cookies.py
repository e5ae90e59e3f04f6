"""The two cookies of signing in, both set only by HTTP responses of the app's own, both
HttpOnly, so no script in the page can read or write them.

- The sign-in cookie (AUTH_COOKIE_NAME) holds an opaque random token; the database keeps only
  its hash (accounts/sign_ins.py). It is set by the handover route after a sign-in.
- The browser cookie (the same name + "_browser") is a random value every browser gets with
  its first page. It is no credential: a sign-in made in the page (over the WebSocket) is
  bound to it, so only the browser that signed in can exchange that sign-in for the cookie
  (no login CSRF), and a browser that signed in before is recognised by the lockout's ceiling.

The sign-in cookie is SameSite=Strict: the page and its WebSocket are same-site requests, so
nothing is lost, and no other site can make the browser send it. The browser cookie is Lax, so
that a visit by a link from elsewhere keeps it (it proves nothing by itself: a handover also
needs a ticket made for it). Secure is added when the request came over
HTTPS (behind a proxy: FORWARDED_ALLOW_IPS, read by uvicorn, says whose X-Forwarded-Proto
counts).
"""

from __future__ import annotations

import re
import secrets
from http.cookies import SimpleCookie

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import settings
from settings import ConfigurationError

# RFC 6265 token characters that need no quoting anywhere.
COOKIE_NAME = re.compile(r"[A-Za-z0-9._~-]+")
BROWSER_SUFFIX = "_browser"
# Long enough to be unguessable, short enough for any cookie store.
BROWSER_TOKEN_BYTES = 24
# The browser cookie outlives any sign-in: it is what lets the lockout recognise the owner's
# browser months later.
BROWSER_COOKIE_DAYS = 400
SECONDS_PER_DAY = 86_400


def auth_cookie_name() -> str:
    """AUTH_COOKIE_NAME, checked: a name a browser keeps as it is."""
    name = settings.get("AUTH_COOKIE_NAME", "chat_auth") or "chat_auth"
    if not COOKIE_NAME.fullmatch(name):
        raise ConfigurationError(
            f"AUTH_COOKIE_NAME {name[:40]!r} is not a cookie name: use letters, digits and . _ ~ -"
        )
    return name


def browser_cookie_name() -> str:
    return auth_cookie_name() + BROWSER_SUFFIX


def sign_in_days() -> float:
    """AUTH_COOKIE_DAYS: how long a sign-in lasts (fixed for each sign-in when it is made)."""
    return settings.get_float("AUTH_COOKIE_DAYS", 7.0)


def cookie_header(
    name: str, value: str, *, max_age: int, secure: bool, same_site: str = "Strict"
) -> str:
    """A Set-Cookie value: HttpOnly, SameSite=Strict unless told, for the whole app."""
    cookie: SimpleCookie = SimpleCookie()
    cookie[name] = value
    morsel = cookie[name]
    morsel["path"] = "/"
    morsel["max-age"] = str(max_age)
    morsel["httponly"] = True
    morsel["samesite"] = same_site
    if secure:
        morsel["secure"] = True
    return morsel.OutputString()


def is_https(scope: Scope) -> bool:
    return scope.get("scheme") in ("https", "wss")


def _has_cookie(scope: Scope, name: str) -> bool:
    prefix = f"{name}=".encode()
    for key, value in scope.get("headers", []):
        if key == b"cookie" and any(part.strip().startswith(prefix) for part in value.split(b";")):
            return True
    return False


class BrowserCookieMiddleware:
    """Give every browser its browser cookie with the first HTML page it loads.

    Only the page carries it (an HTML response, or the 304 that revalidates one): the assets
    the page loads next already find it, so no two responses race to set different values."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.name = browser_cookie_name()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _has_cookie(scope, self.name):
            await self.app(scope, receive, send)
            return

        # A page the browser revalidates comes back as a bare 304 with no content type.
        wants_page = "text/html" in Headers(scope=scope).get("accept", "")

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                is_page = headers.get("content-type", "").startswith("text/html") or (
                    message["status"] == 304 and wants_page
                )
                if is_page:
                    headers.append(
                        "set-cookie",
                        cookie_header(
                            self.name,
                            secrets.token_urlsafe(BROWSER_TOKEN_BYTES),
                            max_age=BROWSER_COOKIE_DAYS * SECONDS_PER_DAY,
                            secure=is_https(scope),
                            # Lax: a visit by a link from another site (mail, a portal) must
                            # still show this browser's value, or a new one would replace it
                            # and the owner's browser would no longer be recognised.
                            same_site="Lax",
                        ),
                    )
            await send(message)

        await self.app(scope, receive, send_with_cookie)
