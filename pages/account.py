"""Account: who I am, and changing my password (which signs me out everywhere else)."""

from __future__ import annotations

import streamlit as st

import accounts
from accounts import AccountError
from ui.auth import current_account, sign_out
from ui.resources import chat_store

account = current_account()
engine = chat_store().engine

st.title("Account")
st.write(f"Username: **{account.username}**")
if account.display_name:
    st.text(f"Display name: {account.display_name}")
st.caption(f"Role: {account.role} · member since {account.created_at:%Y-%m-%d}")

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
            # Every cookie of this user, this browser's included, is now revoked.
            sign_out(engine, account, notice="Password changed. Sign in with the new password.")

st.subheader("Sign out everywhere")
st.write("Ends every sign-in of this account, on every device and browser.")
if st.button("Sign out everywhere"):
    sign_out(engine, account)
