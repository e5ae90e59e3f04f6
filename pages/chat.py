"""The chat page: the user's chats in the sidebar; the open chat's history, input and answer.

What the run was asked to answer is stored first (ui/sending.py), then the page is drawn from
what is stored, then the answer streams at its end, with Stop by the chat box."""

from __future__ import annotations

import streamlit as st

from llm import ModelError
from memory import DEFAULT_ABILITY, StoreUnavailable
from ui.answering import QUESTION_KEY, wait_for_stopped_answer
from ui.auth import current_account
from ui.chat_groups import zone_named
from ui.conversation import omitted_from_prompt, show_conversation
from ui.deleting import show_delete_button, show_undo_notice
from ui.phone import show_phone_layout
from ui.quota import give_back_unsent, show_quota_left, show_refusal
from ui.resources import chat_model, chat_store
from ui.scroll import keep_turn_in_view
from ui.sending import (
    RETRY_KEY,
    carry_failure,
    send_on_next_run,
    send_what_was_asked,
    show_not_sent,
    stream_answer,
    take_failure,
)
from ui.sidebar import (
    RENAME_POPOVER,
    RENAME_PROBLEM,
    current_session_id,
    drafts,
    move_chat,
    rename_box_key,
    rename_chat,
    render_session_sidebar,
)
from ui.temporary_chat import in_temporary_chat, show_temporary_chat
from ui.text import DATABASE_DOWN, plain
from ui.titles import ask_for_title, watch_for_title
from ui.welcome import show_welcome

account = current_account()
give_back_unsent()
store = chat_store()
temporary = in_temporary_chat()
session_id = None if temporary else current_session_id()
zone = zone_named(st.context.timezone)
try:
    choice, _ = chat_model()
    model_problem = None
except ModelError as error:
    choice, model_problem = None, error.user_message


def show_model_and_quota() -> None:
    with st.sidebar:
        # The server's address is the operator's business: the admin page shows it.
        st.caption(f"Model: {choice.name}" if choice else "Model: unavailable")
        show_quota_left(account, zone=zone)


if temporary:
    render_session_sidebar(store, account, None, zone=zone)
    show_model_and_quota()
    show_temporary_chat(account, model_problem=model_problem, zone=zone)
    st.stop()
assert session_id is not None

# An answer a Stop just cut short is stored before anything is read (see ui/answering.py).
still_answering = not wait_for_stopped_answer()
specialty_key = f"specialty-{session_id}"
try:
    summary = store.get_session(account.id, session_id)
    if summary is None:
        ability = (
            st.session_state.get(specialty_key) or drafts().get(session_id) or DEFAULT_ABILITY
        ).strip() or DEFAULT_ABILITY
    else:
        ability = summary.ability
    # Stored before the page is drawn: the page then shows the chat as it now is.
    sending = send_what_was_asked(
        store, account, session_id, ability=ability, zone=zone, model_problem=model_problem
    )
    if sending.answering and summary is None:
        summary = store.get_session(account.id, session_id)
        drafts().pop(session_id, None)
except StoreUnavailable:
    render_session_sidebar(store, account, session_id, zone=zone)
    st.error(DATABASE_DOWN)
    st.stop()
render_session_sidebar(store, account, session_id, zone=zone)
show_model_and_quota()
answering = sending.answering
show_undo_notice(store, account.id)
show_phone_layout()

# Header: a new chat asks for the assistant's specialty; a stored one can be renamed or deleted.
if summary is None:
    st.title("New chat", anchor=False)
    ability = (
        st.text_input(
            "Assistant's specialty",
            value=drafts().get(session_id, DEFAULT_ABILITY),
            max_chars=100,
            key=specialty_key,
            help="The assistant answers as a specialist in this, e.g. Java, math, cooking.",
        ).strip()
        or DEFAULT_ABILITY
    )
    drafts()[session_id] = ability
else:
    title_column, actions_column = st.columns([1, 1.15], vertical_alignment="bottom")
    # One line however long the title: cut with an ellipsis, the whole of it on hover.
    title_column.title(plain(summary.title or "New chat"), anchor=False, wrap=False)
    # The chat's actions in one row, each as wide as its label, at the header's right end.
    actions = actions_column.container(
        horizontal=True, horizontal_alignment="right", gap="xsmall", key="chat-actions"
    )
    actions.button(
        "Unpin" if summary.pinned else "Pin",
        icon=":material/keep:",
        key="pin",
        help=None if summary.pinned else "Keep this chat at the top of the list",
        on_click=move_chat,
        args=(store.pin_session, account.id, session_id, not summary.pinned),
        disabled=answering,
    )
    actions.button(
        "Restore" if summary.archived else "Archive",
        icon=":material/unarchive:" if summary.archived else ":material/archive:",
        key="archive",
        help=None
        if summary.archived
        else "Take this chat out of the list; search and Archived chats still find it",
        on_click=move_chat,
        args=(store.archive_session, account.id, session_id, not summary.archived),
        disabled=answering,
    )
    # Its open state is tracked (which costs a rerun on opening) so that a saved title can
    # close it: rename_chat sets that state to closed.
    with (
        actions.popover(
            "Rename",
            icon=":material/edit:",
            key=RENAME_POPOVER,
            on_change="rerun",
            disabled=answering,
        ),
        st.form("rename"),
    ):
        st.text_input(
            "New title", value=summary.title, max_chars=200, key=rename_box_key(session_id)
        )
        st.form_submit_button("Save", on_click=rename_chat, args=(store, account.id, session_id))
        if problem := st.session_state.pop(RENAME_PROBLEM, None):
            st.error(problem)
    with actions.popover("Delete", icon=":material/delete:", disabled=answering):
        show_delete_button(store, account.id, session_id)
watch_for_title(session_id)
st.caption(
    f"Assistant specialized in **{plain(ability)}**"
    + (" · Archived: not in your list of chats" if summary is not None and summary.archived else "")
)
if summary is None:
    show_welcome(ability, disabled=model_problem is not None)

# The newest page of the history, exactly as stored; older pages on demand. While an answer
# streams, the messages' own actions are not drawn: they would act on a chat being written.
full = summary is not None and summary.message_count + 2 > store.max_messages_per_chat
if summary is not None:
    show_conversation(
        store,
        account.id,
        session_id,
        editable=model_problem is None and not full,
        actions=not answering,
        zone=zone,
    )
newest = (
    store.load_page(account.id, session_id, limit=1, with_versions=False).messages
    if summary
    else []
)
last = newest[-1] if newest else None
carried_failure = take_failure(session_id)
if carried_failure:
    st.error(carried_failure)
elif last is not None and last.role == "human" and not answering:
    if still_answering:
        st.info("The stopped answer is still being saved. It will appear when you next click.")
    else:
        st.info(
            "This message has no answer yet: the model failed or was stopped. Retry to answer it."
        )
if choice and summary is not None and last is not None and not answering:
    omitted = omitted_from_prompt(
        store,
        account.id,
        session_id,
        ability=ability,
        message_count=summary.message_count,
        newest_id=last.id,
        context_tokens=choice.context_tokens,
    )
    if omitted:
        st.caption(
            f"{omitted:,} earlier messages are not sent to the model: they do not fit in "
            "its context window. They stay saved here."
        )
if full and not answering:
    st.info(store.full_message())
# Its place is kept while an answer streams, so that nothing below it moves up into it.
retry_slot = st.empty()
retried = (
    last is not None
    and model_problem is None
    and not answering
    # No tooltip: shown after a click while the mouse stays, it covered the answer's version
    # arrows right above.
    and retry_slot.button("Retry", icon=":material/refresh:", key=RETRY_KEY)
)

if model_problem:
    st.error(model_problem)
show_not_sent(sending)
show_refusal()
# Before the answer streams: the browser brings the new turn into view and follows it.
keep_turn_in_view(new_turn=answering, chat=session_id)
# The chat box and, while an answer streams, Stop beside it. The box is disabled while an
# answer streams (a second message would cut the first short): at once in the browser on
# Enter (submit_mode), and drawn disabled by a run that answers.
with st.bottom:
    composer = st.container(horizontal=True, vertical_alignment="center", key="composer")
with composer:
    typed = st.chat_input(
        f"Ask the {ability} assistant",
        key=QUESTION_KEY,
        submit_mode="disable",
        disabled=model_problem is not None or full or answering,
    )
    stop_slot = st.empty()
if not sending.asked:
    send_on_next_run(typed, retry=retried)

if answering:
    failure = stream_answer(store, sending, ability=ability, stop_slot=stop_slot)
    if failure:
        # Shown by the next run, which draws the chat as stored: its title, the notice, Retry.
        carry_failure(session_id, failure)
    elif sending.turn is not None and sending.turn.number == 1:
        ask_for_title(account.id, session_id)
    st.rerun()
