"""What a run of the chat page was asked to answer (a question from the chat box, Retry, an
edited question, a starter prompt), stored before the page is drawn; then its answer, streamed
at the end of the page.

Storing first is what keeps the page still: the header already shows the chat's title, the
question is already the conversation's last message, and the run after the answer draws the
same elements in the same places, with the answer now among the stored messages. A failure
after the question is stored is carried to that next run (`take_failure`), which then shows
the right notice under the real title, with Retry: nothing needs a reload."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from accounts import Account
from llm import explain_model_error
from memory import (
    MAX_CONTENT_CHARS,
    ChatStore,
    InvalidContent,
    InvalidId,
    SessionNotFound,
    StoreUnavailable,
    stream_reply,
)
from memory.chain import AnswerCutOff, TurnCost
from memory.errors import MessageNotFound
from memory.store import Turn
from quotas import Reservation
from ui.answering import QUESTION_KEY, answering, stream_markdown
from ui.conversation import reset_view, take_edit_request
from ui.quota import QuestionRefused, admit, give_back, give_up, hand_to_answer, settle
from ui.resources import chat_chain
from ui.text import DATABASE_DOWN
from ui.titles import answer_streaming

RETRY_KEY = "retry"
STOP_KEY = "stop"
# A question to send in this run: a starter prompt clicked on a new chat's welcome screen, or
# one that reached the run before only when its widget was drawn (see `send_on_next_run`).
QUEUED_KEY = "queued_question"
QUEUED_RETRY_KEY = "queued_retry"
# The failure of the answer a run just streamed, for the run after it: (session_id, sentence).
FAILURE_KEY = "turn_failure"
ANSWER_NOT_SAVED = (
    "The database could not be reached while the answer was being saved. Your message is "
    "saved: Retry once the database is back."
)


@dataclass
class Sending:
    """This run's turn, once its question is stored; or why nothing was sent, with the text
    to send again when it could not be stored."""

    asked: bool = False  # this run was asked something, sent or not
    turn: Turn | None = None
    reservation: Reservation | None = None
    failure: str | None = None
    text_back: str | None = None
    lead: str | None = None  # said before the text given back, when the failure does not

    @property
    def answering(self) -> bool:
        return self.turn is not None


def _typed_question() -> str | None:
    """The chat box's question (or a starter prompt) of this run, read before the box is drawn:
    the box is drawn disabled while its answer streams, and then returns nothing itself."""
    queued = st.session_state.pop(QUEUED_KEY, None)
    question = queued if queued is not None else st.session_state.get(QUESTION_KEY)
    if not isinstance(question, str) or not question.strip():
        return None  # an empty message is ignored
    return question


def retry_asked() -> bool:
    """Retry was clicked for this run (its button is not drawn while its answer streams)."""
    return st.session_state.pop(QUEUED_RETRY_KEY, False) or st.session_state.get(RETRY_KEY) is True


def send_on_next_run(question: str | None, *, retry: bool) -> None:
    """A question or a Retry click this run's widgets returned although the start of the run
    did not see it (the first run of a new server process for a tab left open: a widget's
    value is known by its key only once the widget is drawn): send it from the top."""
    if question is not None and question.strip():
        st.session_state[QUEUED_KEY] = question
    elif retry:
        st.session_state[QUEUED_RETRY_KEY] = True
    else:
        return
    st.rerun()


def send_what_was_asked(
    store: ChatStore,
    account: Account,
    session_id: str,
    *,
    ability: str,
    zone: tzinfo,
    model_problem: str | None,
) -> Sending:
    """Store what this run was asked to answer, counted on today's quota first. A refused
    question goes back in the chat box (the page reruns)."""
    # Read (and so taken) whatever the run was asked, before any branch: a queued question or
    # Retry left for a later run would be sent unasked.
    question = _typed_question()
    retry = retry_asked() and question is None
    edit = take_edit_request(session_id)
    if edit is not None:
        if question is not None:
            # Typed while the edit was saved: it waits for the edit's answer, then is sent.
            st.session_state[QUEUED_KEY] = question
        return _send_edit(
            store,
            account,
            session_id,
            edit,
            ability=ability,
            zone=zone,
            model_problem=model_problem,
        )
    if question is None and not retry:
        return Sending()
    if question is not None and len(question) > MAX_CONTENT_CHARS:
        return Sending(
            asked=True,
            failure=(
                f"Your message is {len(question):,} characters long; the limit is "
                f"{MAX_CONTENT_CHARS:,}. It was not sent; here it is to shorten and send again:"
            ),
            text_back=question,
        )
    if model_problem:
        # The page says why the model cannot answer, and the box is disabled; a question typed
        # before that was known goes back in it.
        if question is not None:
            give_back("The model cannot answer now, so your message was not sent.", question)
        return Sending(asked=True)
    try:
        # Retry's own question is counted when its turn is settled: here the system line.
        reservation = admit(account, question or "", ability=ability, zone=zone)
    except QuestionRefused as refusal:
        give_back(refusal.sentence, question)  # reruns: nothing below runs
        return Sending(asked=True)
    turn, failure = None, None
    try:
        # Stored before anything else can happen: a rerun, a closed tab or a failing model
        # from here on cannot lose it. This Turn is what the answer is stored under.
        if question is not None:
            turn = store.begin_turn(account.id, session_id, question, ability=ability)
        else:
            turn = store.reopen_last_turn(account.id, session_id)
    except (InvalidContent, InvalidId, SessionNotFound) as error:
        failure = str(error)
    except StoreUnavailable:
        failure = DATABASE_DOWN
    if turn is None:
        give_up(reservation)  # it never reached the model
        if question is None:
            return Sending(asked=True, failure=failure)
        return Sending(
            asked=True,
            failure=failure or "Your message could not be saved.",
            text_back=question,
            lead="Your message could not be saved. Here it is to send again:",
        )
    return Sending(asked=True, turn=turn, reservation=reservation)


def _send_edit(
    store: ChatStore,
    account: Account,
    session_id: str,
    edit: tuple[int, str],
    *,
    ability: str,
    zone: tzinfo,
    model_problem: str | None,
) -> Sending:
    """An edited question, stored first as a new branch: the chat is then drawn along it and
    ends with the new question, whose answer streams under it."""
    message_id, text = edit
    failure, reservation = model_problem, None
    if failure is None:
        try:
            reservation = admit(account, text, ability=ability, zone=zone)
            turn = store.edit_question(account.id, session_id, message_id, text)
            reset_view(session_id)
            return Sending(asked=True, turn=turn, reservation=reservation)
        except QuestionRefused as refusal:
            failure = refusal.sentence
        except (InvalidContent, MessageNotFound, SessionNotFound) as error:
            failure = str(error)
        except StoreUnavailable:
            failure = DATABASE_DOWN
        give_up(reservation)  # it never reached the model
    return Sending(
        asked=True,
        failure=f"The edited message was not sent: {failure.rstrip('.')}. "
        "Here it is to send again:",
        text_back=text,
    )


def show_not_sent(sending: Sending) -> None:
    """Why this run's message was not sent, and its text to send again."""
    if sending.failure is None:
        return
    st.error(sending.failure)
    if sending.lead is not None:
        st.caption(sending.lead)
    if sending.text_back is not None:
        st.code(sending.text_back, language=None)


def stream_answer(
    store: ChatStore, sending: Sending, *, ability: str, stop_slot: DeltaGenerator
) -> str | None:
    """Stream the answer to `sending.turn` under the conversation, with Stop in `stop_slot` (by
    the chat box) until the answer has ended; store it, however it ends. Returns why it
    failed, for the user, or None."""
    assert sending.turn is not None
    failure = None
    cost = TurnCost()
    with st.chat_message("assistant"), answering(), answer_streaming():
        stop_slot.button("Stop", icon=":material/stop:", key=STOP_KEY)  # any click stops this run
        reply = stream_reply(chat_chain(), store, sending.turn, ability=ability, cost=cost)
        hand_to_answer(sending.reservation)
        try:
            # The answer is all there: Stop goes with its last word, before it is stored.
            stream_markdown(reply, on_complete=stop_slot.empty)
        except InvalidContent as error:
            failure = str(error)
        except SessionNotFound:
            failure = "This chat was deleted while the answer was being written."
        except StoreUnavailable:
            failure = ANSWER_NOT_SAVED
        except AnswerCutOff as error:
            failure = str(error)
        except Exception as error:  # the model's failure, explained; the question is stored
            failure = f"{explain_model_error(error).user_message} Your message is saved: Retry."
        finally:
            try:
                reply.close()  # on stop or rerun: stores what arrived as interrupted
            finally:
                # Before any Streamlit call: a stopped run raises again at its next one.
                settle(sending.reservation, cost, failed=failure is not None)
            stop_slot.empty()  # the answer has ended, however it ended
    return failure


def carry_failure(session_id: str, failure: str) -> None:
    """For the next run, which draws the chat as stored: the notice of this answer's failure."""
    st.session_state[FAILURE_KEY] = (session_id, failure)


def take_failure(session_id: str) -> str | None:
    """The failure of the answer the run before streamed in this chat, once."""
    carried = st.session_state.pop(FAILURE_KEY, None)
    if carried is None or carried[0] != session_id:
        return None
    return carried[1]
