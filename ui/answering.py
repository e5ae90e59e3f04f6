"""The question typed in the chat box, and the answer this browser session is streaming (so
that the run after a Stop can wait for it).

Stop (or any click) starts the next run at once (Streamlit's fast reruns), while the stopped
run is still waiting for the model's next word; only when that word arrives does it find out it
was stopped and store the partial answer. A run that drew the chat before then would show the
question as unanswered, and nothing would redraw it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import streamlit as st

from ui.safe_markdown import safe_markdown

ANSWER_DONE_KEY = "answer_done"
# The chat box's key: its value can then be read in a run that fails before the chat page draws
# it (the database down at the sign-in check), to give the question back instead of losing it.
QUESTION_KEY = "question"
# Long enough for a stopped answer to hear the model's next word (a local model's come every
# few tens of milliseconds); short enough that a stuck provider does not freeze the page.
STOPPED_ANSWER_WAIT_SECONDS = 5.0
# A streaming answer is redrawn at most this often: each redraw parses the whole answer so far.
STREAM_REDRAW_SECONDS = 0.05


@contextmanager
def answering() -> Iterator[None]:
    """Mark this session's answer as in progress until the block ends, however it ends."""
    done = threading.Event()
    st.session_state[ANSWER_DONE_KEY] = done
    try:
        yield
    finally:
        done.set()


def wait_for_stopped_answer(seconds: float = STOPPED_ANSWER_WAIT_SECONDS) -> bool:
    """Wait until an answer a previous run of this session was streaming has been stored.
    False if it was still going after `seconds`."""
    done = st.session_state.get(ANSWER_DONE_KEY)
    return done is None or done.wait(seconds)


def unsent_question() -> str | None:
    """What the user just sent from the chat box, if this run has it (whichever page runs)."""
    question = st.session_state.get(QUESTION_KEY)
    return question if isinstance(question, str) and question.strip() else None


def show_markdown(text: str) -> None:
    """Draw stored or model-written `text` as markdown that fetches nothing and runs nothing."""
    st.markdown(safe_markdown(text))


def stream_markdown(chunks: Iterable[str], on_complete: Callable[[], None] | None = None) -> str:
    """Draw text as it arrives, through the same safe renderer as stored text (st.write_stream
    would draw the raw markdown, images included); return all of it. An empty chunk is the
    model saying the answer is complete (memory.chain.answer_text): it is drawn whole at once,
    then `on_complete` is called, while the answer is still being stored."""
    slot = st.empty()
    shown, drawn_at = "", 0.0
    try:
        for chunk in chunks:
            if not chunk:
                slot.markdown(safe_markdown(shown))
                if on_complete is not None:
                    on_complete()
                continue
            shown += chunk
            now = time.monotonic()
            if now - drawn_at >= STREAM_REDRAW_SECONDS:
                slot.markdown(safe_markdown(shown))
                drawn_at = now
    finally:
        # Also when the stream fails: the screen then shows all that arrived, which is what
        # was stored as the interrupted answer.
        slot.markdown(safe_markdown(shown))
    return shown
