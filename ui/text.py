"""Showing user-supplied text safely in Streamlit widgets."""

from __future__ import annotations

import re

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def plain(text: str) -> str:
    """`text` escaped so a label shows it literally (no markdown, links or HTML)."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)


DATABASE_DOWN = "The database is not reachable right now. Wait a moment and try again."
