"""The session sidebar: new chat, search (each result with a snippet of its matching message),
the user's chats newest first with "Show more"."""

from __future__ import annotations

import streamlit as st

from accounts import Account
from memory import DEFAULT_ABILITY, ChatStore, InvalidContent, InvalidId
from memory.search import Snippet
from memory.store import new_session_id
from memory.validation import check_id
from ui.text import plain

PAGE_SIZE = 30


def drafts() -> dict[str, str]:
    """Chats opened with "New chat" but not yet stored (no message sent): id → ability."""
    return st.session_state.setdefault("drafts", {})


def open_session(session_id: str) -> None:
    st.query_params["session"] = session_id


def start_new_chat() -> None:
    session_id = new_session_id()
    drafts()[session_id] = DEFAULT_ABILITY
    open_session(session_id)


def current_session_id() -> str:
    """The chat named by `?session=` in the URL (so refresh and bookmarks return to it), or a
    new one. An id that is not one of this user's chats simply opens an empty chat of theirs:
    every read is keyed on (user, session), so nothing of another user can appear."""
    wanted = st.query_params.get("session")
    try:
        return check_id(wanted, "session")
    except InvalidId:
        start_new_chat()
        return st.query_params["session"]


def snippet_markdown(snippet: Snippet) -> str:
    """The snippet as markdown showing its text exactly, each match in bold: every part is
    escaped, so stored text can draw no link, image, emphasis or HTML of its own."""
    return "".join(
        f"**{plain(text)}**" if is_match else plain(text) for text, is_match in snippet.parts
    )


def _show_more() -> None:
    st.session_state["sidebar_limit"] = st.session_state.get("sidebar_limit", PAGE_SIZE) + PAGE_SIZE


def render_session_sidebar(store: ChatStore, account: Account, current_id: str | None) -> None:
    """Draw the chat list for `account` in the sidebar."""
    with st.sidebar:
        st.button("New chat", icon=":material/add:", on_click=start_new_chat, width="stretch")
        query = st.text_input(
            "Search chats", key="session_search", placeholder="Title or words in a message"
        )
        limit = st.session_state.get("sidebar_limit", PAGE_SIZE)
        if query.strip():
            try:
                sessions = store.search_sessions(account.id, query, limit=limit + 1)
            except InvalidContent as error:
                # A query the store refuses (too long) says why, in place of the results.
                st.caption(plain(f"Search not run: {error}."))
                sessions = []
            else:
                if not sessions:
                    st.caption("No chat matches.")
        else:
            sessions = store.list_sessions(account.id, limit=limit + 1)
            if not sessions:
                st.caption("No chats yet. Ask something to start one.")
        for summary in sessions[:limit]:
            st.button(
                plain(summary.title or "New chat"),
                key=f"open-{summary.session_id}",
                type="primary" if summary.session_id == current_id else "tertiary",
                on_click=open_session,
                args=(summary.session_id,),
                width="stretch",
            )
            if summary.snippet is not None:
                st.caption(snippet_markdown(summary.snippet))
        if len(sessions) > limit:
            st.button("Show more", on_click=_show_more, width="stretch")
