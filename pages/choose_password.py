"""Choose your password: the only page of an account signed in with a temporary password (an
account created in bulk), until its owner replaces it. app.py registers nothing else then."""

from __future__ import annotations

import streamlit as st

from ui.auth import current_account
from ui.password_form import new_password_form
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
new_password_form(
    engine,
    account,
    form="choose-password",
    current_label="Temporary password",
    submit_label="Set my password",
    # Every sign-in of this account ends with the temporary password.
    notice="password-chosen",
    same_refusal="Choose a password of your own, not the temporary one.",
)
