"""Admin: users, stored histories (opened only with a recorded reason), the audit log, usage,
retention. Registered in app.py for admins only; `require_admin` guards it again here."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

import audit
from accounts import (
    AccountError,
    count_accounts,
    find_account,
    get_account,
    list_accounts,
    set_disabled,
    set_role,
    set_signup_enabled,
    signup_enabled,
    unlock,
)
from memory.retention import last_purge, purge_expired, retention_days, set_retention_days
from memory.stats import active_users_per_day, messages_per_day, user_usage
from ui.auth import require_admin
from ui.resources import chat_store
from ui.text import plain
from web.routes import AUDIT_CSV_PATH, USERS_CSV_PATH

USERS_PER_PAGE = 50
NOTICE_KEY = "admin_notice"

admin = require_admin()
store = chat_store()
engine = store.engine

st.title("Admin")
users_tab, histories_tab, audit_tab, usage_tab, retention_tab = st.tabs(
    ["Users", "Stored histories", "Audit log", "Usage", "Retention"]
)

with users_tab:
    search_column, sort_column, order_column = st.columns([3, 2, 1])
    search = search_column.text_input("Search users", placeholder="Name or username")
    sort = sort_column.selectbox(
        "Sort by",
        ["created_at", "username", "last_active_at", "role"],
        format_func=lambda name: name.replace("_", " ").capitalize(),
    )
    descending = order_column.toggle("Newest / Z first", value=False)
    total = count_accounts(engine, search=search)
    pages = max(1, -(-total // USERS_PER_PAGE))
    page = st.number_input(f"Page (of {pages})", 1, pages, 1) if pages > 1 else 1
    accounts = list_accounts(
        engine,
        search=search,
        sort=sort,
        descending=descending,
        offset=(page - 1) * USERS_PER_PAGE,
        limit=USERS_PER_PAGE,
    )
    usage = user_usage(store, user_ids=[account.id for account in accounts])
    # The table's own export is off (config.toml): display names are typed by users, and
    # this CSV writes a formula in one as text.
    st.link_button("Download all users as CSV", USERS_CSV_PATH, icon=":material/download:")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "username": account.username,
                    "name": account.display_name,
                    "role": account.role,
                    "created": account.created_at,
                    "last active": account.last_active_at,
                    "sessions": usage[account.id].sessions,
                    "messages": usage[account.id].messages,
                    "≈ tokens": usage[account.id].approx_tokens,
                    "state": "disabled"
                    if account.disabled
                    else "locked"
                    if account.locked_until and account.locked_until > dt.datetime.now(dt.UTC)
                    else "active",
                }
                for account in accounts
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    st.caption(f"{total:,} users")

    st.subheader("Change an account")
    if notice := st.session_state.pop(NOTICE_KEY, None):
        st.success(notice)
    with st.form("account_action"):
        username = st.text_input("Username")
        action = st.selectbox(
            "Action", ["Disable", "Enable", "Unlock", "Make admin", "Make ordinary user"]
        )
        if st.form_submit_button("Apply"):
            target = find_account(engine, username=username.strip().lower())
            if target is None:
                st.error("No such user.")
            else:
                try:
                    if action in ("Disable", "Enable"):
                        set_disabled(engine, user_id=target.id, disabled=action == "Disable")
                        event = audit.USER_DISABLED if action == "Disable" else audit.USER_ENABLED
                    elif action == "Unlock":
                        unlock(engine, user_id=target.id)
                        event = audit.USER_UNLOCKED
                    else:
                        role = "admin" if action == "Make admin" else "user"
                        set_role(engine, user_id=target.id, role=role)
                        event = audit.ROLE_CHANGED
                    audit.record(
                        engine,
                        actor_id=admin.id,
                        action=event,
                        subject_user_id=target.id,
                        detail=action,
                    )
                    # Rerun so the table above shows the new state beside this notice.
                    st.session_state[NOTICE_KEY] = f"{action}: {target.username}"
                    st.rerun()
                except AccountError as error:
                    st.error(str(error))

    enabled = signup_enabled(engine)
    wanted = st.toggle("Anyone may create an account", value=enabled)
    if wanted != enabled:
        set_signup_enabled(engine, enabled=wanted)
        audit.record(
            engine, actor_id=admin.id, action=audit.SIGNUP_TOGGLED, detail=f"enabled={wanted}"
        )
        st.rerun()

with histories_tab:
    st.write("Choose a user to see their sessions. Opening a history is recorded with your reason.")
    owner_name = st.text_input("Owner's username", key="history_owner")
    owner = find_account(engine, username=owner_name.strip().lower()) if owner_name else None
    if owner_name and owner is None:
        st.error("No such user.")
    if owner is not None:
        # Every chat of theirs, pinned and archived ones too: only where it sits is shown.
        sessions = store.list_sessions(owner.id, limit=200, shelf=None)
        # Before a reason, only what identifies a chat without revealing it: the title and the
        # specialty are the user's words, and a session id may be too (an import keeps it).
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "chat": audit.chat_handle(owner.id, summary.session_id),
                        "created": summary.created_at,
                        "updated": summary.updated_at,
                        "messages": summary.message_count,
                        "place": summary.shelf,
                    }
                    for summary in sessions
                ]
            ),
            hide_index=True,
            width="stretch",
        )
        with st.form("open_history"):
            choice = st.selectbox(
                "Session",
                sessions,
                format_func=lambda summary: (
                    f"{audit.chat_handle(owner.id, summary.session_id)} · started "
                    f"{summary.created_at:%Y-%m-%d %H:%M} UTC · {summary.message_count} messages"
                ),
            )
            reason = st.text_input("Reason for opening it (recorded, shown to the user)")
            opened = st.form_submit_button("Open read-only")
        if opened:
            if choice is None:
                st.error("Choose a session.")
            else:
                try:
                    audit.record(
                        engine,
                        actor_id=admin.id,
                        action=audit.HISTORY_VIEWED,
                        subject_user_id=owner.id,
                        session_id=choice.session_id,
                        reason=reason,
                    )
                except audit.AuditError as error:
                    st.error(f"Nothing is shown: {error}.")
                else:
                    st.subheader(plain(choice.title or "New chat"))
                    st.caption(f"Assistant specialized in {plain(choice.ability)}")
                    # Every version is shown: what the chat holds, not only what its owner
                    # sees now.
                    stored = store.load_messages(owner.id, choice.session_id, every_version=True)
                    for message in stored:
                        st.markdown(
                            f"**{message.role}** · {message.created_at:%Y-%m-%d %H:%M:%S} UTC"
                            + (" · interrupted" if message.status == "interrupted" else "")
                            + ("" if message.on_path else " · other version, not shown now")
                        )
                        st.text(message.content)

with audit_tab:
    filter_columns = st.columns(3)
    action_filter = filter_columns[0].selectbox("Action", ["(all)", *audit.ACTIONS])
    since = filter_columns[1].date_input("From", value=None)
    until = filter_columns[2].date_input("Until", value=None)
    filters = {
        "action": None if action_filter == "(all)" else action_filter,
        "since": dt.datetime.combine(since, dt.time.min, dt.UTC) if since else None,
        "until": dt.datetime.combine(until, dt.time.max, dt.UTC) if until else None,
    }
    events = audit.list_events(engine, limit=500, **filters)
    names: dict[str, str] = {}

    def name_of(user_id: str | None) -> str:
        if not user_id:
            return ""
        if user_id not in names:
            account = get_account(engine, user_id=user_id)
            names[user_id] = account.username if account else f"(erased {user_id[:8]})"
        return names[user_id]

    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Time (UTC)": event.at,
                    "Admin": name_of(event.actor_id),
                    "Action": event.action,
                    "Owner": name_of(event.subject_user_id),
                    "Reason": audit.show_invisible(event.reason),
                    "Chat": (
                        audit.chat_handle(event.subject_user_id or "", event.session_id)
                        if event.session_id
                        else ""
                    ),
                    "Detail": event.detail,
                }
                for event in events
            ]
        ),
        hide_index=True,
        width="stretch",
        # Sized for what each column holds, so that the reason, the one free text, has the
        # room; an auto-sized grid gives it an equal share and cuts it off. The CSV has it all.
        column_config={
            "Time (UTC)": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss", width=150),
            "Admin": st.column_config.TextColumn(width=90),
            "Action": st.column_config.TextColumn(width=130),
            "Owner": st.column_config.TextColumn(width=90),
            "Reason": st.column_config.TextColumn(width="large"),
            "Chat": st.column_config.TextColumn(width=100),
            "Detail": st.column_config.TextColumn(width="medium"),
        },
    )
    # Served by the app's own route, to administrators only, with the same filters.
    csv_query = {
        "action": filters["action"] or "",
        "since": since.isoformat() if since else "",
        "until": until.isoformat() if until else "",
    }
    st.link_button(
        "Download as CSV",
        f"{AUDIT_CSV_PATH}?{urlencode(csv_query)}",
        icon=":material/download:",
    )

with usage_tab:
    per_day = pd.DataFrame(messages_per_day(store, days=30), columns=["day", "messages"])
    active = pd.DataFrame(active_users_per_day(store, days=30), columns=["day", "active users"])
    st.subheader("Messages per day (30 days)")
    st.bar_chart(per_day, x="day", y="messages")
    st.subheader("Active users per day (30 days)")
    st.line_chart(active, x="day", y="active users")

with retention_tab:
    days = retention_days(engine)
    st.write(
        "Sessions untouched for longer than the retention period are deleted at app start, "
        "daily while the app runs, and by `python -m manage purge`."
    )
    st.metric("Policy", "keep forever" if days is None else f"{days} days")
    with st.form("retention"):
        keep_forever = st.checkbox("Keep forever", value=days is None)
        new_days = st.number_input("Days", min_value=1, max_value=36500, value=days or 365)
        if st.form_submit_button("Save policy"):
            chosen = None if keep_forever else int(new_days)
            set_retention_days(engine, days=chosen)
            audit.record(
                engine,
                actor_id=admin.id,
                action=audit.RETENTION_CHANGED,
                detail="keep forever" if chosen is None else f"days={chosen}",
            )
            st.rerun()
    purge = last_purge(engine)
    if purge:
        st.caption(
            f"Last purge {purge.at:%Y-%m-%d %H:%M} UTC: {purge.sessions} sessions and "
            f"{purge.messages} messages removed."
        )
    else:
        st.caption("No purge has run yet.")
    if st.button("Purge now"):
        counts = purge_expired(store)
        audit.record_purge(
            engine, sessions=counts.sessions, messages=counts.messages, actor_id=admin.id
        )
        st.success(f"Removed {counts.sessions} sessions and {counts.messages} messages.")
