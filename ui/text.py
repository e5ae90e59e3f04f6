"""Showing user-supplied text safely in Streamlit widgets."""

from __future__ import annotations

from ui.safe_markdown import escape_text


def plain(text: str) -> str:
    """`text` escaped so a label or heading shows it literally: no markdown, links, icons or
    HTML (every ASCII punctuation mark escaped, and remark-gfm's bare-URL linking broken)."""
    return escape_text(text)


DATABASE_DOWN = "The database is not reachable right now. Wait a moment and try again."
