"""Choose your password: the only page of an account signed in with a temporary password (an
account created in bulk), until its owner replaces it. app.py registers nothing else then."""

from __future__ import annotations

import streamlit as st

import accounts
from accounts import AccountError
from ui.auth import current_account, end_session
from ui.resources import chat_store

account = current_account()
engine = chat_store().engine

st.title("Choose your password")
st.write(
    f"Welcome, **{account.username}**. You signed in with a temporary password; choose one of "
    "your own to start. You will then sign in again with it."
)
if account.password_expires_at is not None:
    st.caption(
        f"The temporary password stops working at {account.password_expires_at:%Y-%m-%d %H:%M} UTC."
    )
with st.form("choose-password", clear_on_submit=True):
    temporary = st.text_input("Temporary password", type="password")
    new = st.text_input(
        "New password", type="password", help=f"At least {accounts.MIN_PASSWORD_CHARS} characters."
    )
    repeat = st.text_input("Repeat the new password", type="password")
    submitted = st.form_submit_button("Set my password", type="primary")
if submitted:
    if new != repeat:
        st.error("The two new passwords differ.")
    elif new == temporary:
        st.error("Choose a password of your own, not the temporary one.")
    else:
        try:
            accounts.change_password(
                engine, user_id=account.id, current_password=temporary, new_password=new
            )
        except AccountError as error:
            st.error(str(error))
        else:
            # Every sign-in of this account has ended with the temporary password.
            end_session(account, "password-chosen")
