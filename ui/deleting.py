"""Deleting a chat from its header, and the notice that offers Undo for UNDO_SECONDS after.

The deleted rows are kept in this browser session's state only (memory/deleted.py); the notice
counts down in a fragment that redraws itself each second, and is gone once the time is up."""

from __future__ import annotations

import streamlit as st

from memory import ChatStore, StoreUnavailable
from memory.deleted import CannotRestore, DeletedChat, delete_chat, restore_chat
from ui.sidebar import open_session, start_new_chat
from ui.text import DATABASE_DOWN, plain

DELETED_KEY = "deleted_chat"
UNDO_PROBLEM_KEY = "undo_problem"
UNDO_BUTTON_KEY = "undo-delete-button"
# The destructive button in red, with the app's own focus ring kept (an inline style, which
# the page's policy allows and which loads nothing).
_DESTRUCTIVE_STYLE = """<style>
.st-key-delete-chat button { background-color: rgb(180, 35, 24); border-color: rgb(180, 35, 24);
  color: #fff; }
.st-key-delete-chat button:hover { background-color: rgb(145, 24, 16); color: #fff; }
</style>"""


def delete_and_offer_undo(store: ChatStore, user_id: str, session_id: str) -> None:
    """Delete the chat (a button's callback), open a new one, and keep the copy for Undo."""
    try:
        deleted = delete_chat(store, user_id, session_id)
    except StoreUnavailable:
        st.session_state[UNDO_PROBLEM_KEY] = DATABASE_DOWN
        return
    start_new_chat()
    if deleted is not None:
        st.session_state[DELETED_KEY] = deleted


def show_delete_button(store: ChatStore, user_id: str, session_id: str) -> None:
    """Inside the Delete popover: what it does, and the red button that does it."""
    st.html(_DESTRUCTIVE_STYLE)
    st.write("Delete this chat and all its messages? You can undo it for a few seconds.")
    st.button(
        "Delete chat",
        icon=":material/delete:",
        key="delete-chat",
        on_click=delete_and_offer_undo,
        args=(store, user_id, session_id),
    )


def _undo(store: ChatStore, deleted: DeletedChat) -> None:
    st.session_state.pop(DELETED_KEY, None)
    try:
        restore_chat(store, deleted)
    except CannotRestore as refusal:
        st.session_state[UNDO_PROBLEM_KEY] = str(refusal)
    except StoreUnavailable:
        st.session_state[UNDO_PROBLEM_KEY] = DATABASE_DOWN
    else:
        open_session(deleted.session_id)
    # From the fragment, the whole page: the restored chat, or why it was not.
    st.rerun()


@st.fragment(run_every=1.0)
def _undo_notice(store: ChatStore) -> None:
    deleted: DeletedChat | None = st.session_state.get(DELETED_KEY)
    if deleted is None:
        return
    if st.session_state.get(UNDO_BUTTON_KEY):
        # Clicked: restore_chat itself says if the time ran out on the way to the server.
        _undo(store, deleted)
    left = deleted.undo_seconds_left()
    if left <= 0:
        st.session_state.pop(DELETED_KEY, None)
        return
    row = st.container(horizontal=True, vertical_alignment="center", key="undo-delete")
    title = f"“{plain(deleted.title)}”" if deleted.title else "The chat"
    row.info(f"{title} was deleted.", icon=":material/delete:", width="stretch")
    row.button(f"Undo ({left:.0f} s)", icon=":material/undo:", key=UNDO_BUTTON_KEY)


def show_undo_notice(store: ChatStore, user_id: str) -> None:
    """At the top of the chat page: Undo for a chat `user_id` just deleted, or why Undo
    failed."""
    if problem := st.session_state.pop(UNDO_PROBLEM_KEY, None):
        st.error(problem)
    deleted: DeletedChat | None = st.session_state.get(DELETED_KEY)
    if deleted is not None and deleted.user_id != user_id:
        # Sign-out drops the copy; should another account ever meet one in this browser
        # session, it is neither shown nor restorable by it.
        st.session_state.pop(DELETED_KEY, None)
        return
    if deleted is not None:
        _undo_notice(store)
