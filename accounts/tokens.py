"""Random tokens and their digests: what the browser holds is random, what the database keeps
is its SHA-256, so a copy of the database signs nobody in."""

from __future__ import annotations

import hashlib
import re
import secrets

# secrets.token_urlsafe(32): 256 random bits, 43 characters of the URL-safe base64 alphabet.
TOKEN_BYTES = 32
TOKEN_CHARS = 43
_TOKEN = re.compile(rf"[A-Za-z0-9_-]{{{TOKEN_CHARS}}}")
# The longest "browser" cookie value taken as one; anything longer is no browser at all.
MAX_BROWSER_CHARS = 256


def new_token() -> str:
    """A fresh random token (cookie or handover ticket)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def looks_like_token(value: object) -> bool:
    """True if `value` has the form `new_token` gives; lets a lookup of anything else answer
    "none" without asking the database."""
    return (
        isinstance(value, str) and len(value) == TOKEN_CHARS and _TOKEN.fullmatch(value) is not None
    )


def digest(value: str) -> str:
    """The SHA-256 hex digest of `value`: what the database stores instead of it."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def browser_digest(browser: object) -> str | None:
    """The digest of a "browser" cookie value, or None when there is none worth the name (not
    text, empty or overlong)."""
    if not isinstance(browser, str) or not 0 < len(browser) <= MAX_BROWSER_CHARS:
        return None
    return digest(browser)
