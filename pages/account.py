"""Account: who I am, where I am signed in, and changing my password (which signs me out
everywhere)."""

from __future__ import annotations

import streamlit as st

import accounts
import sso
from ui.auth import SIGN_IN_KEY, current_account, link_provider_account, sign_out
from ui.password_form import new_password_form
from ui.resources import chat_store
from ui.text import plain
from web.routes import ERROR_NOTICES, NOTICES
from web.sso_routes import LINKED_NOTICE

account = current_account()
engine = chat_store().engine

st.title("Account")
st.write(f"Username: **{account.username}**")
if account.display_name:
    st.text(f"Display name: {account.display_name}")
st.caption(f"Role: {account.role} · member since {account.created_at:%Y-%m-%d}")

st.header("Where you are signed in")
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

provider = sso.oidc_settings()
open_to_provider = sso.sign_in_methods(engine, sso_configured=provider is not None).sso
identities = sso.identities_of(engine, user_id=account.id)
if identities or open_to_provider:
    st.header("How you sign in")
    # Sent back here by the app's own route after linking: only its words, looked up by key.
    notice = st.query_params.get("notice", "")
    if notice == LINKED_NOTICE:
        st.success(NOTICES[notice])
    elif notice in ERROR_NOTICES:
        st.error(NOTICES[notice])
    for identity in identities:
        # The provider's address is configuration, not anyone's words; still plain text.
        st.text(f"Single sign-on at {identity['issuer']}")
    if provider is not None and open_to_provider and not identities:
        st.caption(
            f"Link your account to {provider.provider_name} to sign in with it from now on, "
            "besides your password. Your chats stay as they are."
        )
        if st.button(f"Link to {provider.provider_name}", icon=":material/key:"):
            link_provider_account(provider)

if accounts.has_password(engine, user_id=account.id):
    st.header("Change password")
    new_password_form(
        engine,
        account,
        form="change-password",
        current_label="Current password",
        submit_label="Change password",
        notice="password-changed",
    )
else:
    st.caption("Your password and sign-in security are managed by your organisation's provider.")
