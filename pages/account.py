"""Account: who I am, where I am signed in, and changing my password (which signs me out
everywhere)."""

from __future__ import annotations

import streamlit as st

import accounts
import sso
from ui.auth import SIGN_IN_KEY, current_account, sign_out
from ui.password_form import new_password_form
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

identities = sso.identities_of(engine, user_id=account.id)
if identities:
    st.subheader("How you sign in")
    for identity in identities:
        # The provider's address is configuration, not anyone's words; still plain text.
        st.text(f"Single sign-on at {identity['issuer']}")
    st.caption("Your password and sign-in security are managed by your organisation's provider.")
else:
    st.subheader("Change password")
    new_password_form(
        engine,
        account,
        form="change-password",
        current_label="Current password",
        submit_label="Change password",
        notice="password-changed",
    )
