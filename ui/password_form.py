"""The form that replaces a user's password with one they type twice, after the current one:
the Account page's "Change password" and the first sign-in's "Choose your password"."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import Engine

import accounts
from accounts import Account, AccountError
from ui.auth import end_session


def new_password_form(
    engine: Engine,
    account: Account,
    *,
    form: str,
    current_label: str,
    submit_label: str,
    notice: str,
    same_refusal: str | None = None,
) -> None:
    """Draw the form; on a good submit the password is changed, every sign-in of the account
    ends with it and the browser lands on the sign-in page with `notice` (a key of
    web.routes.NOTICES). With `same_refusal`, a new password equal to the current one is
    refused in those words."""
    with st.form(form, clear_on_submit=True):
        current = st.text_input(current_label, type="password")
        new = st.text_input(
            "New password",
            type="password",
            help=f"At least {accounts.MIN_PASSWORD_CHARS} characters.",
        )
        repeat = st.text_input("Repeat the new password", type="password")
        submitted = st.form_submit_button(submit_label, type="primary")
    if not submitted:
        return
    if new != repeat:
        st.error("The two new passwords differ.")
    elif same_refusal is not None and new == current:
        st.error(same_refusal)
    else:
        try:
            accounts.change_password(
                engine, user_id=account.id, current_password=current, new_password=new
            )
        except AccountError as error:
            st.error(str(error))
        else:
            # Every sign-in of this user, this device's included, has ended with it.
            end_session(account, notice)
