"""Text shown through Streamlit: markdown renders, HTML is shown as the text it is."""

from __future__ import annotations

from ui.text import markdown_showing_html, plain


def test_html_outside_code_is_escaped_so_it_shows_as_text() -> None:
    assert markdown_showing_html("<script>alert(1)</script> hi") == (
        "&lt;script>alert(1)&lt;/script> hi"
    )


def test_markdown_and_code_are_left_as_written() -> None:
    text = "**bold** `<i>` and\n```html\n<b>x</b>\n```\n<b>after</b>"
    assert markdown_showing_html(text) == (
        "**bold** `<i>` and\n```html\n<b>x</b>\n```\n&lt;b>after&lt;/b>"
    )


def test_an_unclosed_fence_keeps_the_rest_as_code() -> None:
    assert markdown_showing_html("```\n<b>x</b>") == "```\n<b>x</b>"


def test_plain_escapes_every_markdown_special() -> None:
    assert plain("*a* [b](c) <d>") == r"\*a\* \[b\]\(c\) \<d\>"
