"""The model's title for a chat that just got its first answer: asked for in the background,
and the page redrawn once it is stored, so the header and the sidebar show it without a click."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager

import streamlit as st

from ui.resources import title_writer

PENDING_KEY = "titles_pending"
# How often the page looks whether the title is there, and for how long at most (a slow or
# stuck model leaves the first-words title, which is a fine title).
WATCH_SECONDS = 0.5
GIVE_UP_SECONDS = 30.0


def _pending() -> dict[str, tuple[Future, float]]:
    return st.session_state.setdefault(PENDING_KEY, {})


def ask_for_title(user_id: str, session_id: str) -> None:
    """Have the model title this chat from its first turn, unless titles are off."""
    writer = title_writer()
    if writer is not None:
        _pending()[session_id] = (writer.request(user_id, session_id), time.monotonic())


@contextmanager
def answer_streaming() -> Iterator[None]:
    """Around an answer's stream: a title being written gives way to it (see ModelGate)."""
    writer = title_writer()
    if writer is None:
        yield
        return
    with writer.gate.answering():
        yield


@st.fragment(run_every=WATCH_SECONDS)
def _watch(session_id: str) -> None:
    pending = _pending().get(session_id)
    if pending is None:
        return  # seen through already: the full run it started stops this timer
    future, asked_at = pending
    if future.done() or time.monotonic() - asked_at > GIVE_UP_SECONDS:
        _pending().pop(session_id, None)
        # One full run however it ended: it draws the title in the header and the sidebar,
        # and, this chat no longer pending, it stops this fragment's timer.
        st.rerun()


def watch_for_title(session_id: str) -> None:
    """While this chat's title is being written, look for it every WATCH_SECONDS."""
    if session_id in _pending():
        _watch(session_id)
