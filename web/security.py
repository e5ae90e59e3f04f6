"""Security headers on every HTTP response."""

from __future__ import annotations

from starlette.middleware import Middleware

SECURITY_MIDDLEWARE: list[Middleware] = []
