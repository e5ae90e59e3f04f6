"""Reading the security headers back, for the tests of tests/web."""

from __future__ import annotations

import base64
import hashlib

# The headers the middleware puts on every response, each exactly once.
SECURITY_HEADERS = (
    "content-security-policy",
    "x-frame-options",
    "x-content-type-options",
    "referrer-policy",
    "permissions-policy",
    "cross-origin-opener-policy",
)


def sha256_source(text: str) -> str:
    """The CSP source that allows exactly the inline script `text`."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def directives(csp: str) -> dict[str, list[str]]:
    """A Content-Security-Policy as {directive: sources}; no directive may appear twice."""
    parsed: dict[str, list[str]] = {}
    for part in csp.split(";"):
        name, *values = part.split()
        assert name not in parsed, f"directive {name} twice"
        parsed[name] = values
    return parsed
