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
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

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
    "You name chats. Reply with a title of at most 6 words for the chat, nothing else."
)
# Two worked examples: a small local model (SmolLM2-135M) answered the bare instruction with
# a sentence of 130 characters in most chats tried, and with these with a title in all five.
_EXAMPLES = (
    (
        "What is the capital of France?",
        "Paris is the capital of France.",
        "Capital of France",
    ),
    (
        "How can I fix a flat bicycle tyre?",
        "Remove the wheel, find the hole, patch it and pump the tyre.",
        "Fixing a flat bicycle tyre",
    ),
)
# A title waits for the model while an answer is streaming, and gives way to one that starts:
# a local server answers one request at a time, and the person waiting comes first.
MODEL_FREE_WAIT_SECONDS = 60.0
TITLE_ATTEMPTS = 3
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


def _exchange(question: str, answer: str) -> HumanMessage:
    return HumanMessage(
        f"Name this chat.\nUser: {question[:EXCHANGE_CHARS]}\nAssistant: {answer[:EXCHANGE_CHARS]}"
    )


def title_prompt(question: str, answer: str) -> list[Any]:
    """The messages of the title call: an instruction, two examples, then the first turn."""
    messages: list[Any] = [SystemMessage(TITLE_INSTRUCTION)]
    for example_question, example_answer, example_title in _EXAMPLES:
        messages += [_exchange(example_question, example_answer), AIMessage(example_title)]
    return [*messages, _exchange(question, answer)]


class ModelGate:
    """Counts the answers streaming in this process, so a title can wait for the model to be
    free and give way when an answer starts."""

    def __init__(self) -> None:
        self._answers = 0
        self._changed = threading.Condition()

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Mark an answer as streaming until the block ends."""
        with self._changed:
            self._answers += 1
        try:
            yield
        finally:
            with self._changed:
                self._answers -= 1
                self._changed.notify_all()

    def busy(self) -> bool:
        return self._answers > 0

    def wait_until_free(self, seconds: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._answers == 0, seconds)


def _ask_model(llm: Any, messages: list[Any], gate: ModelGate | None) -> str | None:
    """The model's reply, streamed so that it can be dropped the moment an answer starts
    (closing the stream closes the request); then asked again once the answer is done."""
    model = llm.bind(max_tokens=TITLE_MAX_TOKENS, temperature=0)
    if gate is None:
        return getattr(model.invoke(messages), "content", None)
    for _ in range(TITLE_ATTEMPTS):
        if not gate.wait_until_free(MODEL_FREE_WAIT_SECONDS):
            return None
        parts: list[str] = []
        stream = model.stream(messages)
        try:
            for chunk in stream:
                if gate.busy():
                    break
                parts.append(chunk.content if isinstance(chunk.content, str) else "")
            else:
                return "".join(parts)
        finally:
            stream.close()
    return None


def write_title(
    llm: Any, store: ChatStore, user_id: str, session_id: str, *, gate: ModelGate | None = None
) -> str | None:
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
        reply = _ask_model(llm, title_prompt(*exchange), gate)
    except StoreError:
        log.warning("no title written: the database failed", exc_info=True)
        return None
    except Exception:  # the model's failure of any kind: the first words stay
        log.warning("no title written: the model failed", exc_info=True)
        return None
    title = clean_title(reply)
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
    already been stored and drawn when a title is asked for. Answers streamed inside
    `gate.answering()` come first: a title waits for them and gives way to them."""

    def __init__(self, llm: Any, store: ChatStore) -> None:
        self.llm = llm
        self.store = store
        self.gate = ModelGate()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="titles")

    def request(self, user_id: str, session_id: str) -> Future[str | None]:
        """Write the chat's title in the background; the future gives what was stored."""
        return self._worker.submit(
            write_title, self.llm, self.store, user_id, session_id, gate=self.gate
        )

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)
