"""The session sidebar: new chat, search (each result with a snippet of its matching message),
the user's pinned chats, then the others newest first in date groups with "Show more", and the
archived chats in a view of their own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo

import streamlit as st

from accounts import Account
from database import utcnow
from memory import (
    DEFAULT_ABILITY,
    ChatStore,
    InvalidContent,
    InvalidId,
    SessionNotFound,
    SessionSummary,
    StoreUnavailable,
)
from memory.search import Snippet
from memory.store import ARCHIVED, PINNED, new_session_id
from memory.validation import check_id
from ui.chat_groups import group_by_day
from ui.temporary_chat import end_temporary_chat, start_temporary_chat
from ui.text import DATABASE_DOWN, plain
from ui.words import sentence

PAGE_SIZE = 30
# How many chats of each list this browser session shows; "Show more" adds a page.
LIMIT_KEY, PINNED_LIMIT_KEY, ARCHIVED_LIMIT_KEY = (
    "sidebar_limit",
    "sidebar_pinned_limit",
    "sidebar_archived_limit",
)
ARCHIVED_VIEW_KEY = "sidebar_archived"
# The chat header's Rename popover (its open state) and the reason a title was refused.
RENAME_POPOVER = "rename-popover"
RENAME_PROBLEM = "rename_problem"


def drafts() -> dict[str, str]:
    """Chats opened with "New chat" but not yet stored (no message sent): id → ability."""
    return st.session_state.setdefault("drafts", {})


def open_session(session_id: str) -> None:
    # Leaving a temporary chat forgets it: it was never saved.
    end_temporary_chat()
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


def _show_more(key: str) -> None:
    st.session_state[key] = st.session_state.get(key, PAGE_SIZE) + PAGE_SIZE


def move_chat(
    move: Callable[[str, str, bool], None], user_id: str, session_id: str, onto: bool
) -> None:
    """Pin/unpin or archive/restore (a button's callback): a chat deleted in another tab or a
    database outage is a notice, not a traceback."""
    try:
        move(user_id, session_id, onto)
    except SessionNotFound:
        st.toast("This chat no longer exists: it was deleted.")
    except StoreUnavailable:
        st.toast(DATABASE_DOWN)


def rename_box_key(session_id: str) -> str:
    """The Rename popover's title box for this chat: the page draws it, rename_chat reads it."""
    return f"{RENAME_POPOVER}-{session_id}"


def rename_chat(store: ChatStore, user_id: str, session_id: str) -> None:
    """Save the Rename box's title (the form's callback) and close its popover; a refused
    title stays in the box with the reason under it."""
    state = st.session_state
    try:
        store.rename_session(user_id, session_id, state.get(rename_box_key(session_id), ""))
    except (InvalidContent, SessionNotFound) as error:
        state[RENAME_PROBLEM] = sentence(str(error))
        return
    except StoreUnavailable:
        state[RENAME_PROBLEM] = DATABASE_DOWN
        return
    state[RENAME_POPOVER] = False


def _show_archived(shown: bool) -> None:
    st.session_state[ARCHIVED_VIEW_KEY] = shown


# Titles left-aligned and cut to one line (a button centres and wraps its label), headings of
# the date groups small: an inline style, which the page's policy allows and which loads nothing.
_LIST_STYLE = """<style>
.st-key-chat-list { gap: 0.15rem; }
.st-key-chat-list button, .st-key-chat-list button div, .st-key-chat-list button span {
  justify-content: flex-start; text-align: left; min-width: 0; max-width: 100%;
}
.st-key-chat-list button [data-testid="stMarkdownContainer"] { width: 100%; }
.st-key-chat-list button p {
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; text-align: left;
}
</style>"""


def _chat_button(summary: SessionSummary, current_id: str | None) -> None:
    st.button(
        plain(summary.title or "New chat"),
        key=f"open-{summary.session_id}",
        type="primary" if summary.session_id == current_id else "tertiary",
        on_click=open_session,
        args=(summary.session_id,),
        width="stretch",
    )


def render_session_sidebar(
    store: ChatStore, account: Account, current_id: str | None, *, zone: tzinfo
) -> None:
    """Draw the chat list for `account` in the sidebar: pinned chats, then the others by date
    in the user's time zone `zone`; or the search results; or the archived chats."""
    with st.sidebar:
        st.html(_LIST_STYLE)
        st.button(
            "New chat",
            icon=":material/add:",
            key="new-chat",
            on_click=start_new_chat,
            width="stretch",
        )
        st.button(
            "Temporary chat",
            icon=":material/visibility_off:",
            key="temporary-chat",
            type="tertiary",
            on_click=start_temporary_chat,
            width="stretch",
        )
        query = st.text_input(
            "Search chats", key="session_search", placeholder="Title or words in a message"
        )
        searching = bool(query.strip())
        archived_view = not searching and st.session_state.get(ARCHIVED_VIEW_KEY, False)
        if archived_view:
            st.button(
                "Back to chats",
                icon=":material/arrow_back:",
                key="hide-archived",
                type="secondary",
                on_click=_show_archived,
                args=(False,),
                width="stretch",
            )
        # The list alone in its container: its buttons are the chats, styled as one list.
        with st.container(key="chat-list"):
            if searching:
                _search_results(store, account, current_id, query)
            elif archived_view:
                _archived_chats(store, account, current_id)
            else:
                _listed_chats(store, account, current_id, zone)
        if not searching and not archived_view:
            st.button(
                "Archived chats",
                icon=":material/inventory_2:",
                key="show-archived",
                type="secondary",
                on_click=_show_archived,
                args=(True,),
                width="stretch",
            )


def _search_results(store: ChatStore, account: Account, current_id: str | None, query: str) -> None:
    limit = st.session_state.get(LIMIT_KEY, PAGE_SIZE)
    try:
        sessions = store.search_sessions(account.id, query, limit=limit + 1)
    except InvalidContent as error:
        # A query the store refuses (too long) says why, in place of the results.
        st.caption(plain(f"Search not run: {error}."))
        return
    if not sessions:
        st.caption("No chat matches.")
    for summary in sessions[:limit]:
        _chat_button(summary, current_id)
        notes = []
        if summary.archived:
            notes.append("*Archived*")
        if summary.snippet is not None:
            notes.append(snippet_markdown(summary.snippet))
        if notes:
            st.caption(" · ".join(notes))
    if len(sessions) > limit:
        st.button("Show more", on_click=_show_more, args=(LIMIT_KEY,), width="stretch")


def _listed_chats(store: ChatStore, account: Account, current_id: str | None, zone: tzinfo) -> None:
    pinned_limit = st.session_state.get(PINNED_LIMIT_KEY, PAGE_SIZE)
    pinned = store.list_sessions(account.id, limit=pinned_limit + 1, shelf=PINNED)
    if pinned:
        st.caption("**Pinned**")
        for summary in pinned[:pinned_limit]:
            _chat_button(summary, current_id)
        if len(pinned) > pinned_limit:
            st.button(
                "More pinned chats", on_click=_show_more, args=(PINNED_LIMIT_KEY,), width="stretch"
            )
    limit = st.session_state.get(LIMIT_KEY, PAGE_SIZE)
    sessions = store.list_sessions(account.id, limit=limit + 1)
    if not sessions and not pinned:
        st.caption(
            "No chats in the list: archived ones are under Archived chats."
            if store.list_sessions(account.id, limit=1, shelf=ARCHIVED)
            else "No chats yet. Ask something to start one."
        )
    groups = group_by_day(sessions[:limit], lambda summary: summary.updated_at, utcnow(), zone)
    for label, members in groups:
        st.caption(f"**{label}**")
        for summary in members:
            _chat_button(summary, current_id)
    if len(sessions) > limit:
        st.button("Show more", on_click=_show_more, args=(LIMIT_KEY,), width="stretch")


def _archived_chats(store: ChatStore, account: Account, current_id: str | None) -> None:
    st.caption("**Archived**")
    limit = st.session_state.get(ARCHIVED_LIMIT_KEY, PAGE_SIZE)
    sessions = store.list_sessions(account.id, limit=limit + 1, shelf=ARCHIVED)
    if not sessions:
        st.caption("No archived chats. Archive a chat to take it out of the list.")
    for summary in sessions[:limit]:
        _chat_button(summary, current_id)
    if len(sessions) > limit:
        st.button("Show more", on_click=_show_more, args=(ARCHIVED_LIMIT_KEY,), width="stretch")
