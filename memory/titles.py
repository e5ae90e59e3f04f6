"""Titles the model writes: after a chat's first answer, a short title in the background.

The call is the model's own, apart from the chat: a prompt of its own built from the first
turn as stored, never the chat's history object nor its chain, so nothing of it is stored as a
message or reaches a later prompt. What the model says is kept only if it reads as a title
(`clean_title`); otherwise, or if the model fails, the first-words title stays. The store
writes it only over a first-words title (`ChatStore.set_model_title`): a title the user set,
even a moment earlier, is never overwritten."""

from __future__ import annotations

import logging
import re
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage

from memory.errors import StoreError
from memory.store import TITLE_BY_QUESTION, ChatStore

log = logging.getLogger(__name__)

MAX_TITLE_WORDS = 6
MAX_MODEL_TITLE_CHARS = 80
# What the model reads of the first turn: enough to name the chat, little to process.
EXCHANGE_CHARS = 1_000
# A title needs few tokens; the cap also bounds how long the model is busy with it.
TITLE_MAX_TOKENS = 24
TITLE_INSTRUCTION = (
    "Write a short title, at most 6 words, for a chat that begins with the exchange below. "
    "Reply with the title only: no quotes, no punctuation at the end."
)
# Markup or a link would be drawn as plain text, but it is no title: refused, not cleaned.
_MARKUP = re.compile(r"[<>\[\]{}*_`#|\\]|://|^\s*[-+>]\s")
_LABEL = re.compile(r"^\s*(?:title|chat title)\s*:\s*", re.IGNORECASE)
# Straight and typographic quotes (and guillemets) a model may put around its title.
_QUOTES = "\"'\u201c\u201d\u2018\u2019\u00ab\u00bb"


def clean_title(text: object) -> str | None:
    """The model's reply as a title (its first line, quotes and a "Title:" label taken off, cut
    to MAX_TITLE_WORDS words), or None if it is no title: empty, longer than
    MAX_MODEL_TITLE_CHARS, or holding markup, a link or control characters."""
    if not isinstance(text, str):
        return None
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None
    line = _LABEL.sub("", lines[0]).strip().strip(_QUOTES).strip()
    if not line or len(line) > MAX_MODEL_TITLE_CHARS or _MARKUP.search(line):
        return None
    if any(not character.isprintable() for character in line):
        return None
    words = line.split()
    title = " ".join(words[:MAX_TITLE_WORDS]).rstrip(".,;:!?-\u2013\u2014 ")
    return title or None


def title_prompt(question: str, answer: str) -> list[Any]:
    """The messages of the title call: an instruction, then the first turn as data."""
    return [
        SystemMessage(TITLE_INSTRUCTION),
        HumanMessage(f"User: {question[:EXCHANGE_CHARS]}\n\nAssistant: {answer[:EXCHANGE_CHARS]}"),
    ]


def write_title(llm: Any, store: ChatStore, user_id: str, session_id: str) -> str | None:
    """Ask the model for the chat's title from its first turn and store it; the title stored,
    or None (the chat's title was already set, its first turn has no answer, the model failed
    or said no title). Never raises for the model's or the database's failure: the first-words
    title is a fine title."""
    try:
        summary = store.get_session(user_id, session_id)
        if summary is None or summary.title_source != TITLE_BY_QUESTION:
            return None
        exchange = store.first_exchange(user_id, session_id)
        if exchange is None:
            return None
        reply = llm.bind(max_tokens=TITLE_MAX_TOKENS, temperature=0).invoke(title_prompt(*exchange))
    except StoreError:
        log.warning("no title written: the database failed", exc_info=True)
        return None
    except Exception:  # the model's failure of any kind: the first words stay
        log.warning("no title written: the model failed", exc_info=True)
        return None
    title = clean_title(getattr(reply, "content", None))
    if title is None:
        log.info("no title written: the model's reply is no title")
        return None
    try:
        return title if store.set_model_title(user_id, session_id, title) else None
    except StoreError:
        log.warning("no title written: the database failed", exc_info=True)
        return None


class TitleWriter:
    """Writes titles on a worker thread of its own, one at a time: the chat's answer has
    already been stored and drawn when a title is asked for, and never waits for one."""

    def __init__(self, llm: Any, store: ChatStore) -> None:
        self.llm = llm
        self.store = store
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="titles")

    def request(self, user_id: str, session_id: str) -> Future[str | None]:
        """Write the chat's title in the background; the future gives what was stored."""
        return self._worker.submit(write_title, self.llm, self.store, user_id, session_id)

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)
