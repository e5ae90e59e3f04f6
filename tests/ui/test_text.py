"""Labels shown through Streamlit show their text literally."""

from __future__ import annotations

from ui.text import plain


def test_plain_escapes_every_markdown_special() -> None:
    assert plain("*a* [b](c) <d>") == r"\*a\* \[b\]\(c\) \<d\>"


def test_plain_leaves_no_bare_url_for_the_renderer_to_link() -> None:
    # remark-gfm links URLs in text even when their punctuation is escaped.
    shown = plain("see http://203.0.113.5/p.png?d=secret")
    assert "http:/" not in shown.replace("\\", "")
    assert shown.replace("\u2060", "").replace("\\", "") == "see http://203.0.113.5/p.png?d=secret"
