"""Today's quota on the chat pages: a question is counted before the model is called, or
refused with a sentence that says when the quota resets and put back in the chat box; what is
left shows in the sidebar.

The chat box has already been drawn when its question arrives, and a drawn widget's value can
no longer be set in that run. So a refused question is kept in st.session_state and the page
reruns: the next run shows the sentence and sets the box's value (st.chat_input takes a value
from Session State) before drawing it.

A question counted but not yet handed to its answer is kept in st.session_state too, as
pending: a run stopped in between (a click starts the next run at once and stops this one at
its next Streamlit call) never called the model, so the next run gives that question back."""

from __future__ import annotations

import logging
from datetime import datetime, tzinfo

import streamlit as st

from accounts import Account
from database import utcnow
from memory.chain import TurnCost, question_tokens
from quotas import (
    QuotaExceeded,
    QuotasUnavailable,
    Reservation,
    admit_question,
    release_question,
    settle_tokens,
    todays_use,
)
from ui.answering import QUESTION_KEY
from ui.resources import chat_store
from ui.text import DATABASE_DOWN

REFUSED_KEY = "quota_refused"
PENDING_KEY = "quota_pending"

log = logging.getLogger("app")


class QuestionRefused(Exception):
    """The question was not sent: `sentence` says why, for the user."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


def _reset_time(moment: datetime, zone: tzinfo) -> str:
    local = moment.astimezone(zone)
    name = getattr(zone, "key", None) or local.tzname() or "UTC"
    days = (local.date() - utcnow().astimezone(zone).date()).days
    day = "today" if days == 0 else "tomorrow" if days == 1 else f"on {local:%Y-%m-%d}"
    return f"{local:%H:%M} {day} ({name})"


def admit(account: Account, question: str, *, ability: str, zone: tzinfo) -> Reservation:
    """Count `question` on the user's quota for today, or raise QuestionRefused: then nothing
    was counted and the model must not be called. The question is pending until
    `hand_to_answer`; `give_up` or `give_back_unsent` end it otherwise."""
    try:
        reservation = admit_question(
            chat_store().engine, account.id, tokens=question_tokens(question, ability=ability)
        )
    except QuotaExceeded as error:
        raise QuestionRefused(error.sentence(_reset_time(error.resets_at, zone))) from None
    except QuotasUnavailable:
        raise QuestionRefused(DATABASE_DOWN) from None
    st.session_state[PENDING_KEY] = reservation
    return reservation


def hand_to_answer(reservation: Reservation | None) -> None:
    """The model is about to be called for this question: from here `settle` counts it."""
    if reservation is not None and st.session_state.get(PENDING_KEY) == reservation:
        del st.session_state[PENDING_KEY]


def give_back_unsent() -> None:
    """At the start of a run: give back a question the run before counted, then stopped
    before its model was called."""
    reservation: Reservation | None = st.session_state.pop(PENDING_KEY, None)
    if reservation is not None:
        settle(reservation, TurnCost(), failed=True)


def give_back(sentence: str, question: str | None) -> None:
    """Show `sentence` on the next run, with `question` back in the chat box; rerun now."""
    st.session_state[REFUSED_KEY] = (sentence, question)
    st.rerun()


def show_refusal() -> None:
    """Before the chat box is drawn: why the last question was not sent, and the question
    back in the box to send later."""
    refused: tuple[str, str | None] | None = st.session_state.pop(REFUSED_KEY, None)
    if refused is None:
        return
    sentence, question = refused
    if question:
        st.session_state[QUESTION_KEY] = question
        sentence += " Your message is back in the box below, to send then."
    st.error(sentence, icon=":material/hourglass_top:")


def give_up(reservation: Reservation | None) -> None:
    """In a run that goes on: the counted question will not reach the model (it could not be
    stored); give it back now."""
    hand_to_answer(reservation)
    settle(reservation, TurnCost(), failed=True)


def settle(reservation: Reservation | None, cost: TurnCost, *, failed: bool) -> None:
    """After a turn: count what it really cost, or give its question back if the model never
    answered a word of it (it was never called, or it `failed` before its first word); a
    stopped answer counts what it used. No Streamlit call here: it runs in the `finally` of a
    stopped run too (Session State included: a stopped run raises at its next touch of it).
    A failure here never hides the answer."""
    if reservation is None:
        return
    # The prompt is costed when the chain hands it to the model: none, no model call.
    called = cost.prompt_tokens > 0
    answered = called and (not failed or cost.answer_tokens > 0)
    engine = chat_store().engine
    try:
        if answered:
            settle_tokens(engine, reservation, tokens=cost.tokens)
        else:
            release_question(engine, reservation)
    except QuotasUnavailable:
        log.warning("quota of user %s not settled: database unreachable", reservation.user_id)


def show_quota_left(account: Account, *, zone: tzinfo) -> None:
    """In the sidebar: what is left of today's quota, when the user has one."""
    try:
        status = todays_use(chat_store().engine, [account.id])[account.id]
    except QuotasUnavailable:
        return
    parts = []
    if status.messages_left is not None:
        parts.append(f"{status.messages_left:,} of {status.limits.messages_per_day:,} messages")
    if status.tokens_left is not None:
        parts.append(f"about {status.tokens_left:,} of {status.limits.tokens_per_day:,} tokens")
    if parts:
        st.caption(
            f"Left today: {' and '.join(parts)}. Resets at {_reset_time(status.resets_at, zone)}."
        )
