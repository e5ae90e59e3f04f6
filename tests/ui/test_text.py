"""Labels shown through Streamlit show their text literally."""

from __future__ import annotations

from ui.text import plain


def test_plain_escapes_every_markdown_special() -> None:
    assert plain("*a* [b](c) <d>") == r"\*a\* \[b\]\(c\) \<d\>"
