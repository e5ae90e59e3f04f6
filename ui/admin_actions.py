"""The actions an admin takes on one account of the Users table: picked by its row, each one
that takes something away behind a confirmation that names the user, each audited."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import streamlit as st
from sqlalchemy import Engine

import audit
from accounts import Account, AccountError, get_account, set_disabled, set_role, unlock
from accounts.bulk_import import issue_temporary_password
from ui.text import plain
from ui.words import sentence, when

# The account whose actions are shown, by id: it stays picked across the reruns its actions
# cause, while the table's own selection starts afresh (rows move when a role changes).
SELECTED_KEY = "admin_selected_user"
# Bumped after each action, so the table's row selection never points at another user.
TABLE_ROUND_KEY = "admin_users_round"
PENDING_KEY = "admin_pending_action"
NOTICE_KEY = "admin_notice"
RESET_KEY = "admin_reset_password"
HISTORIES_TAB = "Stored histories"
# The button that confirms taking something away looks like it (Streamlit has no such kind).
DESTRUCTIVE_CSS = """<style>
.st-key-user-action-yes button { background-color: #b42318; border-color: #b42318; color: #fff; }
.st-key-user-action-yes button:hover { background-color: #912018; border-color: #912018; }
</style>"""


@dataclass(frozen=True)
class AccountAction:
    key: str
    label: str
    # The question asked first, of "{user}"; None: done at once (it takes nothing away).
    confirm: str | None
    shown: Callable[[Account, datetime], bool]


ACTIONS = (
    AccountAction(
        "disable",
        "Disable",
        "Disable {user}? They are signed out on every device and cannot sign in until an "
        "admin enables the account again. Their chats are kept.",
        lambda account, now: not account.disabled,
    ),
    AccountAction("enable", "Enable", None, lambda account, now: account.disabled),
    AccountAction(
        "unlock",
        "Unlock",
        None,
        lambda account, now: account.locked_until is not None and account.locked_until > now,
    ),
    AccountAction(
        "promote",
        "Make admin",
        "Make {user} an administrator? They will see every account and can open anyone's "
        "chats, each time with a recorded reason.",
        lambda account, now: not account.is_admin,
    ),
    AccountAction(
        "demote",
        "Make ordinary user",
        "Make {user} an ordinary user? They lose the admin page.",
        lambda account, now: account.is_admin,
    ),
    AccountAction(
        "reset",
        "Reset password",
        "Give {user} a new temporary password? Their password stops working at once, they are "
        "signed out everywhere, and they must choose a new one when they sign in.",
        lambda account, now: True,
    ),
)
AUDITED = {
    "disable": audit.USER_DISABLED,
    "enable": audit.USER_ENABLED,
    "unlock": audit.USER_UNLOCKED,
    "promote": audit.ROLE_CHANGED,
    "demote": audit.ROLE_CHANGED,
}


def selected_account(
    engine: Engine, page_accounts: list[Account], rows: list[int]
) -> Account | None:
    """The account picked in the table this run, else the one picked before."""
    state = st.session_state
    if rows and rows[0] < len(page_accounts):
        state[SELECTED_KEY] = page_accounts[rows[0]].id
    picked = state.get(SELECTED_KEY)
    return get_account(engine, user_id=picked) if picked else None


def _open_histories(username: str, tabs_key: str, owner_key: str) -> None:
    # A callback: it runs before the page, when the tabs' and the box's state may be set.
    st.session_state[tabs_key] = HISTORIES_TAB
    st.session_state[owner_key] = username


def _perform(engine: Engine, admin: Account, action: AccountAction, target: Account) -> None:
    if action.key == "reset":
        issued = issue_temporary_password(engine, user_id=target.id, actor_id=admin.id)
        st.session_state[RESET_KEY] = (
            admin.id,
            issued.username,
            issued.temporary_password,
            issued.expires_at,
        )
    else:
        if action.key in ("disable", "enable"):
            set_disabled(engine, user_id=target.id, disabled=action.key == "disable")
        elif action.key == "unlock":
            unlock(engine, user_id=target.id)
        else:
            set_role(engine, user_id=target.id, role="admin" if action.key == "promote" else "user")
        audit.record(
            engine,
            actor_id=admin.id,
            action=AUDITED[action.key],
            subject_user_id=target.id,
            detail=action.label,
        )
    st.session_state[NOTICE_KEY] = f"{action.label}: {target.username}"
    st.session_state[TABLE_ROUND_KEY] = st.session_state.get(TABLE_ROUND_KEY, 0) + 1


def show_account_actions(
    engine: Engine,
    admin: Account,
    target: Account,
    *,
    about: str,
    tabs_key: str,
    owner_key: str,
) -> None:
    """The picked account (`about` says more of it), its actions, its pending confirmation,
    and a reset's password."""
    state = st.session_state
    now = datetime.now(UTC)
    user = plain(target.username)
    st.markdown(f"**{user}** · {target.role}" + (" · disabled" if target.disabled else ""))
    st.caption(about)
    shown = [action for action in ACTIONS if action.shown(target, now)]
    columns = st.columns(len(shown) + 1)
    for column, action in zip(columns, shown, strict=False):
        if column.button(action.label, key=f"user-action-{action.key}", width="stretch"):
            if action.confirm is None:
                _run(engine, admin, action, target)
            else:
                state[PENDING_KEY] = (action.key, target.id)
    columns[-1].button(
        "Open chats",
        key="user-action-histories",
        width="stretch",
        on_click=_open_histories,
        args=(target.username, tabs_key, owner_key),
    )
    pending = state.get(PENDING_KEY)
    if pending is not None and pending[1] == target.id:
        st.html(DESTRUCTIVE_CSS)
        [action] = [a for a in ACTIONS if a.key == pending[0]]
        with st.container(border=True):
            st.warning(action.confirm.format(user=target.username))
            yes, no, _ = st.columns([2, 1, 2])
            if yes.button(
                f"{action.label}: {target.username}", type="primary", key="user-action-yes"
            ):
                state.pop(PENDING_KEY, None)
                _run(engine, admin, action, target)
            if no.button("Cancel", key="user-action-cancel"):
                state.pop(PENDING_KEY, None)
                st.rerun()
    _show_reset(admin)


def _run(engine: Engine, admin: Account, action: AccountAction, target: Account) -> None:
    try:
        _perform(engine, admin, action, target)
    except AccountError as error:
        st.error(sentence(str(error)))
        return
    st.rerun()


def _show_reset(admin: Account) -> None:
    issued = st.session_state.get(RESET_KEY)
    # Only the admin who made it sees it, even if another signs in in this browser session.
    if issued is None or issued[0] != admin.id:
        return
    _, username, password, expires_at = issued
    with st.container(border=True):
        st.success(
            f"New temporary password for {username}: give it to them in person or by a channel "
            f"you trust. It is shown only now, works until {when(expires_at, UTC)} (UTC), "
            "and must be replaced at their first sign-in."
        )
        st.code(password, language=None)
        if st.button("Done: forget it", key="user-action-forget-reset"):
            st.session_state.pop(RESET_KEY, None)
            st.rerun()
