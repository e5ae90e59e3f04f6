"""Checks applied once, at the store's door, to everything that will be stored."""

from __future__ import annotations

import unicodedata

from memory.errors import InvalidContent, InvalidId
from memory.models import ID_MAX_CHARS

# Large enough for pasted documents and long answers, small enough that one message cannot
# exhaust memory or the model's window by accident. Documented in the README.
MAX_CONTENT_CHARS = 100_000
MAX_TITLE_CHARS = 200
MAX_ABILITY_CHARS = 100


def _has_control_characters(value: str) -> bool:
    return any(unicodedata.category(char) == "Cc" for char in value)


def _encodable(value: str) -> bool:
    # Lone surrogates cannot be stored as UTF-8 by either engine.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_id(value: object, name: str) -> str:
    """Return `value` if it is a valid id: a string of 1-255 printable characters."""
    if not isinstance(value, str):
        raise InvalidId(f"{name} must be a string, got {type(value).__name__}")
    if not value:
        raise InvalidId(f"{name} must not be empty")
    if len(value) > ID_MAX_CHARS:
        raise InvalidId(f"{name} is {len(value)} characters long; the limit is {ID_MAX_CHARS}")
    if _has_control_characters(value) or not _encodable(value):
        raise InvalidId(f"{name} contains control characters or invalid unicode: {value!r}")
    return value


def check_content(value: object, *, allow_empty: bool = True) -> str:
    """Return message content that can be stored exactly as given on every engine."""
    if not isinstance(value, str):
        raise InvalidContent(f"message content must be text, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise InvalidContent("the message is empty")
    if len(value) > MAX_CONTENT_CHARS:
        raise InvalidContent(
            f"the message is {len(value):,} characters long; the limit is {MAX_CONTENT_CHARS:,}"
        )
    # PostgreSQL text cannot hold NUL; refusing it everywhere keeps both engines identical.
    if "\x00" in value:
        raise InvalidContent("the message contains a NUL character")
    if not _encodable(value):
        raise InvalidContent("the message contains invalid unicode (a lone surrogate)")
    return value


def check_label(value: object, name: str, limit: int) -> str:
    """Return a one-line label (title, ability) stripped of surrounding spaces."""
    if not isinstance(value, str):
        raise InvalidContent(f"{name} must be text, got {type(value).__name__}")
    value = " ".join(value.split())
    if len(value) > limit:
        raise InvalidContent(f"{name} is {len(value)} characters long; the limit is {limit}")
    if _has_control_characters(value) or not _encodable(value):
        raise InvalidContent(f"{name} contains control characters or invalid unicode")
    return value


def check_search(value: object, limit: int) -> str:
    """Return search text stripped of surrounding spaces; inner spaces stay, to match exactly."""
    if not isinstance(value, str):
        raise InvalidContent(f"search must be text, got {type(value).__name__}")
    value = value.strip()
    if len(value) > limit:
        raise InvalidContent(f"search is {len(value)} characters long; the limit is {limit}")
    if _has_control_characters(value) or not _encodable(value):
        raise InvalidContent("search contains control characters or invalid unicode")
    return value
