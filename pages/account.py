"""Account: who I am, where I am signed in, and changing my password (which signs me out
everywhere)."""

from __future__ import annotations

import streamlit as st

import accounts
from accounts import AccountError
from ui.auth import SIGN_IN_KEY, current_account, end_session, sign_out
from ui.resources import chat_store
from ui.text import plain

account = current_account()
engine = chat_store().engine

st.title("Account")
st.write(f"Username: **{account.username}**")
if account.display_name:
    st.text(f"Display name: {account.display_name}")
st.caption(f"Role: {account.role} · member since {account.created_at:%Y-%m-%d}")

st.subheader("Where you are signed in")
this_device = st.session_state.get(SIGN_IN_KEY)
for device in accounts.list_sign_ins(engine, user_id=account.id):
    about, action = st.columns([4, 1], vertical_alignment="center")
    label = device.device + (" · this device" if device.id == this_device else "")
    # Built from the browser's User-Agent, which the client chooses: shown as plain text.
    about.markdown(f"**{plain(label)}**")
    about.caption(
        f"Signed in {device.created_at:%Y-%m-%d %H:%M} UTC · "
        f"last seen {device.last_seen_at:%Y-%m-%d %H:%M} UTC"
    )
    if action.button("Sign out", key=f"end-{device.id}", width="stretch"):
        if device.id == this_device:
            sign_out(engine, account)
        accounts.end_sign_in(engine, user_id=account.id, sign_in_id=device.id)
        st.rerun()
if st.button("Sign out everywhere", help="Ends every sign-in of this account, on every device."):
    sign_out(engine, account, everywhere=True)

st.subheader("Change password")
with st.form("change-password", clear_on_submit=True):
    current = st.text_input("Current password", type="password")
    new = st.text_input(
        "New password", type="password", help=f"At least {accounts.MIN_PASSWORD_CHARS} characters."
    )
    repeat = st.text_input("Repeat the new password", type="password")
    submitted = st.form_submit_button("Change password", type="primary")
if submitted:
    if new != repeat:
        st.error("The two new passwords differ.")
    else:
        try:
            accounts.change_password(
                engine, user_id=account.id, current_password=current, new_password=new
            )
        except AccountError as error:
            st.error(str(error))
        else:
            # Every sign-in of this user, this device's included, has ended with it.
            end_session(account, "password-changed")
