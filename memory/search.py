"""Full-text search over one user's chats: one normaliser in Python, one index per engine.

Matching rule (also in the README, "Search"):
- Every word of the query must appear in the same message. Punctuation, quotes and the FTS
  operators (`" * - : ^ ( ) NEAR AND OR`) are separators or plain words, never syntax.
- Words of Latin, Greek, Cyrillic and other spaced scripts match whole words whatever their
  case and accents ("eclair" finds "Éclair", "STRASSE" finds "Straße"); the LAST word of the
  query also matches as a prefix ("jav" finds "java").
- Chinese, Japanese and Korean characters are each a word of their own; consecutive ones in the
  query must appear consecutively in the message ("東京" finds "私は東京に住んでいます", not
  "京東"). Their marks are kept: "ガ" does not find "カ".
- An emoji matches that emoji (a skin tone or a joiner aside; a flag is its pair of letters).
- A session whose title contains the query text (case-insensitive for ASCII, `%` and `_`
  literal) matches too; a query with no word at all (`%`, `_`) matches titles only.
Results are sessions: title hits dated by the session's last update, message hits by their
newest matching message; merged newest first. "Newest matching message" is the highest id,
which is time order except for chats brought in by an import.

Normalisation (`tokens_with_offsets`, the one function behind indexing, queries and snippets):
NFKC, casefold, accents stripped (NFD, marks of category Mn dropped, except on CJK characters),
then tokens: runs of alphanumerics, each CJK character alone, each emoji as the ASCII word
`emoji1f600` (its code point in hex). Control characters, like all punctuation, separate
words. Every token keeps its (start, end) in the ORIGINAL text, so a snippet marks exactly what
matched, in any script.

The index stores each message's tokens prefixed with its owner's key (`17xjava`), a small
integer from `search_owners` standing for the user id. A query of user 17 names only terms
`17x…`, so other users' words are never read: the prefix of the last word expands over this
user's own vocabulary. (Measured at 1M messages: an FTS5 rowid range per owner does not bound a
prefix query, which merges every user's postings first, 35-250 ms; see bench/search_bench.py.)
- SQLite: an FTS5 table `message_search(terms)` with rowid = chat_messages.id, written by
  `index_messages` in the transaction that inserts the message, and kept exact on delete by an
  AFTER DELETE trigger on chat_messages: every delete path (the store, erasure, retention, a
  foreign-key cascade, another tool) needs no Python.
- PostgreSQL: a table `message_search(message_id, user_id, session_id, terms tsvector)` filled
  the same way with to_tsvector('simple', terms), and searched by one function of migration
  0006, `message_search_hits`; a statement-level AFTER DELETE trigger on chat_messages
  (migration 0007) removes the rows of deleted messages.
- Both: `session_terms(term, session_id, hits, newest)` (migration 0007), per term and chat the
  number of messages holding it and the newest one's id, added to by `index_messages` and
  counted down by those delete triggers. A one-word query is answered from it alone
  (`one_word_hits`; on PostgreSQL by migration 0007's `message_search_word`), and the longer
  words of a prefix are listed from it (`prefix_expansions`).
Migrations 0005 and 0007 create them; they are not on Base.metadata (Alembic would compare a
virtual table it cannot describe). A change to the normaliser changes what is indexed: it must
ship with a migration that re-indexes every message, as 0005's backfill does.
"""

from __future__ import annotations

import re
import unicodedata
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    select,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from memory.models import ID_MAX_CHARS, ChatMessage, ChatSession
from memory.validation import MAX_TITLE_CHARS, check_search

# About this many characters of the newest matching message are shown under a result.
SNIPPET_CHARS = 120
ELLIPSIS = "…"
WORD, CJK, EMOJI = "word", "cjk", "emoji"
# PostgreSQL refuses a tsvector whose words and positions pass 1 MiB; a message holding
# nearly every Han character once would. Past this many bytes the rest of a message is not
# indexed, on both engines alike so that both find the same.
MAX_TSVECTOR_BYTES = 1_000_000

_sessions = ChatSession.__table__
_messages = ChatMessage.__table__

# Kept off Base.metadata on purpose (see above); migration 0005 holds the DDL. The index
# tables themselves differ per engine and are only reached through the text() statements below.
search_metadata = MetaData()
search_owners = Table(
    "search_owners",
    search_metadata,
    Column("user_id", String(ID_MAX_CHARS), primary_key=True),
    Column("key", Integer, nullable=False, unique=True),
)


# Normalisation ------------------------------------------------------------------------------


class Token(NamedTuple):
    """One searchable word: its normalised text, where it is in the original, its kind."""

    text: str
    start: int
    end: int
    kind: str


# Han (with radicals, compatibility ideographs, extensions B-H), Hiragana, Katakana (with
# halfwidth forms and the kana supplements), Hangul syllables and jamo.
_CJK = re.compile(
    "[\u1100-\u11ff\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3038-\u303c\u3040-\u30ff"
    "\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7ff"
    "\uf900-\ufaff\uff66-\uff9f\U0001b000-\U0001b16f\U00020000-\U0003134f]"
)
# CJK characters that NFKC and casefolding leave as they are: Hiragana and Katakana letters,
# the unified ideographs, Hangul syllables.
_PLAIN_CJK = re.compile("[\u3041-\u3096\u30a1-\u30fa\u4e00-\u9fff\uac00-\ud7a3]+")
_HANGUL = re.compile("[\u1100-\u11ff\ua960-\ua97f\uac00-\ud7ff]")
_HANGUL_VOWEL_OR_FINAL = re.compile("[\u1160-\u11ff\ud7b0-\ud7ff]")
_VARIATION_SELECTORS = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")
_REGIONAL_INDICATOR = re.compile("[\U0001f1e6-\U0001f1ff]")
_KEYCAP = "\u20e3"
_KEYCAP_BASES = frozenset("0123456789#*")
# Halfwidth katakana voicing marks: letters, but NFKC makes them combining marks.
_HALFWIDTH_VOICING = frozenset("\uff9e\uff9f")
# A zero-width space separates words; other format characters (soft hyphen, joiners, bidi
# controls) sit inside words and separate nothing.
_ZERO_WIDTH_SPACE = "\u200b"
_ASCII_WORD = re.compile(r"[A-Za-z0-9]+")
_ASCII_OTHER = re.compile(r"[\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]+")
_PART, _SINGLE, _SEPARATOR, _IGNORED = "part", "single", "separator", "ignored"


def _is_mark(char: str) -> bool:
    return unicodedata.category(char)[0] == "M"


def _continues(previous: str, char: str) -> bool:
    """Whether `char` belongs to the cluster of text ending with `previous`."""
    if char < "\x80":
        return False
    return (
        _is_mark(char)
        or char in _HALFWIDTH_VOICING
        or bool(_HANGUL_VOWEL_OR_FINAL.match(char) and _HANGUL.match(previous))
    )


def _emoji_word(code_points: Iterable[str]) -> str:
    return "emoji" + "x".join(f"{ord(char):x}" for char in code_points)


@lru_cache(maxsize=65_536)
def _fold(cluster: str) -> tuple[tuple[str, str, str], ...]:
    """What one cluster of original text (a character and the marks on it) contributes:
    (role, kind, text) pieces, role being part of a word, a token alone, or a separator."""
    if cluster[-1] == _KEYCAP and cluster[0] in _KEYCAP_BASES:
        return ((_SINGLE, EMOJI, _emoji_word((cluster[0], _KEYCAP))),)
    if _REGIONAL_INDICATOR.match(cluster):
        return ((_SINGLE, EMOJI, _emoji_word(cluster)),)
    compatible = unicodedata.normalize("NFKC", cluster).casefold()
    if _CJK.match(compatible):
        # Marks on kana and hangul are letters of the word, not accents: kept, composed.
        folded = unicodedata.normalize("NFC", _VARIATION_SELECTORS.sub("", compatible))
    else:
        decomposed = unicodedata.normalize("NFD", compatible)
        folded = unicodedata.normalize(
            "NFC", "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
        )
    pieces: list[list[str]] = []
    for char in folded:
        category = unicodedata.category(char)
        if _CJK.match(char) and char.isalnum():
            pieces.append([_SINGLE, CJK, char])
        elif category[0] == "M":
            # A mark left after folding (spacing marks of Indic scripts...) stays on its letter.
            if pieces and pieces[-1][0] in (_PART, _SINGLE) and pieces[-1][1] != EMOJI:
                pieces[-1][2] += char
            else:
                pieces.append([_IGNORED, WORD, ""])
        elif char.isalnum():
            if pieces and pieces[-1][0] == _PART:
                pieces[-1][2] += char
            else:
                pieces.append([_PART, WORD, char])
        elif category == "So":
            pieces.append([_SINGLE, EMOJI, _emoji_word(char)])
        elif category == "Cf" and char != _ZERO_WIDTH_SPACE:
            pieces.append([_IGNORED, WORD, ""])
        else:
            pieces.append([_SEPARATOR, WORD, ""])
    return tuple((role, kind, piece) for role, kind, piece in pieces)


def _clusters(
    text: str,
) -> Iterator[tuple[int, int, tuple[tuple[str, str, str], ...] | None]]:
    """(start, end, pieces) along `text`. Runs of plain ASCII and of plain CJK (None for
    pieces: every character is a token) take fast paths."""
    length = len(text)
    position = 0
    while position < length:
        char = text[position]
        if char < "\x80":
            run = (_ASCII_WORD if char.isalnum() else _ASCII_OTHER).match(text, position)
            assert run is not None
            end = run.end()
            if end < length and _continues(text[end - 1], text[end]):
                end -= 1  # the run's last character takes its marks on the slow path
            if end > position:
                role = _PART if char.isalnum() else _SEPARATOR
                yield position, end, ((role, WORD, text[position:end].lower()),)
                position = end
                continue
        run = _PLAIN_CJK.match(text, position)
        if run is not None:
            end = run.end()
            if end < length and _continues(text[end - 1], text[end]):
                end -= 1
            if end > position:
                yield position, end, None  # each character a token of its own, as it is
                position = end
                continue
        end = position + 1
        if _REGIONAL_INDICATOR.match(char) and end < length:
            end += bool(_REGIONAL_INDICATOR.match(text[end]))  # a flag is a pair
        while end < length and _continues(text[end - 1], text[end]):
            end += 1
        yield position, end, _fold(text[position:end])
        position = end


def tokens_with_offsets(text: str) -> Iterator[Token]:
    """The tokens of `text`, in order, each with its (start, end) in `text` itself."""
    if text.isascii():
        # The common case, and the same result: ASCII has no marks, no CJK and no emoji.
        for match in _ASCII_WORD.finditer(text):
            yield Token(match.group().lower(), match.start(), match.end(), WORD)
        return
    word: list[str] = []
    word_start = word_end = 0
    for start, end, pieces in _clusters(text):
        if pieces is None:
            if word:
                yield Token("".join(word), word_start, word_end, WORD)
                word = []
            for position in range(start, end):
                yield Token(text[position], position, position + 1, CJK)
            continue
        for role, kind, piece in pieces:
            if role == _PART:
                if not word:
                    word_start = start
                word.append(piece)
                word_end = end
                continue
            if role == _IGNORED:
                continue
            if word:
                yield Token("".join(word), word_start, word_end, WORD)
                word = []
            if role == _SINGLE:
                yield Token(piece, start, end, kind)
    if word:
        yield Token("".join(word), word_start, word_end, WORD)


def normalise(text: str) -> list[str]:
    """The normalised tokens of `text`: what is indexed and what a query asks for."""
    return [token.text for token in tokens_with_offsets(text)]


def indexed_terms(owner_key: int, content: str) -> str:
    """The terms text stored for one message of the owner with `owner_key` ("" for none).
    Migration 0005 calls it: keep its signature."""
    return _owned_terms(owner_key, normalise(content))


def _owned_terms(owner_key: int, tokens: Iterable[str]) -> str:
    terms: list[str] = []
    occurrences: dict[str, int] = {}
    size = 0
    for token in tokens:
        term = f"{owner_key}x{token}"
        seen = occurrences.get(term, 0)
        # What PostgreSQL counts against its limit: each distinct word (padded to even) with
        # a 2-byte count, and 2 bytes per position, of which it keeps 256 per word.
        cost = len(term.encode()) + 5 if seen == 0 else 2 if seen < 256 else 0
        if size + cost > MAX_TSVECTOR_BYTES:
            break
        size += cost
        occurrences[term] = seen + 1
        terms.append(term)
    return " ".join(terms)


# Queries ------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class QueryPart:
    """One thing a matching message must contain: a word (the query's last one may be a
    prefix), an emoji, or a phrase of consecutive CJK characters."""

    tokens: tuple[str, ...]
    prefix: bool = False

    def matches(self, candidates: Sequence[Token]) -> bool:
        """Whether the last len(tokens) of `candidates` are this part, in order."""
        count = len(self.tokens)
        if len(candidates) < count:
            return False
        offset = len(candidates) - count
        for index, wanted in enumerate(self.tokens[:-1]):
            if candidates[offset + index].text != wanted:
                return False
        found, last = candidates[-1].text, self.tokens[-1]
        return found.startswith(last) if self.prefix else found == last


@dataclass(frozen=True)
class Query:
    text: str  # what titles are searched for: the query with control characters as spaces
    parts: tuple[QueryPart, ...]


def clean_query(query: object) -> str:
    """The search text as typed, control characters (tab, newline…) as spaces, runs of spaces
    as one; raises InvalidContent if it is not text or longer than MAX_TITLE_CHARS."""
    if isinstance(query, str):
        query = _CONTROL.sub(" ", query)
    return " ".join(check_search(query, MAX_TITLE_CHARS).split())


def parse_query(text: str) -> Query:
    """The parts a message must contain to match `text` (already cleaned)."""
    parts: list[list[str]] = []
    previous: Token | None = None
    for token in tokens_with_offsets(text):
        joined = (
            token.kind == CJK
            and previous is not None
            and previous.kind == CJK
            and previous.end == token.start
        )
        if joined:
            parts[-1].append(token.text)
        else:
            parts.append([token.text])
        previous = token
    # Only a word grows into longer words: a CJK character or an emoji is whole already.
    last_is_prefix = previous is not None and previous.kind == WORD
    wanted = [
        QueryPart(tuple(part), prefix=last_is_prefix and index == len(parts) - 1)
        for index, part in enumerate(parts)
    ]
    # A repeated word asks for nothing more; a prefix that is also a whole word of the query
    # is implied by that word.
    exact = {part.tokens for part in wanted if not part.prefix}
    unique = dict.fromkeys(part for part in wanted if not (part.prefix and part.tokens in exact))
    return Query(text=text, parts=tuple(unique))


def _quote_fts5(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def fts5_match(query: Query, owner_key: int, longer_words: Sequence[str] | None = None) -> str:
    """The FTS5 MATCH expression: each part a quoted string (a phrase for CJK), ANDed. Every
    token is quoted, so nothing the user typed can be FTS5 syntax. With `longer_words` (the
    indexed terms the prefix part begins, from `prefix_expansions`), the prefix part asks for
    its word and those by name instead of as a prefix."""
    expressions = []
    for part in query.parts:
        phrase = _quote_fts5(" ".join(f"{owner_key}x{token}" for token in part.tokens))
        if part.prefix and longer_words is not None:
            expressions.append("(" + " OR ".join([phrase, *map(_quote_fts5, longer_words)]) + ")")
        else:
            expressions.append(phrase + ("*" if part.prefix else ""))
    return " AND ".join(expressions)


def _quote_tsquery(term: str) -> str:
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def tsquery_text(query: Query, owner_key: int) -> str:
    """The to_tsquery('simple', ...) text: quoted lexemes, `<->` inside a CJK phrase, `:*` on
    a prefix, parts joined by `&`."""
    return " & ".join(
        "("
        + " <-> ".join(_quote_tsquery(f"{owner_key}x{token}") for token in part.tokens)
        + (":*" if part.prefix else "")
        + ")"
        for part in query.parts
    )


# Snippets -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snippet:
    """About SNIPPET_CHARS of a message around its first match, as (text, is_match) parts in
    order, with "…" where the message was cut; every match inside is its own part."""

    parts: tuple[tuple[str, bool], ...]

    @property
    def text(self) -> str:
        return "".join(part for part, _ in self.parts)


_WHITESPACE = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")


def _around(content: str, start: int, end: int, width: int) -> tuple[int, int]:
    """The (start, end) of about `width` characters of `content` showing [start, end), cut at
    spaces where there are some."""
    room = max(0, width - (end - start))
    low = max(0, start - room // 3)
    if low > 0:
        space = content.find(" ", low, start)
        low = space + 1 if space >= 0 else low
    high = min(len(content), low + width)
    if high < len(content):
        space = content.rfind(" ", end, high)
        high = space if space > end else high
    return low, high


def build_snippet(content: str, query: Query, width: int = SNIPPET_CHARS) -> Snippet:
    """The snippet of `content` for `query`: the window around the first match, every match in
    it marked, made from the original text with the normaliser's own offsets."""
    # One-token parts (nearly every query) are a set lookup or a startswith per token.
    exact = {part.tokens[0] for part in query.parts if len(part.tokens) == 1 and not part.prefix}
    prefixes = tuple(
        part.tokens[0] for part in query.parts if part.prefix and len(part.tokens) == 1
    )
    phrases = [part for part in query.parts if len(part.tokens) > 1]
    recent: deque[Token] = deque(maxlen=max((len(part.tokens) for part in phrases), default=1))
    matches: list[tuple[int, int]] = []
    window: tuple[int, int] | None = None
    for token in tokens_with_offsets(content):
        if window is not None and token.start >= window[1]:
            break
        found = []
        if token.text in exact or (prefixes and token.text.startswith(prefixes)):
            found.append((token.start, token.end))
        if phrases:
            recent.append(token)
            found += [
                (recent[-len(part.tokens)].start, token.end)
                for part in phrases
                if part.matches(recent)
            ]
        if found:
            matches += found
            if window is None:
                start = min(start for start, _ in found)
                window = _around(content, start, token.end, width)
    if window is None:
        window = _around(content, 0, 0, width)
    return _cut(content, window, matches)


def _cut(content: str, window: tuple[int, int], matches: list[tuple[int, int]]) -> Snippet:
    low, high = window
    parts: list[tuple[str, bool]] = []
    position = low
    for start, end in sorted(matches):
        start, end = max(start, position), min(end, high)
        if start >= end:
            continue
        if start > position:
            parts.append((content[position:start], False))
        parts.append((content[start:end], True))
        position = end
    if position < high:
        parts.append((content[position:high], False))
    shown = [(_WHITESPACE.sub(" ", part), is_match) for part, is_match in parts]
    if shown and not shown[0][1]:
        shown[0] = (shown[0][0].lstrip(), False)
    if shown and not shown[-1][1]:
        shown[-1] = (shown[-1][0].rstrip(), False)
    if low > 0:
        shown.insert(0, (ELLIPSIS, False))
    if high < len(content):
        shown.append((ELLIPSIS, False))
    merged: list[tuple[str, bool]] = []
    for part, is_match in shown:
        if not part:
            continue
        if merged and not is_match and not merged[-1][1]:
            merged[-1] = (merged[-1][0] + part, False)
        else:
            merged.append((part, is_match))
    return Snippet(tuple(merged))


# Indexing -----------------------------------------------------------------------------------

_SQLITE_NEW_OWNER = text(
    "INSERT OR IGNORE INTO search_owners (user_id, key) "
    "SELECT :user_id, coalesce(max(key), 0) + 1 FROM search_owners"
)
# A message is indexed once, when it is inserted. OR REPLACE: SQLite hands a deleted top id out
# again, and an entry left by a delete no trigger saw (a tool with triggers off) must not make
# the user's new message fail.
_SQLITE_INDEX = text("INSERT OR REPLACE INTO message_search (rowid, terms) VALUES (:id, :terms)")
# The message's owner and session are read from its own row (the hook is handed its id).
_PG_INDEX = text(
    "INSERT INTO message_search (message_id, user_id, session_id, terms) "
    "SELECT m.id, m.user_id, m.session_id, to_tsvector('simple', :terms) "
    "FROM chat_messages AS m WHERE m.id = :id"
)
# The new messages' terms counted into their chats' rows of session_terms (migration 0007
# backfills it with these statements over every message). On SQLite the terms are read back
# from the FTS5 rows just written, split by json_each as the delete trigger splits them:
# terms never hold a quote or a backslash, so '["' || replace(terms, ' ', '","') || '"]' is
# always a JSON array of them.
_SQLITE_ADD_SESSION_TERMS = text(
    "INSERT INTO session_terms (term, session_id, hits, newest) "
    "SELECT w.value, m.session_id, count(DISTINCT m.id), max(m.id) "
    "FROM message_search AS s JOIN chat_messages AS m ON m.id = s.rowid, "
    "json_each('[\"' || replace(s.terms, ' ', '\",\"') || '\"]') AS w "
    "WHERE s.rowid IN :ids GROUP BY w.value, m.session_id "
    "ON CONFLICT (session_id, term) DO UPDATE SET hits = hits + excluded.hits, "
    "newest = max(newest, excluded.newest)"
).bindparams(bindparam("ids", expanding=True))
_PG_ADD_SESSION_TERMS = text(
    "INSERT INTO session_terms (term, session_id, hits, newest) "
    "SELECT w.term, s.session_id, count(*), max(s.message_id) "
    "FROM message_search AS s, unnest(tsvector_to_array(s.terms)) AS w(term) "
    "WHERE s.message_id = ANY (CAST(:ids AS BIGINT[])) GROUP BY w.term, s.session_id "
    "ON CONFLICT (session_id, term) DO UPDATE SET hits = session_terms.hits + excluded.hits, "
    "newest = greatest(session_terms.newest, excluded.newest)"
)
_OWNER_KEY = select(search_owners.c.key).where(search_owners.c.user_id == bindparam("user_id"))


def _is_sqlite(conn: Connection) -> bool:
    return conn.dialect.name == "sqlite"


def owner_key(conn: Connection, user_id: str, *, create: bool = False) -> int | None:
    """The user's search key; with `create`, one is assigned if the user has none yet."""
    key = conn.scalar(_OWNER_KEY, {"user_id": user_id})
    if key is not None or not create:
        return key
    if _is_sqlite(conn):
        # Writers are serialised (BEGIN IMMEDIATE), so max() + 1 cannot race.
        conn.execute(_SQLITE_NEW_OWNER, {"user_id": user_id})
    else:
        # The key is an identity column: concurrent first messages of two users never clash.
        conn.execute(
            postgresql.insert(search_owners).values(user_id=user_id).on_conflict_do_nothing()
        )
    return conn.scalar(_OWNER_KEY, {"user_id": user_id})


def index_messages(conn: Connection, rows: Iterable[tuple[int, str, str]]) -> None:
    """Index stored messages, given as (message_id, user_id, content), inside the caller's
    transaction: the one that inserted them, so a message and its index entry commit together."""
    keys: dict[str, int] = {}
    entries = []
    for message_id, user_id, content in rows:
        tokens = normalise(content)
        if not tokens:
            continue  # nothing to find: no row (a delete of it is then a no-op)
        if user_id not in keys:
            key = owner_key(conn, user_id, create=True)
            assert key is not None
            keys[user_id] = key
        terms = _owned_terms(keys[user_id], tokens)
        entries.append({"id": message_id, "user_id": user_id, "terms": terms})
    if not entries:
        return
    sqlite = _is_sqlite(conn)
    conn.execute(_SQLITE_INDEX if sqlite else _PG_INDEX, entries)
    ids = [entry["id"] for entry in entries]
    conn.execute(_SQLITE_ADD_SESSION_TERMS if sqlite else _PG_ADD_SESSION_TERMS, {"ids": ids})


_FORGET_CHAT = text(
    "DELETE FROM session_terms WHERE session_id = :session_id AND term >= :low AND term < :high"
)


def forget_chats(conn: Connection, keys: Iterable[tuple[str, str]]) -> None:
    """Remove the session_terms rows of whole chats, given as (user_id, session_id), whose
    messages the caller deletes next in the same transaction. The delete trigger would count
    every message's terms out one by one (about 80 us a message on SQLite); a chat's rows are
    one range of the primary key (session_id, term), its owner's terms being `17x...`."""
    owners: dict[str, int | None] = {}
    ranges = []
    for user_id, session_id in keys:
        if user_id not in owners:
            owners[user_id] = owner_key(conn, user_id)
        key = owners[user_id]
        if key is not None:
            ranges.append({"session_id": session_id, "low": f"{key}x", "high": f"{key}y"})
    if ranges:
        conn.execute(_FORGET_CHAT, ranges)


def forget_owner(conn: Connection, user_id: str) -> None:
    """Remove the user's search key (it holds the user id). Call once their messages are gone:
    a later message gets a new key."""
    conn.execute(search_owners.delete().where(search_owners.c.user_id == user_id))


# Searching ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchHit:
    """A matching session: its row (the columns asked for) and a snippet of its newest
    matching message, None when only its title matched."""

    session: tuple
    snippet: Snippet | None


_SQLITE_HITS = text(
    "SELECT m.id, m.session_id FROM message_search "
    "JOIN chat_messages AS m ON m.id = message_search.rowid "
    "WHERE message_search MATCH :match AND m.user_id = :user_id "
    "ORDER BY message_search.rowid DESC"
)
# PostgreSQL searches by one function of migration 0006, message_search_hits: it walks the
# user's newest messages through (user_id, message_id DESC), testing each, which ends at once
# when hits are dense (a word in every message finds its sessions in the first window); when
# they are sparse it lets the GIN index find the older hits (the owner key is in every lexeme:
# no other user's posting is read) and returns the newest per session. Each way is held to its
# plan inside the function, whatever the statistics say (a user whose rows the planner
# underestimated got a bitmap scan and a sort of all their messages: 42 ms for 100k, where
# the walk takes 0.4; left to itself for a sparse word, the planner walked the table filtering
# by the word: for a word common among other users that read the whole table, 258 ms at 1M).
_PG_HITS = text(
    "SELECT message_id FROM message_search_hits("
    "CAST(:user_id AS VARCHAR), CAST(:limit AS INTEGER), to_tsquery('simple', :query))"
)


# A prefix that begins at most this many longer words of the user is asked for word by word:
# each word's chats are read from session_terms (and on SQLite, FTS5 streams such a query
# newest first and stops at the limit, where a prefix query first merges the postings of
# every word it covers: 3 ms for a word in all 100k messages). Past it, the words are rarer
# than they are many, and the prefix query is the cheaper of the two.
MAX_PREFIX_WORDS = 16
# The words after `low` up to `high`, one probe of session_terms' primary key each: a skip
# scan, whatever number of chats holds each word.
_LONGER_WORDS = text(
    "WITH RECURSIVE longer(term, n) AS ("
    "SELECT (SELECT min(t.term) FROM session_terms AS t WHERE t.term > :low AND t.term < :high)"
    ", 1 UNION ALL SELECT (SELECT min(t.term) FROM session_terms AS t "
    "WHERE t.term > longer.term AND t.term < :high), longer.n + 1 "
    "FROM longer WHERE longer.term IS NOT NULL AND longer.n < :limit) "
    "SELECT term FROM longer WHERE term IS NOT NULL"
)


def prefix_expansions(conn: Connection, term: str) -> list[str] | None:
    """The indexed terms (of any owner: `term` carries the owner's key) that begin with
    `term` and are longer, from session_terms; None when there are over MAX_PREFIX_WORDS."""
    last = ord(term[-1])
    if last >= 0x10FFFF:
        return None
    bounds = {"low": term, "high": term[:-1] + chr(last + 1)}
    words = list(conn.execute(_LONGER_WORDS, {**bounds, "limit": MAX_PREFIX_WORDS + 1}).scalars())
    return None if len(words) > MAX_PREFIX_WORDS else words


# The `limit` chats of one word with the newest messages holding it, from the index
# (term, newest DESC) of session_terms alone: `limit` rows whatever the word's hits. On
# PostgreSQL one function of migration 0007 does the whole one-word search in the server.
_SQLITE_WORD_CHATS = text(
    "SELECT newest, session_id FROM session_terms WHERE term = :term "
    "ORDER BY newest DESC LIMIT :limit"
)
_PG_WORD = text(
    "SELECT message_id FROM message_search_word(CAST(:user_id AS VARCHAR), "
    "CAST(:word AS TEXT), CAST(:prefix AS BOOLEAN), CAST(:limit AS INTEGER), "
    "CAST(:max_words AS INTEGER))"
)


def _is_one_word(query: Query) -> bool:
    return len(query.parts) == 1 and len(query.parts[0].tokens) == 1


def one_word_hits(conn: Connection, user_id: str, query: Query, limit: int) -> list[int] | None:
    """For a query of one word (or emoji), the newest matching message of each of the user's
    `limit` chats with the newest hits, newest first, from session_terms; None for any other
    query. A prefix that begins over MAX_PREFIX_WORDS longer words is None on SQLite (the
    caller asks the message index); on PostgreSQL the function asks it itself."""
    if not _is_one_word(query):
        return None
    if not _is_sqlite(conn):
        return _postgres_word_hits(conn, user_id, query.parts[0], limit)
    key = owner_key(conn, user_id)
    if key is None:
        return []  # nothing of this user was ever indexed
    return _sqlite_word_hits(conn, query, key, _sqlite_longer_words(conn, query, key), limit)


def _postgres_word_hits(conn: Connection, user_id: str, part: QueryPart, limit: int) -> list[int]:
    parameters = {
        "user_id": user_id,
        "word": part.tokens[0],
        "prefix": part.prefix,
        "limit": limit,
        "max_words": MAX_PREFIX_WORDS,
    }
    return list(conn.execute(_PG_WORD, parameters).scalars())


def _sqlite_longer_words(conn: Connection, query: Query, key: int) -> list[str] | None:
    """The longer words the query's prefix part begins (prefix_expansions); None without one."""
    prefix = next((part for part in query.parts if part.prefix), None)
    return None if prefix is None else prefix_expansions(conn, f"{key}x{prefix.tokens[-1]}")


def _sqlite_word_hits(
    conn: Connection, query: Query, key: int, longer: list[str] | None, limit: int
) -> list[int] | None:
    """one_word_hits on SQLite, given the prefix's `longer` words (read once by the caller, who
    also needs them for the message index); None when the query is not one word, or its prefix
    begins too many words."""
    if not _is_one_word(query):
        return None
    part = query.parts[0]
    if part.prefix and longer is None:
        return None
    newest: dict[str, int] = {}
    for term in [f"{key}x{part.tokens[0]}", *(longer or ())]:
        for message_id, session_id in conn.execute(
            _SQLITE_WORD_CHATS, {"term": term, "limit": limit}
        ):
            newest[session_id] = max(message_id, newest.get(session_id, 0))
    return sorted(newest.values(), reverse=True)[:limit]


def _sqlite_message_hits(conn: Connection, user_id: str, match: str, limit: int) -> list[int]:
    newest: dict[str, int] = {}
    result = conn.execute(_SQLITE_HITS, {"match": match, "user_id": user_id})
    try:
        # Newest first, straight from the FTS5 doclist: stop at the limit-th session.
        for message_id, session_id in result:
            newest.setdefault(session_id, message_id)
            if len(newest) >= limit:
                break
    finally:
        result.close()
    return list(newest.values())


def _postgres_message_hits(conn: Connection, user_id: str, query: str, limit: int) -> list[int]:
    return list(
        conn.execute(_PG_HITS, {"user_id": user_id, "limit": limit, "query": query}).scalars()
    )


def _message_hits(conn: Connection, user_id: str, query: Query, limit: int) -> list[int]:
    """Ids of the newest matching message of each of the user's `limit` sessions with the
    newest hits, newest first."""
    if not query.parts:
        return []
    if not _is_sqlite(conn) and _is_one_word(query):
        return _postgres_word_hits(conn, user_id, query.parts[0], limit)
    key = owner_key(conn, user_id)
    if key is None:
        return []  # nothing of this user was ever indexed
    if not _is_sqlite(conn):
        return _postgres_message_hits(conn, user_id, tsquery_text(query, key), limit)
    # The owner's key and the prefix's longer words, read once for either index.
    longer = _sqlite_longer_words(conn, query, key)
    one_word = _sqlite_word_hits(conn, query, key, longer, limit)
    if one_word is not None:
        return one_word
    return _sqlite_message_hits(conn, user_id, fts5_match(query, key, longer), limit)


def _like_pattern(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _in_list(
    column: ColumnElement[Any], name: str, item_type: TypeEngine[Any], sqlite: bool
) -> ColumnElement[bool]:
    """`column IN (...)` for a list bound as `name`. On PostgreSQL one array parameter: the
    statement's text is then the same for any number of ids, so psycopg prepares it once
    instead of PostgreSQL planning a new IN list at every search."""
    if sqlite:
        return column.in_(bindparam(name, expanding=True))
    return column == any_(bindparam(name, type_=postgresql.ARRAY(item_type)))


@lru_cache(maxsize=8)
def _session_reads(columns: tuple, sqlite: bool):
    """The three reads of chat_sessions for `columns`, built once: building a select costs more
    than running it on SQLite. (1) The sessions of given messages, with each message's owner,
    time and content; (2) the user's sessions whose title contains a pattern, newest first, as
    (session_id, updated_at) only; (3) given sessions of the user."""
    # (1) by message id alone: with the owner in this WHERE, SQLite reads all of the user's
    # messages through (user_id, ...) instead of these few rows. The caller checks the owner.
    of_messages = (
        select(*columns, _messages.c.user_id, _messages.c.created_at, _messages.c.content)
        .select_from(
            _messages.join(
                _sessions,
                and_(
                    _sessions.c.user_id == _messages.c.user_id,
                    _sessions.c.session_id == _messages.c.session_id,
                ),
            )
        )
        .where(_in_list(_messages.c.id, "ids", BigInteger(), sqlite))
    )
    pattern = bindparam("pattern", type_=Text())
    if sqlite:
        # SQLite's LIKE ignores ASCII case by itself, which is all its lower() would add, at
        # no cost per row: this scan reads every title of the user.
        title_matches = _sessions.c.title.like(pattern, escape="\\")
    else:
        # ILIKE: the database folds both sides its own way (Python's str.lower() folds letters
        # the database may keep, so a pattern lowered here could miss the very text searched),
        # at half the cost of lower(title) LIKE lower(pattern) (1.0 against 2.4 ms for 2,000
        # titles).
        title_matches = _sessions.c.title.ilike(pattern, escape="\\")
    # Only columns of ix_chat_sessions_user_recent: every title of the user is tested in the
    # index, never in the table (0.2 against 1.2 ms for 2,000 titles on SQLite).
    with_title = (
        select(_sessions.c.session_id, _sessions.c.updated_at)
        .where(_sessions.c.user_id == bindparam("user_id"), title_matches)
        .order_by(_sessions.c.updated_at.desc(), _sessions.c.session_id.desc())
        .limit(bindparam("limit"))
    )
    of_sessions = select(*columns).where(
        _sessions.c.user_id == bindparam("user_id"),
        _in_list(_sessions.c.session_id, "session_ids", String(), sqlite),
    )
    return of_messages, with_title, of_sessions


def find_sessions(
    conn: Connection, user_id: str, text: str, limit: int, *, columns: Sequence
) -> list[SearchHit]:
    """The user's `limit` sessions matching `text` (from `clean_query`, not empty), newest
    first: each as the chat_sessions `columns` asked for (session_id and updated_at among
    them) with a snippet of its newest matching message (None for a title-only hit)."""
    query = parse_query(text)
    limit = max(1, limit)
    width = len(columns)
    of_messages, with_title, of_sessions = _session_reads(tuple(columns), _is_sqlite(conn))
    # session_id -> (when it matched, its row or None until read, matching content or None)
    found: dict[str, tuple[datetime, tuple | None, str | None]] = {}
    message_ids = _message_hits(conn, user_id, query, limit)
    if message_ids:
        for row in conn.execute(of_messages, {"ids": message_ids}):
            session, (owner, at, content) = tuple(row[:width]), tuple(row[width:])
            if owner == user_id:
                found[row.session_id] = (at, session, content)
    titled = conn.execute(
        with_title,
        {"user_id": user_id, "pattern": _like_pattern(query.text), "limit": limit},
    )
    for session_id, updated_at in titled:
        at, session, content = found.get(session_id, (updated_at, None, None))
        found[session_id] = (max(at, updated_at), session, content)
    ranked = sorted(found.items(), key=lambda item: (item[1][0], item[0]), reverse=True)[:limit]
    unread = [session_id for session_id, (_, session, _) in ranked if session is None]
    rows = {}
    if unread:
        rows = {
            row.session_id: tuple(row)
            for row in conn.execute(of_sessions, {"user_id": user_id, "session_ids": unread})
        }
    return [
        SearchHit(
            session if session is not None else rows[session_id],
            None if content is None else build_snippet(content, query),
        )
        for session_id, (_, session, content) in ranked
        if session is not None or session_id in rows
    ]


__all__ = [
    "CJK",
    "EMOJI",
    "SNIPPET_CHARS",
    "WORD",
    "Query",
    "QueryPart",
    "SearchHit",
    "Snippet",
    "Token",
    "build_snippet",
    "clean_query",
    "find_sessions",
    "forget_chats",
    "forget_owner",
    "fts5_match",
    "index_messages",
    "indexed_terms",
    "normalise",
    "one_word_hits",
    "owner_key",
    "parse_query",
    "prefix_expansions",
    "tokens_with_offsets",
    "tsquery_text",
]
