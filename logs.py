"""The app's log: one format, and no secret in any line at any level.

The HTTP client logs every request URL at INFO (and more at DEBUG), and a provider URL may
carry credentials (`http://user:pass@host/v1/?token=...`); exceptions may quote the database
URL. So every record passes a filter on the root handlers that rewrites URL user info and
query strings, and every configured secret value, to `***` before it is written. The chatty
client loggers are also kept at WARNING: their request lines say nothing an operator needs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

import settings

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MASK = "***"
# Settings whose values are secrets, and settings that are URLs which may carry some.
SECRET_SETTINGS = ("OPENAI_API_KEY", "AUTH_COOKIE_KEY", "OIDC_CLIENT_SECRET")
URL_SETTINGS = ("OPENAI_BASE_URL", "DATABASE_URL", "OIDC_METADATA_URL")
QUIET_LOGGERS = ("httpx", "httpx2", "httpcore", "httpcore2", "openai", "urllib3")
# scheme://user:password@ and ?query (up to whitespace or a closing quote) in any text.
_USER_INFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@'\"]*@")
_QUERY = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s?'\"]*)\?[^\s'\"]*")
# Too short to mask without garbling ordinary words.
MIN_SECRET_CHARS = 6


def secret_values() -> list[str]:
    """The configured secrets, and the user info, password and query of configured URLs."""
    found = [settings.get(name) or "" for name in SECRET_SETTINGS]
    for name in URL_SETTINGS:
        url = settings.get(name) or ""
        try:
            parts = urlsplit(url)
        except ValueError:
            continue
        found += [parts.username or "", parts.password or "", parts.query]
    unique = {value for value in found if len(value) >= MIN_SECRET_CHARS}
    # Longest first, so a secret that contains another is masked whole.
    return sorted(unique, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with URL credentials, URL queries and each of `secrets` replaced by `***`."""
    for secret in secrets:
        text = text.replace(secret, MASK)
    text = _USER_INFO.sub(rf"\1{MASK}@", text)
    return _QUERY.sub(rf"\1?{MASK}", text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (arguments and traceback included) before any handler
    formats it."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = list(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        record.msg, record.args = redact(message, self.secrets), None
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


def configure_logging(level: int = logging.INFO) -> None:
    """The app's logging: FORMAT at `level` on the root logger, every handler redacting."""
    logging.basicConfig(level=level, format=FORMAT)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    redacting = RedactingFilter(secret_values())
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(redacting)
