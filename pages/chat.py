"""The chat page: the user's chats in the sidebar; the open chat's history, input and answer."""

from __future__ import annotations

import streamlit as st

from llm import ModelError, explain_model_error
from memory import (
    DEFAULT_ABILITY,
    MAX_CONTENT_CHARS,
    InvalidContent,
    InvalidId,
    SessionNotFound,
    StoreUnavailable,
    stream_reply,
)
from memory.chain import AnswerCutOff, TurnCost
from memory.errors import MessageNotFound
from ui.answering import (
    QUESTION_KEY,
    answering,
    show_markdown,
    stream_markdown,
    wait_for_stopped_answer,
)
from ui.auth import current_account
from ui.chat_groups import zone_named
from ui.conversation import (
    omitted_from_prompt,
    reset_view,
    show_conversation,
    take_edit_request,
)
from ui.quota import (
    QuestionRefused,
    admit,
    give_back,
    give_back_unsent,
    give_up,
    hand_to_answer,
    settle,
    show_quota_left,
    show_refusal,
)
from ui.resources import chat_chain, chat_model, chat_store
from ui.scroll import keep_turn_in_view
from ui.sidebar import (
    RENAME_POPOVER,
    RENAME_PROBLEM,
    current_session_id,
    drafts,
    move_chat,
    rename_box_key,
    rename_chat,
    render_session_sidebar,
    start_new_chat,
)
from ui.temporary_chat import in_temporary_chat, show_temporary_chat
from ui.text import DATABASE_DOWN, plain
from ui.titles import answer_streaming, ask_for_title, watch_for_title

account = current_account()
give_back_unsent()
store = chat_store()
temporary = in_temporary_chat()
session_id = None if temporary else current_session_id()
zone = zone_named(st.context.timezone)
render_session_sidebar(store, account, session_id, zone=zone)

try:
    choice, _ = chat_model()
    model_problem = None
except ModelError as error:
    choice, model_problem = None, error.user_message
with st.sidebar:
    # The server's address is the operator's business: the admin page shows it.
    st.caption(f"Model: {choice.name}" if choice else "Model: unavailable")
    show_quota_left(account, zone=zone)
if temporary:
    show_temporary_chat(account, model_problem=model_problem, zone=zone)
    st.stop()
assert session_id is not None

try:
    summary = store.get_session(account.id, session_id)
except StoreUnavailable:
    st.error(DATABASE_DOWN)
    st.stop()

# Header: a new chat asks for the assistant's specialty; a stored one can be renamed or deleted.
if summary is None:
    st.title("New chat")
    ability = (
        st.text_input(
            "Assistant's specialty",
            value=drafts().get(session_id, DEFAULT_ABILITY),
            max_chars=100,
            help="The assistant answers as a specialist in this, e.g. Java, math, cooking.",
        ).strip()
        or DEFAULT_ABILITY
    )
    drafts()[session_id] = ability
else:
    ability = summary.ability
    title_column, actions_column = st.columns([1, 1], vertical_alignment="bottom")
    title_column.title(plain(summary.title or "New chat"))
    # The chat's actions in one row, each as wide as its label, at the header's right end.
    actions = actions_column.container(horizontal=True, horizontal_alignment="right", gap="small")
    actions.button(
        "Unpin" if summary.pinned else "Pin",
        icon=":material/keep:",
        key="pin",
        help=None if summary.pinned else "Keep this chat at the top of the list",
        on_click=move_chat,
        args=(store.pin_session, account.id, session_id, not summary.pinned),
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
    )
    # Its open state is tracked (which costs a rerun on opening) so that a saved title can
    # close it: rename_chat sets that state to closed.
    with (
        actions.popover("Rename", key=RENAME_POPOVER, on_change="rerun"),
        st.form("rename"),
    ):
        st.text_input(
            "New title", value=summary.title, max_chars=200, key=rename_box_key(session_id)
        )
        st.form_submit_button("Save", on_click=rename_chat, args=(store, account.id, session_id))
        if problem := st.session_state.pop(RENAME_PROBLEM, None):
            st.error(problem)
    with actions.popover("Delete"):
        st.write("Delete this chat and all its messages? This cannot be undone.")
        if st.button("Delete chat", type="primary"):
            store.delete_session(account.id, session_id)
            start_new_chat()
            st.rerun()
watch_for_title(session_id)
st.caption(
    f"Assistant specialized in **{plain(ability)}**"
    + (" · Archived: not in your list of chats" if summary is not None and summary.archived else "")
)

# The newest page of the history, exactly as stored, once an answer this session just stopped
# is in; older pages on demand.
still_answering = not wait_for_stopped_answer()
# An edited question is stored first, as a new branch: the chat below is then drawn along it
# and ends with the new question, whose answer streams under it.
full = summary is not None and summary.message_count + 2 > store.max_messages_per_chat
edited_turn, edit_failure, reservation = None, None, None
edit = take_edit_request(session_id) if summary is not None else None
if edit is not None and model_problem:
    edit_failure = model_problem
elif edit is not None:
    try:
        reservation = admit(account, edit[1], ability=ability, zone=zone)
        edited_turn = store.edit_question(account.id, session_id, *edit)
        reset_view(session_id)
    except QuestionRefused as refusal:
        edit_failure = refusal.sentence
    except (InvalidContent, MessageNotFound, SessionNotFound) as error:
        edit_failure = str(error)
    except StoreUnavailable:
        edit_failure = DATABASE_DOWN
    if edited_turn is None:
        give_up(reservation)  # it never reached the model
if edit is not None and edit_failure:
    st.error(
        f"The edited message was not sent: {edit_failure.rstrip('.')}. Here it is to send again:"
    )
    st.code(edit[1], language=None)
if summary is not None:
    show_conversation(store, account.id, session_id, editable=model_problem is None and not full)
newest = (
    store.load_page(account.id, session_id, limit=1, with_versions=False).messages
    if summary
    else []
)
last = newest[-1] if newest else None
if last is not None and last.role == "human" and edited_turn is None:
    if still_answering:
        st.info("The stopped answer is still being saved. It will appear when you next click.")
    else:
        st.info(
            "This message has no answer yet: the model failed or was stopped. Retry to answer it."
        )
if choice and summary is not None and last is not None:
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
if full:
    st.info(store.full_message())
retry = (
    last is not None
    and model_problem is None
    and st.button(
        "Retry", icon=":material/refresh:", key="retry", help="Answer the last message again"
    )
)

if model_problem:
    st.error(model_problem)
show_refusal()
question = st.chat_input(
    f"Ask the {ability} assistant", key=QUESTION_KEY, disabled=model_problem is not None or full
)

if question is not None and not question.strip():
    question = None  # an empty message is ignored
if question is not None and len(question) > MAX_CONTENT_CHARS:
    st.error(
        f"Your message is {len(question):,} characters long; the limit is "
        f"{MAX_CONTENT_CHARS:,}. It was not sent; here it is to shorten and send again:"
    )
    st.code(question, language=None)
    question = None

keep_turn_in_view(new_turn=question is not None or bool(retry) or edited_turn is not None)
if question is not None or retry or edited_turn is not None:
    failure = None
    turn = edited_turn
    if question is not None or retry:
        # Counted before anything is stored or sent; a refused question goes back in the box.
        try:
            # Retry's own question is counted when its turn is settled: here the system line.
            asked = question if question is not None else ""
            reservation = admit(account, asked, ability=ability, zone=zone)
        except QuestionRefused as refusal:
            give_back(refusal.sentence, question)
    if question is not None:
        with st.chat_message("user"):
            show_markdown(question)
    try:
        # Stored before anything else can happen: a rerun, a closed tab or a failing model
        # from here on cannot lose it. This Turn is what the answer is stored under.
        if question is not None:
            turn = store.begin_turn(account.id, session_id, question, ability=ability)
        elif retry:
            turn = store.reopen_last_turn(account.id, session_id)
    except (InvalidContent, InvalidId) as error:
        failure = str(error)
    except StoreUnavailable:
        failure = DATABASE_DOWN
    if turn is None:
        give_up(reservation)  # it never reached the model
    else:
        cost = TurnCost()
        with st.chat_message("assistant"), answering(), answer_streaming():
            stop = st.empty()
            stop.button("Stop", icon=":material/stop:", key="stop")  # any click stops this run
            reply = stream_reply(chat_chain(), store, turn, ability=ability, cost=cost)
            hand_to_answer(reservation)
            try:
                stream_markdown(reply)
            except InvalidContent as error:
                failure = str(error)
            except SessionNotFound:
                failure = "This chat was deleted while the answer was being written."
            except StoreUnavailable:
                failure = DATABASE_DOWN
            except AnswerCutOff as error:
                failure = str(error)
            except Exception as error:  # the model's failure, explained; the question is stored
                failure = f"{explain_model_error(error).user_message} Your message is saved: Retry."
            finally:
                try:
                    reply.close()  # on stop or rerun: stores what arrived as interrupted
                finally:
                    # Before any Streamlit call: a stopped run raises again at its next one.
                    settle(reservation, cost, failed=failure is not None)
                stop.empty()  # the answer has ended, however it ended
    if failure:
        st.error(failure)
        if turn is None and question:
            st.caption("Your message could not be saved. Here it is to send again:")
            st.code(question, language=None)
    else:
        drafts().pop(session_id, None)
        if turn is not None and turn.number == 1:
            ask_for_title(account.id, session_id)
        st.rerun()
