"""My data: who opened my chats and why, download or import everything, delete my account."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import accounts
import audit
from memory import InvalidContent, StoreUnavailable
from memory.erasure import delete_user_content
from memory.export import import_limits, import_user_json, read_export_file
from ui.auth import browser_token, client_address, current_account, end_session
from ui.resources import chat_store, temporary_chats
from ui.words import counted
from web.routes import MY_CHATS_JSON_PATH, MY_CHATS_MARKDOWN_PATH

account = current_account()
store = chat_store()
engine = store.engine

st.title("My data")

st.header("Who opened my chats")
views = audit.list_events(
    engine, subject_user_id=account.id, action=audit.HISTORY_VIEWED, limit=200
)
if views:
    admins: dict[str, str] = {}
    titles: dict[str, str] = {}
    for event in views:
        if event.actor_id and event.actor_id not in admins:
            admin = accounts.get_account(engine, user_id=event.actor_id)
            admins[event.actor_id] = admin.username if admin else "(deleted administrator)"
        if event.session_id and event.session_id not in titles:
            summary = store.get_session(account.id, event.session_id)
            titles[event.session_id] = summary.title if summary else "(deleted chat)"
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "when (UTC)": event.at,
                    "administrator": admins.get(event.actor_id or "", ""),
                    "chat": titles.get(event.session_id or "", ""),
                    "reason": audit.show_invisible(event.reason),
                }
                for event in views
            ]
        ),
        hide_index=True,
        width="stretch",
    )
else:
    st.write("No administrator has opened your chats.")

st.header("Download my chats")
# Served by the app's own route to this browser's sign-in alone, never from a shared /media/ URL.
left, right = st.columns(2)
left.link_button(
    "All chats as JSON (re-importable)", MY_CHATS_JSON_PATH, icon=":material/download:"
)
right.link_button(
    "All chats as Markdown (readable)", MY_CHATS_MARKDOWN_PATH, icon=":material/download:"
)

st.header("Import chats")
limits = import_limits()
st.caption(
    f"Up to {limits.max_bytes // (1024 * 1024):,} MB and {limits.max_messages:,} messages per "
    f"file, and {store.max_messages_per_chat:,} messages per chat."
)
with st.form("import", clear_on_submit=True):
    upload = st.file_uploader(
        "A JSON file downloaded from this app",
        type=["json"],
        # The browser refuses a larger file before sending it; read_export_file checks again.
        max_upload_size=max(1, limits.max_bytes // (1024 * 1024)),
    )
    if st.form_submit_button("Import") and upload is not None:
        try:
            data = read_export_file(upload, max_bytes=limits.max_bytes)
            imported = import_user_json(store, user_id=account.id, data=data)
        except InvalidContent as error:
            st.error(f"Nothing was imported: {error}")
        else:
            st.success(f"Imported {counted(imported, 'chat')}.")

st.header("Delete my account")
st.write(
    "This deletes your account and every chat and message, at once and for good. The audit log "
    "keeps only ids and times of past events, never content."
)
with st.form("erase"):
    password = st.text_input("Your password", type="password")
    confirmed = st.checkbox("I understand this cannot be undone")
    if st.form_submit_button("Delete my account and all my chats", type="primary"):
        if not confirmed:
            st.error("Tick the box to confirm.")
        elif (
            accounts.authenticate(
                engine,
                username=account.username,
                password=password,
                client=client_address(),
                browser=browser_token(),
            ).account
            is None
        ):
            st.error("That password is not right.")
        else:
            try:
                # Chats first, then the account: if erasing fails part-way, the account is
                # still there to try again, and no chat is left without an owner.
                accounts.ensure_deletable(engine, user_id=account.id)
                erased = delete_user_content(store, user_id=account.id)
                # And the temporary chats of every tab of theirs, which nothing stored.
                temporary_chats().forget_user(account.id)
                accounts.delete_account(engine, user_id=account.id)
            except (accounts.AccountError, StoreUnavailable) as error:
                st.error(str(error))
            else:
                audit.record(
                    engine,
                    action=audit.ACCOUNT_ERASED,
                    subject_user_id=account.id,
                    detail=f"sessions={erased.sessions} messages={erased.messages}",
                )
                end_session(account, "account-deleted")
