"""The open chat's messages: the newest page, and older pages loaded on demand.

Where the view starts is kept per chat in the browser session: None shows the newest page only;
"Earlier messages" moves the start one page back. Every read is a keyset read by (turn, id), so
drawing a chat costs what the shown messages cost, whatever its length.

Each question can be edited (a new branch, answered by the chat page) and each message with
other versions shows "< 2 / 3 >" to go through them; the chat draws its active path."""

from __future__ import annotations

from datetime import UTC, tzinfo

import streamlit as st

from database import utcnow
from memory import ChatStore, SessionNotFound, StoreUnavailable
from memory.branches import Versions
from memory.chain import session_window
from memory.errors import MessageNotFound
from memory.store import INTERRUPTED, MessageCursor, MessagePage, StoredMessage, position_of
from memory.validation import MAX_CONTENT_CHARS
from ui.answering import show_markdown
from ui.text import DATABASE_DOWN
from ui.words import message_time

VIEW_START_KEY = "conversation_start"
OMITTED_KEY = "omitted_from_prompt"
# The question being edited in this browser session (its message id), and an edit sent and
# waiting for the chat page to store and answer it: (session_id, message_id, new question).
EDITING_KEY = "editing_question"
EDIT_REQUEST_KEY = "edit_request"
# The arrows of "< 2 / 3 >": single angle quotation marks, lighter than < and >.
OLDER, NEWER = "\u2039", "\u203a"
# A message's controls sit under its text, small and grey, in line with it (past the avatar);
# an inline style, which the page's policy allows and which loads nothing.
_ACTIONS_STYLE = """<style>
[class*="st-key-message-actions-"] { padding-left: 3.25rem; margin-top: -0.9rem; }
[class*="st-key-message-actions-"] button { min-height: 1.75rem; padding: 0 0.25rem; }
[class*="st-key-message-actions-"] p { font-size: 0.85rem; color: rgba(49, 51, 63, 0.7); }
[class*="st-key-older-"] button p, [class*="st-key-newer-"] button p { font-size: 1.3rem; }
[class*="st-key-versions-"] p { margin: 0; line-height: 1.75rem; }
[class*="st-key-versions-"] [data-testid="stMarkdownContainer"] { margin-bottom: 0; }
[class*="st-key-message-actions-"] [data-testid="stCaptionContainer"] p { font-size: 0.8rem; }
</style>"""


def take_edit_request(session_id: str) -> tuple[int, str] | None:
    """The edited question sent for this chat, if any: (message id, new text), once."""
    request = st.session_state.pop(EDIT_REQUEST_KEY, None)
    if request is None or request[0] != session_id:
        return None
    return request[1], request[2]


def _starts() -> dict[str, MessageCursor]:
    return st.session_state.setdefault(VIEW_START_KEY, {})


def load_view(store: ChatStore, user_id: str, session_id: str) -> MessagePage:
    """The messages this browser session shows of the chat: its newest page, or from where
    "Earlier messages" has taken it."""
    start = _starts().get(session_id)
    if start is not None:
        view = store.load_from(user_id, session_id, start)
        if view.messages:
            return view
        # Another version is shown now (here or in another tab), whose path ends before
        # where this view started: start again from its newest page.
        reset_view(session_id)
    return store.load_page(user_id, session_id)


def reset_view(session_id: str) -> None:
    """Show the chat from its newest page again (after the path it shows has changed)."""
    _starts().pop(session_id, None)


def _show_earlier(store: ChatStore, user_id: str, session_id: str, oldest: StoredMessage) -> None:
    page = store.load_page(user_id, session_id, before=position_of(oldest))
    if page.messages:
        _starts()[session_id] = position_of(page.messages[0])


def show_message(
    message: StoredMessage,
    versions: Versions | None = None,
    *,
    store: ChatStore | None = None,
    user_id: str = "",
    session_id: str = "",
    editable: bool = True,
    actions: bool = True,
    zone: tzinfo = UTC,
) -> None:
    """One message; under it, in one row, when it was written (small print, in the reader's
    `zone`) and, given the store, its controls: Edit for a question, "< 2 / 3 >" for a message
    with other versions. Without `actions` (while an answer streams) the row holds the time
    alone, in the same place: Streamlit replaces each element in place, and leaves none of the
    old controls on screen while the answer streams."""
    editing = store is not None and st.session_state.get(EDITING_KEY) == message.id
    with st.chat_message("user" if message.role == "human" else "assistant"):
        if editing:
            _edit_form(message, session_id)
            return
        show_markdown(message.content)
        if message.status == INTERRUPTED:
            st.caption("This answer was interrupted.")
    # Under the message, not in it: its text stays the message's own.
    row = st.container(
        horizontal=True,
        gap="small",
        vertical_alignment="center",
        key=f"message-actions-{message.id}",
    )
    row.caption(message_time(message.created_at, zone, utcnow()), width="content")
    if store is None:
        return
    if not actions:
        # One empty element in place of each control: Streamlit keeps a container's children
        # it is not sent again until the run ends, so an old Edit would stay on screen.
        controls = (3 if versions is not None else 0) + (message.role == "human" and editable)
        for _ in range(controls):
            row.empty()
        return
    if versions is not None:
        _version_switch(row, store, user_id, session_id, message, versions)
    if message.role == "human" and editable:
        row.button(
            "Edit",
            icon=":material/edit:",
            key=f"edit-{message.id}",
            type="tertiary",
            on_click=_start_editing,
            args=(message.id,),
        )


def _start_editing(message_id: int) -> None:
    st.session_state[EDITING_KEY] = message_id


def _version_switch(
    row,
    store: ChatStore,
    user_id: str,
    session_id: str,
    message: StoredMessage,
    versions: Versions,
) -> None:
    for label, target, key in (
        (OLDER, versions.previous_id, f"older-{message.id}"),
        (f"{versions.number} / {versions.count}", None, f"versions-{message.id}"),
        (NEWER, versions.next_id, f"newer-{message.id}"),
    ):
        if key.startswith("versions-"):
            row.container(key=key, width="content").markdown(label)
            continue
        if row.button(label, key=key, type="tertiary", disabled=target is None):
            try:
                store.show_version(user_id, session_id, target)
                reset_view(session_id)
            except (MessageNotFound, SessionNotFound):
                st.toast("That version is no longer in this chat.")
            except StoreUnavailable:
                st.toast(DATABASE_DOWN)
            st.rerun()


def _edit_form(message: StoredMessage, session_id: str) -> None:
    with st.form(f"edit-form-{message.id}", border=False):
        text = st.text_area(
            "Edit your message",
            value=message.content,
            max_chars=MAX_CONTENT_CHARS,
            label_visibility="collapsed",
            key=f"edit-text-{message.id}",
        )
        buttons = st.container(horizontal=True, gap="small")
        with buttons:
            send = st.form_submit_button("Send", type="primary", key=f"edit-send-{message.id}")
            cancel = st.form_submit_button("Cancel")
    if cancel:
        st.session_state.pop(EDITING_KEY, None)
        st.rerun()
    if send:
        if not text.strip():
            st.error("An empty message cannot be sent. Cancel keeps the question as it was.")
            return
        _send_edit(session_id, message.id, text)


def _send_edit(session_id: str, message_id: int, text: str) -> None:
    st.session_state.pop(EDITING_KEY, None)
    # The chat page stores it as a new version and answers it, on a full run.
    st.session_state[EDIT_REQUEST_KEY] = (session_id, message_id, text)
    st.rerun()


def _edit_of_a_message_not_shown(session_id: str, shown: list[StoredMessage]) -> None:
    """The question being edited is no longer on screen (another tab chose another version):
    an edit sent anyway goes to the chat page, which says it cannot be stored and shows its
    text back; otherwise the editing simply ends."""
    editing = st.session_state.get(EDITING_KEY)
    if editing is None or any(message.id == editing for message in shown):
        return
    st.session_state.pop(EDITING_KEY, None)
    # The form is not drawn this run, but what it sent is in this run's state.
    text = st.session_state.get(f"edit-text-{editing}")
    if st.session_state.get(f"edit-send-{editing}") and isinstance(text, str) and text.strip():
        _send_edit(session_id, editing, text)


@st.fragment
def show_conversation(
    store: ChatStore,
    user_id: str,
    session_id: str,
    *,
    editable: bool = True,
    actions: bool = True,
    zone: tzinfo = UTC,
) -> None:
    """Draw the shown messages, with the control that loads the page before them; with
    `actions`, each message's controls under it. A fragment: loading an earlier page redraws
    the conversation alone, not the sidebar and the page."""
    view = load_view(store, user_id, session_id)
    _edit_of_a_message_not_shown(session_id, view.messages)
    st.html(_ACTIONS_STYLE)
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
        show_message(
            message,
            view.versions.get(message.id),
            store=store,
            user_id=user_id,
            session_id=session_id,
            editable=editable,
            actions=actions,
            zone=zone,
        )


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
            store, user_id, session_id, ability=ability, context_tokens=context_tokens
        )
        known = (key, window.omitted)
        st.session_state[OMITTED_KEY] = known
    return known[1]
