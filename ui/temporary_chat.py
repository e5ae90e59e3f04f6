"""The temporary chat: a chat kept in the server's memory for this browser session only.

It is opened from the sidebar (`?temporary=1` in the URL) and drawn here in place of a stored
chat. Its lease (memory/temporary.py) lives in st.session_state: when the user opens another
chat it is closed at once, and when the tab closes Streamlit drops the session and the lease
with it. Nothing of it is written to the database or to disk, so it is in no list, search,
export or admin view."""

from __future__ import annotations

from datetime import tzinfo

import streamlit as st

from accounts import Account
from llm import explain_model_error
from memory import DEFAULT_ABILITY, MAX_CONTENT_CHARS, InvalidContent, SessionNotFound
from memory.chain import AnswerCutOff, TurnCost
from memory.temporary import TemporaryChat, stream_temporary_reply
from ui.answering import (
    QUESTION_KEY,
    answering,
    show_markdown,
    stream_markdown,
    wait_for_stopped_answer,
)
from ui.quota import (
    QuestionRefused,
    admit,
    give_back,
    give_up,
    hand_to_answer,
    settle,
    show_refusal,
)
from ui.resources import temporary_chain, temporary_chats
from ui.text import plain

TEMPORARY_PARAM = "temporary"
LEASE_KEY = "temporary_chat"
ABILITY_KEY = "temporary_ability"
NOT_SAVED = (
    "**This chat is not saved.** It is not in your list or search, no administrator can "
    "read it, and it is gone when you close this tab, reload it or open another chat."
)


def in_temporary_chat() -> bool:
    return st.query_params.get(TEMPORARY_PARAM) == "1"


def start_temporary_chat() -> None:
    """Open a new, empty temporary chat (a button's callback)."""
    end_temporary_chat()
    st.query_params.from_dict({TEMPORARY_PARAM: "1"})


def end_temporary_chat() -> None:
    """Forget this browser session's temporary chat now, if it has one."""
    lease: TemporaryChat | None = st.session_state.pop(LEASE_KEY, None)
    if lease is not None:
        lease.close()
    if TEMPORARY_PARAM in st.query_params:
        del st.query_params[TEMPORARY_PARAM]


def _lease(account: Account) -> TemporaryChat:
    lease: TemporaryChat | None = st.session_state.get(LEASE_KEY)
    if lease is None or lease.closed or lease.user_id != account.id:
        lease = temporary_chats().open(account.id)
        st.session_state[LEASE_KEY] = lease
    return lease


def show_temporary_chat(account: Account, *, model_problem: str | None, zone: tzinfo) -> None:
    """The temporary chat's page: its notice, its messages, the chat box and the answer."""
    st.title("Temporary chat")
    st.info(NOT_SAVED, icon=":material/visibility_off:")
    ability = (
        st.text_input(
            "Assistant's specialty",
            value=st.session_state.get(ABILITY_KEY, DEFAULT_ABILITY),
            max_chars=100,
            help="The assistant answers as a specialist in this, e.g. Java, math, cooking.",
        ).strip()
        or DEFAULT_ABILITY
    )
    st.session_state[ABILITY_KEY] = ability
    lease = _lease(account)
    wait_for_stopped_answer()
    messages = lease.messages()
    for message in messages:
        with st.chat_message("user" if message.type == "human" else "assistant"):
            show_markdown(str(message.content))
            if message.additional_kwargs.get("interrupted"):
                st.caption("This answer was interrupted.")
    if messages and messages[-1].type == "human":
        st.info("This message has no answer yet: send it again to answer it.")
    if model_problem:
        st.error(model_problem)
    show_refusal()
    question = st.chat_input(
        f"Ask the {ability} assistant (not saved)",
        key=QUESTION_KEY,
        disabled=model_problem is not None,
    )
    if question is None or not question.strip():
        return
    if len(question) > MAX_CONTENT_CHARS:
        st.error(
            f"Your message is {len(question):,} characters long; the limit is "
            f"{MAX_CONTENT_CHARS:,}. It was not sent; here it is to shorten and send again:"
        )
        st.code(question, language=None)
        return
    # A temporary chat's answers cost what a stored chat's do: counted the same way.
    try:
        reservation = admit(account, question, ability=ability, zone=zone)
    except QuestionRefused as refusal:
        give_back(refusal.sentence, question)
    with st.chat_message("user"):
        show_markdown(question)
    failure = None
    cost = TurnCost()
    try:
        reply = stream_temporary_reply(
            temporary_chain(), temporary_chats(), lease, question, ability=ability, cost=cost
        )
    except (InvalidContent, SessionNotFound) as error:
        give_up(reservation)
        st.error(plain(str(error)))
        return
    with st.chat_message("assistant"), answering():
        stop = st.empty()
        stop.button("Stop", icon=":material/stop:", key="stop")  # any click stops this run
        hand_to_answer(reservation)
        try:
            stream_markdown(reply)
        except AnswerCutOff as error:
            failure = str(error)
        except Exception as error:  # the model's failure, explained; the question is kept
            failure = f"{explain_model_error(error).user_message} Send it again to retry."
        finally:
            try:
                reply.close()
            finally:
                # Before any Streamlit call, as on the chat page: a stopped run raises at its next.
                settle(reservation, cost, failed=failure is not None)
            stop.empty()
    if failure:
        st.error(failure)
    else:
        st.rerun()
