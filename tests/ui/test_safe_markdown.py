"""safe_markdown: chat text re-written so that drawing it fetches nothing and runs nothing.

Most tests parse the output again with markdown-it set up like Streamlit's renderer (GFM
tables and strikethrough, raw HTML recognised, every link scheme accepted) so they see
whatever react-markdown would build: no image, no HTML, no link but http(s) and mailto."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

import ui.safe_markdown as safe_markdown_module
from ui.safe_markdown import safe_markdown, url_host

JOINER = "\u2060"

# Like react-markdown + remark-gfm, and more suspicious: raw HTML is parsed (so any the
# output held would show up as html tokens) and no link is refused (so a javascript: link
# the output held would show up as a link rather than as text).
GFM_LIKE = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
GFM_LIKE.validateLink = lambda url: True  # type: ignore[method-assign]
# The parser safe_markdown reads with, for comparing rendered HTML.
PLAIN = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])

PROPERTY_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    database=None,  # no .hypothesis/ directory in the work tree
    suppress_health_check=[HealthCheck.too_slow],
)


def tokens_of(markdown: str) -> list[Token]:
    """Every token of `markdown`, block and inline, images' alt tokens included."""
    found, pending = [], GFM_LIKE.parse(markdown)[::-1]
    while pending:  # depth first, in document order, without recursion (nesting can be deep)
        token = pending.pop()
        found.append(token)
        pending.extend((token.children or [])[::-1])
    return found


def hrefs_of(markdown: str) -> list[str]:
    return [str(t.attrGet("href")) for t in tokens_of(markdown) if t.type == "link_open"]


def visible(markdown: str) -> str:
    """The text a reader sees, in order, with the invisible joiners taken out."""
    parts = []
    for token in GFM_LIKE.parse(markdown):
        for child in token.children or []:
            if child.type in ("text", "code_inline"):
                parts.append(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                parts.append("\n")
    return "".join(parts).replace(JOINER, "")


def assert_inert(markdown: str) -> None:
    """Nothing in `markdown` loads or runs when drawn: no image, no HTML, and links only to
    http(s) and mailto."""
    tokens = tokens_of(markdown)
    assert [t.type for t in tokens if t.type == "image"] == []
    assert [t.content for t in tokens if t.type in ("html_inline", "html_block")] == []
    for href in hrefs_of(markdown):
        assert re.match(r"(?i)(https?://[^/]|mailto:)", href), href


# Images ---------------------------------------------------------------------------------------


def test_an_image_becomes_a_link_naming_its_file_and_host_that_loads_nothing() -> None:
    out = safe_markdown("![chart](http://other-host/p.png?d=SECRET)")
    assert out == r"[image \"chart\"\: p\.png from other\-host](<http://other-host/p.png?d=SECRET>)"
    assert_inert(out)
    assert hrefs_of(out) == ["http://other-host/p.png?d=SECRET"]
    assert visible(out) == 'image "chart": p.png from other-host'


def test_an_image_without_alt_text_names_only_its_file() -> None:
    out = safe_markdown("Look: ![](https://cdn.example.org/a/b/photo%20one.jpg)")
    assert_inert(out)
    assert visible(out) == "Look: image: photo one.jpg from cdn.example.org"
    assert hrefs_of(out) == ["https://cdn.example.org/a/b/photo%20one.jpg"]


def test_a_reference_style_image_is_covered_too() -> None:
    out = safe_markdown("![a][r] and ![r]\n\n[r]: http://evil.example/i.png?leak=1")
    assert_inert(out)
    assert visible(out) == (
        'image "a": i.png from evil.example and image "r": i.png from evil.example'
    )
    assert hrefs_of(out) == ["http://evil.example/i.png?leak=1"] * 2


def test_an_image_inside_a_link_becomes_text_of_that_link() -> None:
    out = safe_markdown("[![x](http://a.example/i.png)](http://b.example/)")
    assert_inert(out)
    assert hrefs_of(out) == ["http://b.example/"]  # the image's own URL is no link at all
    assert visible(out) == 'image "x": i.png from a.example (b.example)'


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("![dot](data:image/png;base64,iVBORw0KGgo=)", 'image "dot": data URL'),
        ("![x](javascript:alert(1))", 'image "x": javascript URL'),
        ("![logo](img/logo.png)", 'image "logo": logo.png'),
        ("![p](//evil.example/p.png)", 'image "p": p.png'),
    ],
)
def test_an_image_at_any_other_url_becomes_inert_text(source: str, shown: str) -> None:
    out = safe_markdown(source)
    assert_inert(out)
    assert hrefs_of(out) == []
    assert visible(out) == shown


# Links ----------------------------------------------------------------------------------------


def test_a_link_keeps_its_href_shows_its_host_and_drops_its_title() -> None:
    out = safe_markdown('[Python docs](https://docs.python.org/3/ "a title")')
    assert out == r"[Python docs](<https://docs.python.org/3/>) \(docs\.python\.org\)"
    assert hrefs_of(out) == ["https://docs.python.org/3/"]
    assert [t.attrGet("title") for t in tokens_of(out) if t.type == "link_open"] == [None]


@pytest.mark.parametrize(
    "source",
    [
        "<https://docs.python.org/3/>",
        "[https://docs.python.org/3/](https://docs.python.org/3/)",
        "[docs.python.org](https://docs.python.org/3/)",
    ],
)
def test_a_link_whose_text_is_its_url_or_host_does_not_repeat_the_host(source: str) -> None:
    out = safe_markdown(source)
    assert hrefs_of(out) == ["https://docs.python.org/3/"]
    assert "(docs.python.org)" not in visible(out)


def test_a_user_name_in_the_url_cannot_pass_for_its_host() -> None:
    url = "https://google.com@evil.example/login"
    out = safe_markdown(f"[{url}]({url})")
    assert hrefs_of(out) == [url]
    assert visible(out) == f"{url} (evil.example)"


def test_a_mailto_link_shows_the_address_domain() -> None:
    out = safe_markdown("[write to us](mailto:help@example.org) or <help@example.org>")
    assert hrefs_of(out) == ["mailto:help@example.org"] * 2
    assert visible(out) == "write to us (example.org) or help@example.org"


def test_bare_urls_become_links_without_the_punctuation_after_them() -> None:
    out = safe_markdown(
        "See https://example.com/x. Or (https://en.wikipedia.org/wiki/Foo_(bar)), http://a.b/c?"
    )
    assert hrefs_of(out) == [
        "https://example.com/x",
        "https://en.wikipedia.org/wiki/Foo_(bar)",
        "http://a.b/c",
    ]
    assert visible(out) == (
        "See https://example.com/x. Or (https://en.wikipedia.org/wiki/Foo_(bar)), http://a.b/c?"
    )


def test_text_that_remark_gfm_would_link_by_itself_is_broken_up_invisibly() -> None:
    # remark-gfm finds www., http:// and e-mail addresses in the parsed text, where the
    # backslash escapes are gone; a word joiner inside each keeps them plain text.
    out = safe_markdown("www.example.com, me@example.org, [x](http://e")
    assert "www" + JOINER + r"\." in out
    assert "@" + JOINER + "example" in out
    assert "http\\:" + JOINER + "\\/\\/e" in out
    assert hrefs_of(out) == []
    assert visible(out) == "www.example.com, me@example.org, [x](http://e"


def test_destinations_are_encoded_so_that_they_cannot_end_early_or_change() -> None:
    out = safe_markdown(r"[a](<https://x.example/a b\c|d`e$f>) [b](https://x.example/?q=\&copy;)")
    assert hrefs_of(out) == [
        "https://x.example/a%20b%5Cc%7Cd%60e%24f",
        "https://x.example/?q=&copy;",  # still the characters typed, not a ©
    ]
    assert_inert(out)


def test_a_link_to_a_material_path_survives_streamlits_rewrite() -> None:
    out = safe_markdown("[icons](https://x.example/:material/home:)")
    assert ":material/" not in out  # Streamlit rewrites that substring anywhere in the source
    assert hrefs_of(out) == ["https://x.example/%3Amaterial/home:"]


@pytest.mark.parametrize(
    "prefix_of",
    [
        "Here: ![chart](http://evil.example/p.png?d=SECRET) and [x](javascript:alert(1)).",
        '[![x](http://a.example/i.png "t")](http://b.example/) <img src=x onerror=alert(1)>',
    ],
)
def test_every_prefix_of_a_streaming_answer_is_inert(prefix_of: str) -> None:
    for end in range(len(prefix_of) + 1):
        assert_inert(safe_markdown(prefix_of[:end]))


def test_an_unfinished_image_while_streaming_stays_plain_text() -> None:
    out = safe_markdown("![x](http://e")
    assert hrefs_of(out) == []
    assert visible(out) == "![x](http://e"


# Schemes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("destination", "shown"),
    [
        ("javascript:alert(1)", "javascript:alert(1)"),
        ("JaVaScRiPt:alert(1)", "JaVaScRiPt:alert(1)"),
        ("&#106;avascript:alert(1)", "javascript:alert(1)"),
        ("java&#x09;script:alert(1)", "java\tscript:alert(1)"),
        ("< javascript:alert(1)>", "javascript:alert(1)"),
        ("vbscript:msgbox(1)", "vbscript:msgbox(1)"),
        ("data:text/html,<script>alert(1)</script>", "data:text/html,<script>alert(1)</script>"),
        ("file:///etc/passwd", "file:///etc/passwd"),
        ("/account/delete", "/account/delete"),
        ("page.html", "page.html"),
        ("//evil.example/x", "//evil.example/x"),
        ("http:evil", "http:evil"),
    ],
)
def test_a_link_to_any_other_scheme_is_inert_text(destination: str, shown: str) -> None:
    out = safe_markdown(f"[click]({destination})")
    assert_inert(out)
    assert hrefs_of(out) == []
    assert visible(out).strip() == f"click ({shown.strip()})"


# Nested and escaped markdown ------------------------------------------------------------------


def test_escaped_image_syntax_stays_text() -> None:
    out = safe_markdown(r"\![x](y)")
    assert_inert(out)
    assert hrefs_of(out) == []
    assert visible(out) == "!x (y)"


def test_emphasis_around_a_link_is_kept() -> None:
    out = safe_markdown("**see [docs](https://d.example/x)** and _also_")
    inline = [t for t in GFM_LIKE.parse(out)[1].children or [] if t.type != "text" or t.content]
    assert [(t.type, t.content) for t in inline] == [
        ("strong_open", ""),
        ("text", "see "),
        ("link_open", ""),
        ("text", "docs"),
        ("link_close", ""),
        ("text", " (d.example)"),
        ("strong_close", ""),
        ("text", " and "),
        ("em_open", ""),
        ("text", "also"),
        ("em_close", ""),
    ]
    assert hrefs_of(out) == ["https://d.example/x"]


def test_lists_inside_block_quotes_keep_their_structure() -> None:
    source = "> Steps:\n>\n> 1. one\n>    - a\n>    - b\n> 2. two\n>\n> done"
    out = safe_markdown(source)
    assert PLAIN.render(out) == PLAIN.render(source)
    assert [t.type for t in tokens_of(out)].count("list_item_open") == 4


def test_pipes_in_table_cells_stay_in_their_cell() -> None:
    source = "| a \\| b | `x \\| y` |\n|:--|--:|\n| 1 | **2 \\| 3** |"
    out = safe_markdown(source)
    assert PLAIN.render(out) == PLAIN.render(source)
    assert [t.type for t in tokens_of(out)].count("td_open") == 2
    assert "<code>x | y</code>" in PLAIN.render(out)


# Code -----------------------------------------------------------------------------------------


def test_code_span_content_comes_out_verbatim() -> None:
    code = "![x](http://e) <script>alert(1)</script> `tick` :material/home: $x$"
    out = safe_markdown(f"Run ``{code}`` now")
    spans = [t.content for t in tokens_of(out) if t.type == "code_inline"]
    assert spans == [code]
    assert_inert(out)


def test_fenced_code_content_comes_out_verbatim() -> None:
    code = "![x](http://e)\n<script>alert(1)</script>\n```\nstill code\n\n    indented\n"
    out = safe_markdown(f"````html\n{code}````\n\n    indented block <b>\n")
    blocks = [(t.type, t.info, t.content) for t in tokens_of(out) if t.type == "fence"]
    assert sorted(blocks) == [("fence", "", "indented block <b>\n"), ("fence", "html", code)]
    assert_inert(out)


@pytest.mark.parametrize(
    ("info", "kept"),
    [
        ("python title=x", "python"),
        ("{r, echo=FALSE}", "r"),
        ("c++", "c++"),
        ("mermaid", ""),  # Streamlit would draw a chart, which can load images
        ("Mermaid.js", ""),
        ("math", ""),  # KaTeX
    ],
)
def test_a_fence_keeps_only_a_plain_language_name(info: str, kept: str) -> None:
    out = safe_markdown(f"~~~ {info}\ngraph TD; A-->B\n~~~")
    assert [t.info for t in tokens_of(out) if t.type == "fence"] == [kept]


# HTML, entities and Streamlit's extensions ----------------------------------------------------


def test_html_is_shown_as_the_text_it_is() -> None:
    source = "<b>x</b> <img src=x onerror=alert(1)>\n\n<script>\nalert(1)\n</script>"
    out = safe_markdown(source)
    assert_inert(out)
    assert visible(out) == "<b>x</b> <img src=x onerror=alert(1)><script>\nalert(1)\n</script>"


def test_entities_show_the_characters_they_name() -> None:
    out = safe_markdown("&lt;b&gt; &amp; &copy; &#x41;")
    assert_inert(out)
    assert visible(out) == "<b> & © A"


def test_streamlit_icon_logo_and_colour_syntax_is_broken() -> None:
    out = safe_markdown(":material/warning: :material_home: :streamlit: :red[text] :help[x]")
    assert ":material/" not in out  # rewritten by Streamlit before parsing
    assert ":" + JOINER + r"material\_home" in out  # icons found in the parsed text
    assert ":" + JOINER + "streamlit" in out  # becomes an <img> in the parsed text
    assert r"\:red\[text\]" in out  # a directive needs an unescaped colon
    assert visible(out) == ":material/warning: :material_home: :streamlit: :red[text] :help[x]"


def test_dollar_signs_are_escaped_so_no_math_is_drawn() -> None:
    out = safe_markdown("$5 and $10, or $$x^2$$")
    assert out == r"\$5 and \$10\, or \$\$x\^2\$\$"


# Line starts --------------------------------------------------------------------------------


def test_indentation_from_entities_never_makes_a_code_block() -> None:
    out = safe_markdown("&#32;&#32;&#32;&#32;not code\n\n- item\n\n&#9;&#9;also not code")
    assert [t.type for t in tokens_of(out) if t.type in ("code_block", "fence")] == []
    assert "    not code" in visible(out)


def test_setext_underlines_and_list_markers_cannot_form_from_text() -> None:
    out = safe_markdown("a\n\\===\n\nb\n\\---\n\n\\- c\n\n1\\. d\n\n\\# e")
    assert [t.type for t in GFM_LIKE.parse(out)].count("paragraph_open") == 5
    assert visible(out) == "a\n===b\n---- c1. d# e"


# Structure ----------------------------------------------------------------------------------

ORDINARY_ANSWERS = [
    """Here is a plan:

1. **Install** the package with `pip install foo`.
2. Configure *it*:
   - set `FOO=1`
   - restart the server
3. Done.

```python
def f(x: int) -> int:
    return x * 2  # doubles `x`
```

| Name | Value | Notes |
|:-----|------:|:-----:|
| a    | 1     | `x \\| y` |
| b_c  | 2.5   | **bold** |

> Note: this is _important_.
> - quoted list
>
> second paragraph

---

Final words with a hard break  
next line, 2 * 3 = 6, C:\\path\\to, snake_case_name, 50% and $5.
""",
    "# Title\n\nSome ~~old~~ new text.\n\n## Sub\n\n* one\n* two\n\n+ other list\n\n"
    "10. ten\n11. eleven\n\n    indented code\n\nSetext\n======\n",
    "- loose\n\n- list\n\n  with para\n\n  ```\n  code in item\n\n  more\n  ```\n- end\n",
    "Spans: `` `backtick` `` and ``` `` ```, a \\* literal star, \\_under\\_, &amp; &copy;.\n\n"
    "***strong em*** and **_mixed_** and *a **b** c*.\n",
    "> > nested quote\n> > more\n>\n> back\n\n1) paren list\n2) second\n\n"
    "- [ ] not a task\n\nline one\nline two\n",
    "- a\n  - b\n    - c\n      1. d\n\n      para in c\n- e\n",
    "\tTabbed code\n\n- item\n\n> ```\n> \tquoted\ttab\n> ```\n\n- ```\n  \tx\n  ```\n",
]


@pytest.mark.parametrize("answer", ORDINARY_ANSWERS)
def test_an_ordinary_answer_renders_to_the_same_html(answer: str) -> None:
    assert PLAIN.render(safe_markdown(answer)) == PLAIN.render(answer)


def test_a_long_answer_renders_in_milliseconds() -> None:
    answer = ("\n\n".join(ORDINARY_ANSWERS) * 8)[:20_000]
    render = safe_markdown_module._render  # not the cache
    best = min(_timed(render, answer) for _ in range(3))
    assert best < 0.2, f"{best * 1000:.0f} ms for 20 kB"  # about 10 ms when the machine is idle


def _timed(render: Callable[[str], str], text: str) -> float:
    start = time.perf_counter()
    render(text)
    return time.perf_counter() - start


# Properties ---------------------------------------------------------------------------------

HOSTILE_FRAGMENTS = [
    "![", "](", "]", "[", ")", "(", "<", ">", "http://evil/", "https://", "javascript:",
    "<img src=x>", "<script>", "`<img src=x>", "`", "```", "~~~", "\\", "\n", "\n\n", "|",
    "| --- |", "> ", "    ", "\t", "- ", "1. ", "#", "*", "_", "~~", ":material/", ":material_x:",
    ":streamlit:",
    "$", "$$", "&#106;", "&lt;", "&#10;", "&#32;", "www.", "@", ":red[", "[^1]", "=", "---",
    "\"t\"", " ", "x", "p.png", "\x00", "\u2060",
]  # fmt: skip
HOSTILE_URLS = [
    "http://evil/p.png?d=SECRET", "https://ok.example/a_(b)", "javascript:alert(1)",
    "JaVaScRiPt:alert(1)", "&#106;avascript:alert(1)", "java&#x09;script:x", "vbscript:x",
    "data:image/png;base64,AAAA", "data:text/html,<script>", "file:///etc/passwd", "//evil/x",
    "p.png", "<javascript:alert(1)>", "< javascript:alert(1)>", "<http://evil/a b>",
    "http://evil/:material/x", "mailto:a@evil", "http://evil/p.png \"title\"",
]  # fmt: skip
FRAGMENT = st.sampled_from(HOSTILE_FRAGMENTS) | st.text(max_size=4)
LABEL = st.lists(FRAGMENT, max_size=4).map("".join)
URL = st.sampled_from(HOSTILE_URLS) | st.lists(FRAGMENT, max_size=3).map("".join)
# Whole constructs too: random fragments alone seldom line up into a complete image or link.
CONSTRUCT = st.one_of(
    st.builds("![{}]({})".format, LABEL, URL),
    st.builds("[{}]({})".format, LABEL, URL),
    st.builds("[![{}]({})]({})".format, LABEL, URL, URL),
    st.builds("![{}][r] [{}][r]\n\n[r]: {}\n".format, LABEL, LABEL, URL),
    st.builds("<{}>".format, URL),
    st.builds("``{}`{}``".format, LABEL, LABEL),
)
HOSTILE_TEXT = st.lists(CONSTRUCT | FRAGMENT, max_size=30).map("".join)


@PROPERTY_SETTINGS
@given(st.text(st.characters(codec=None, exclude_categories=()), max_size=200))
def test_random_text_never_raises_and_comes_out_inert(text: str) -> None:
    safe_markdown_module._render(text)  # the serializer itself, not its fallback
    assert_inert(safe_markdown(text))


@PROPERTY_SETTINGS
@given(HOSTILE_TEXT)
def test_text_built_from_hostile_fragments_comes_out_inert(text: str) -> None:
    out = safe_markdown_module._render(text)
    assert_inert(out)
    # `:material/` is left only inside code, whose text is shown verbatim (and no icon).
    in_code = sum(
        t.content.count(":material/")
        for t in tokens_of(out)
        if t.type in ("code_inline", "fence", "code_block")
    )
    assert out.count(":material/") == in_code


@pytest.mark.parametrize(
    "text",
    [
        "[" * 3000,
        "*a " * 3000,
        "> " * 200 + "deep",
        "- " * 200 + "deep",
        "![" * 2000 + "](http://e/p.png)" * 2000,
        "\ud800 lone surrogate \udfff",
        "\x00\x01\x0b\x0c\r\n\t x",
        "`" * 5000,
    ],
)
def test_pathological_input_does_not_raise(text: str) -> None:
    assert_inert(safe_markdown_module._render(text))


def test_a_failing_serializer_falls_back_to_escaped_text(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(text: str) -> str:
        raise RecursionError

    monkeypatch.setattr(safe_markdown_module, "_render", broken)
    out = safe_markdown("fallback ![x](http://evil/p.png)\n    <b>\n\n# h")
    assert out == "fallback \\!\\[x\\]\\(http\\:\u2060\\/\\/evil\\/p\\.png\\)\n\\<b\\>\n\n\\# h"
    assert_inert(out)


# url_host -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://docs.python.org/3/", "docs.python.org"),
        ("HTTP://Example.COM:8080/x?y#z", "example.com:8080"),
        ("https://user:pw@evil.example/", "evil.example"),
        ("http://evil.example\\@good.example/", "evil.example"),
        ("mailto:a@b.org,c@d.org?subject=hi", "b.org, d.org"),
        ("mailto:nobody", ""),
        ("//evil.example/x", ""),
        ("/relative/path", ""),
        ("javascript:alert(1)", ""),
        ("", ""),
    ],
)
def test_url_host(url: str, host: str) -> None:
    assert url_host(url) == host
