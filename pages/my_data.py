"""My data: who opened my chats and why, download everything, delete my account."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st
from memory.erasure import delete_user_content
from memory.export import export_user_json, export_user_markdown
from ui.auth import current_account, sign_out

import audit
from accounts import authenticate, delete_account, get_account
from ui.resources import chat_store

account = current_account()
store = chat_store()
engine = store.engine

st.title("My data")

st.subheader("Who opened my chats")
views = audit.list_events(
    engine, subject_user_id=account.id, action=audit.HISTORY_VIEWED, limit=200
)
if views:
    titles = {}
    for event in views:
        if event.session_id and event.session_id not in titles:
            summary = store.get_session(account.id, event.session_id)
            titles[event.session_id] = summary.title if summary else "(deleted chat)"
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "when": event.at,
                    "admin": (get_account(engine, user_id=event.actor_id) or account).username
                    if event.actor_id
                    else "",
                    "chat": titles.get(event.session_id or "", ""),
                    "reason": event.reason,
                }
                for event in views
            ]
        ),
        hide_index=True,
        use_container_width=True,
    )
else:
    st.write("No administrator has opened your chats.")

st.subheader("Download my chats")
left, right = st.columns(2)
left.download_button(
    "All chats as JSON (re-importable)",
    json.dumps(export_user_json(store, user_id=account.id), ensure_ascii=False, indent=2),
    file_name="my-chats.json",
    mime="application/json",
)
right.download_button(
    "All chats as Markdown (readable)",
    export_user_markdown(store, user_id=account.id),
    file_name="my-chats.md",
    mime="text/markdown",
)

st.subheader("Delete my account")
st.write(
    "This deletes your account and every chat and message, at once and for good. The audit log "
    "keeps only ids and times of past events."
)
with st.form("erase"):
    password = st.text_input("Your password", type="password")
    confirmed = st.checkbox("I understand this cannot be undone")
    if st.form_submit_button("Delete my account and all my chats", type="primary"):
        if not confirmed:
            st.error("Tick the box to confirm.")
        elif authenticate(engine, username=account.username, password=password).account is None:
            st.error("That password is not right.")
        else:
            delete_user_content(store, user_id=account.id)
            audit.scrub_subject(engine, subject_user_id=account.id)
            audit.record(
                engine, actor_id=None, action=audit.ACCOUNT_ERASED, subject_user_id=account.id
            )
            delete_account(engine, user_id=account.id)
            sign_out(engine, account)
