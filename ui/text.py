"""Showing user-supplied text safely in Streamlit widgets."""

from __future__ import annotations

import re

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def plain(text: str) -> str:
    """`text` escaped so a label shows it literally (no markdown, links or HTML)."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)


DATABASE_DOWN = "The database is not reachable right now. Wait a moment and try again."

# Fenced code blocks and inline code spans: markdown shows their contents literally already.
_CODE = re.compile(
    r"^[ ]{0,3}(`{3,}|~{3,}).*?(?:^[ ]{0,3}\1[ \t]*$|\Z)|(`+)(?!`).+?(?<!`)\2(?!`)",
    re.MULTILINE | re.DOTALL,
)


def markdown_showing_html(text: str) -> str:
    """`text` for st.markdown with its markdown intact but any HTML shown as the text it is.

    Streamlit drops raw HTML from markdown (it never runs it), so a message about HTML would
    lose its tags; `&lt;` outside code makes each `<` display as itself."""
    shown, start = [], 0
    for code in _CODE.finditer(text):
        shown.append(text[start : code.start()].replace("<", "&lt;"))
        shown.append(code.group(0))
        start = code.end()
    shown.append(text[start:].replace("<", "&lt;"))
    return "".join(shown)
