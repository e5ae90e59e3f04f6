"""The open chat's messages: the newest page, and older pages loaded on demand.

Where the view starts is kept per chat in the browser session: None shows the newest page only;
"Earlier messages" moves the start one page back. Every read is a keyset read by (turn, id), so
drawing a chat costs what the shown messages cost, whatever its length."""

from __future__ import annotations

import streamlit as st

from memory import ChatStore
from memory.chain import session_window
from memory.store import INTERRUPTED, MessageCursor, MessagePage, StoredMessage, position_of
from ui.answering import show_markdown

VIEW_START_KEY = "conversation_start"
OMITTED_KEY = "omitted_from_prompt"


def _starts() -> dict[str, MessageCursor]:
    return st.session_state.setdefault(VIEW_START_KEY, {})


def load_view(store: ChatStore, user_id: str, session_id: str) -> MessagePage:
    """The messages this browser session shows of the chat: its newest page, or from where
    "Earlier messages" has taken it."""
    start = _starts().get(session_id)
    if start is None:
        return store.load_page(user_id, session_id)
    return store.load_from(user_id, session_id, start)


def _show_earlier(store: ChatStore, user_id: str, session_id: str, oldest: StoredMessage) -> None:
    page = store.load_page(user_id, session_id, before=position_of(oldest))
    if page.messages:
        _starts()[session_id] = position_of(page.messages[0])


def show_message(message: StoredMessage) -> None:
    with st.chat_message("user" if message.role == "human" else "assistant"):
        show_markdown(message.content)
        if message.status == INTERRUPTED:
            st.caption("This answer was interrupted.")


@st.fragment
def show_conversation(store: ChatStore, user_id: str, session_id: str) -> None:
    """Draw the shown messages, with the control that loads the page before them. A fragment:
    loading an earlier page redraws the conversation alone, not the sidebar and the page."""
    view = load_view(store, user_id, session_id)
    if view.has_earlier and view.messages:
        st.button(
            "Earlier messages",
            icon=":material/expand_less:",
            key=f"earlier-{session_id}",
            on_click=_show_earlier,
            args=(store, user_id, session_id, view.messages[0]),
            help="Show the messages before these",
        )
    for message in view.messages:
        show_message(message)


def omitted_from_prompt(
    store: ChatStore,
    user_id: str,
    session_id: str,
    *,
    ability: str,
    message_count: int,
    newest_id: int,
    context_tokens: int,
) -> int:
    """How many stored messages the next turn would not send the model. Kept per browser
    session for the chat as it stands: a turn's answering run works it out, and the run that
    draws the next question finds it already known."""
    key = (session_id, message_count, newest_id, ability, context_tokens)
    known = st.session_state.get(OMITTED_KEY)
    if known is None or known[0] != key:
        window = session_window(
            store,
            user_id,
            session_id,
            ability=ability,
            message_count=message_count,
            context_tokens=context_tokens,
        )
        known = (key, window.omitted)
        st.session_state[OMITTED_KEY] = known
    return known[1]
