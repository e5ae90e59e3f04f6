"""Admin: users, stored histories (opened only with a recorded reason), the audit log, usage,
retention. Registered in app.py for admins only; `require_admin` guards it again here."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

import audit
import sso
from accounts import (
    Account,
    count_accounts,
    find_account,
    get_account,
    list_accounts,
    set_signup_enabled,
    signup_enabled,
)
from accounts.bulk_import import ImportRefused, import_accounts, issued_csv, read_accounts_csv
from llm import ModelError
from memory.export import ROLE_NAMES
from memory.retention import last_purge, purge_expired, retention_days, set_retention_days
from memory.stats import active_users_per_day, messages_per_day, user_usage
from memory.store import AuditedReader
from quotas import (
    MAX_LIMIT,
    InvalidLimit,
    Limits,
    default_limits,
    own_limits,
    set_default_limits,
    set_own_limits,
    todays_use,
)
from ui.admin_actions import (
    HISTORIES_TAB,
    NOTICE_KEY,
    TABLE_ROUND_KEY,
    selected_account,
    show_account_actions,
)
from ui.auth import require_admin
from ui.charts import usage_chart
from ui.chat_groups import zone_named
from ui.resources import chat_model, chat_store
from ui.text import plain
from ui.words import ACTION_WORDS, TABLE_TIME_FORMAT, counted, sentence, when
from web.routes import AUDIT_CSV_PATH, USERS_CSV_PATH

USERS_PER_PAGE = 50
USER_COLUMNS = (
    "username",
    "name",
    "role",
    "state",
    "last active",
    "sessions",
    "messages",
    "messages today",
    "≈ tokens today",
)
TABS_KEY = "admin_tabs"
OWNER_KEY = "history_owner"
# The temporary passwords of the last import, until the admin says they are saved.
ISSUED_KEY = "admin_issued_passwords"
# Bumped after an import, so the upload box starts empty again.
UPLOAD_KEY = "admin_import_upload"
QUOTA_NOTICE_KEY = "admin_quota_notice"

admin = require_admin()
store = chat_store()
engine = store.engine
# Times are shown in the admin's own zone, as the browser reports it.
zone = zone_named(st.context.timezone)
zone_name = getattr(zone, "key", "UTC")

st.title("Admin")
users_tab, histories_tab, audit_tab, usage_tab, quotas_tab, retention_tab = st.tabs(
    ["Users", HISTORIES_TAB, "Audit log", "Usage", "Quotas", "Retention"], key=TABS_KEY
)


def account_named(label: str, *, key: str) -> Account | None:
    """A username box; the account it names, or None (with "No such user." once one is typed)."""
    name = st.text_input(label, key=key)
    found = find_account(engine, username=name.strip().lower()) if name else None
    if name and found is None:
        st.error("No such user.")
    return found


def used_of(used: int, limit: int | None) -> str:
    return f"{used:,}" if limit is None else f"{used:,} / {limit:,}"


def limit_text(limit: int | None, *, unset: str) -> str:
    return unset if limit is None else f"{limit:,}"


with users_tab:
    search_column, sort_column, order_column = st.columns([3, 2, 1.6], vertical_alignment="bottom")
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
    today = todays_use(engine, [account.id for account in accounts])
    ways_in = sso.sign_in_ways(engine, [account.id for account in accounts])
    # The table's own export is off (config.toml): display names are typed by users, and
    # this CSV writes a formula in one as text.
    st.link_button("Download all users as CSV", USERS_CSV_PATH, icon=":material/download:")
    table = st.dataframe(
        pd.DataFrame(
            [
                {
                    "username": account.username,
                    "name": account.display_name,
                    "role": account.role,
                    "signs in with": ways_in.get(account.id, "password"),
                    "created": account.created_at,
                    "last active": account.last_active_at,
                    "sessions": usage[account.id].sessions,
                    "messages": usage[account.id].messages,
                    "≈ tokens": usage[account.id].approx_tokens,
                    # Today's use against the limit in force, for this page's users only.
                    "messages today": used_of(
                        today[account.id].messages_used,
                        today[account.id].limits.messages_per_day,
                    ),
                    "≈ tokens today": used_of(
                        today[account.id].tokens_used, today[account.id].limits.tokens_per_day
                    ),
                    "state": "disabled"
                    if account.disabled
                    else "locked"
                    if account.locked_until and account.locked_until > dt.datetime.now(dt.UTC)
                    else "temporary password expired"
                    if account.must_choose_password
                    and account.password_expires_at <= dt.datetime.now(dt.UTC)
                    else "temporary password"
                    if account.must_choose_password
                    else "active",
                }
                for account in accounts
            ]
        ),
        hide_index=True,
        width="stretch",
        # What fits at 1280 px without a sideways scroll; the picked account's line below and
        # the CSV have the rest (when it was created, how it signs in, its tokens in all).
        column_order=USER_COLUMNS,
        column_config={
            "username": st.column_config.TextColumn(width=100),
            "name": st.column_config.TextColumn(width=100),
            "role": st.column_config.TextColumn(width=55),
            "state": st.column_config.TextColumn(width=95),
            "last active": st.column_config.DatetimeColumn(
                format=TABLE_TIME_FORMAT, timezone=zone_name, width=125
            ),
            "sessions": st.column_config.NumberColumn("chats", width=50),
            "messages": st.column_config.NumberColumn(width=75),
            "messages today": st.column_config.TextColumn("today", width=70),
            "≈ tokens today": st.column_config.TextColumn("≈ tokens today", width=105),
        },
        on_select="rerun",
        selection_mode="single-row",
        # A new table (no row picked) for each listing, and after each action.
        key=f"users-{search}-{sort}-{descending}-{page}-{st.session_state.get(TABLE_ROUND_KEY, 0)}",
    )
    st.caption(counted(total, "user") + " · pick one in the table for its actions")

    if notice := st.session_state.pop(NOTICE_KEY, None):
        st.success(notice)
    target = selected_account(engine, accounts, list(table.selection.rows))
    if target is not None:
        used = user_usage(store, user_ids=[target.id])[target.id]
        about = (
            f"Created {when(target.created_at, zone)} · signs in with "
            f"{sso.sign_in_ways(engine, [target.id]).get(target.id, 'password')} · "
            f"about {used.approx_tokens:,} tokens in all"
        )
        show_account_actions(
            engine, admin, target, about=about, tabs_key=TABS_KEY, owner_key=OWNER_KEY
        )

    st.header("Create accounts from a CSV file")
    issued = st.session_state.get(ISSUED_KEY)
    # Only the admin who made them sees them, even if another signs in in this browser session.
    if issued is not None and issued[0] == admin.id:
        _, count, passwords = issued
        st.success(
            f"{count:,} accounts created. Download their temporary passwords now: they are "
            "shown only this once. Each must be replaced at its first sign-in."
        )
        saved_column, done_column = st.columns([1, 1])
        saved_column.download_button(
            "Download temporary passwords (CSV)",
            passwords,
            file_name="temporary-passwords.csv",
            mime="text/csv",
            icon=":material/download:",
            on_click="ignore",
        )
        if done_column.button("I have saved them: forget them"):
            st.session_state.pop(ISSUED_KEY, None)
            st.rerun()
    else:
        st.caption(
            "The first line names the columns: username, display_name, role (admin or user; "
            "blank is user), email (optional). One account per line. A bad line stops the "
            "whole import, and nothing is created."
        )
        upload_round = st.session_state.get(UPLOAD_KEY, 0)
        upload = st.file_uploader("CSV file", type=["csv"], key=f"import-users-{upload_round}")
        if upload is not None and st.button("Create the accounts", type="primary"):
            try:
                new_accounts = read_accounts_csv(upload.getvalue().decode("utf-8"), engine=engine)
                with st.spinner(f"Creating {len(new_accounts):,} accounts…"):
                    created = import_accounts(engine, new_accounts, actor_id=admin.id)
                    # Kept before the next Streamlit call: a click meanwhile stops this run
                    # there, and the accounts exist already.
                    st.session_state[ISSUED_KEY] = (admin.id, len(created), issued_csv(created))
            except UnicodeDecodeError:
                st.error("Nothing was imported: the file is not UTF-8 text. Save it as CSV UTF-8.")
            except ImportRefused as error:
                st.error(f"Nothing was imported: {len(error.problems):,} lines need fixing.")
                st.dataframe(
                    pd.DataFrame(
                        [{"line": p.line, "problem": p.reason} for p in error.problems[:500]]
                    ),
                    hide_index=True,
                )
            else:
                st.session_state[UPLOAD_KEY] = upload_round + 1
                st.rerun()

    enabled = signup_enabled(engine)
    wanted = st.toggle("Anyone may create an account", value=enabled)
    if wanted != enabled:
        set_signup_enabled(engine, enabled=wanted)
        audit.record(
            engine, actor_id=admin.id, action=audit.SIGNUP_TOGGLED, detail=f"enabled={wanted}"
        )
        st.rerun()

    provider = sso.oidc_settings()
    if provider is not None:
        labels = {
            sso.BOTH: f"Password or {provider.provider_name}",
            sso.SSO: f"{provider.provider_name} only",
            sso.PASSWORD: "Password only",
        }
        chosen = sso.stored_choice(engine)
        choice = st.radio(
            "How people sign in",
            list(labels),
            index=list(labels).index(chosen),
            format_func=labels.__getitem__,
            horizontal=True,
            help="With single sign-on only, the password form and sign-up are gone from the "
            "sign-in page. New accounts through the provider still need sign-up open.",
        )
        if choice == sso.SSO != chosen and not sso.identities_of(engine, user_id=admin.id):
            # Password accounts reach theirs only through a link: an admin who has none
            # would lock themselves out.
            st.error(
                f"First link your own account to {provider.provider_name} (Account → Link to "
                f"{provider.provider_name}), or you could not sign in as an administrator."
            )
        elif choice != chosen:
            sso.set_sign_in_methods(engine, choice)
            audit.record(
                engine,
                actor_id=admin.id,
                action=audit.SIGN_IN_METHODS_CHANGED,
                detail=f"{chosen} → {choice}",
            )
            st.rerun()

with histories_tab:
    st.write("Choose a user to see their sessions. Opening a history is recorded with your reason.")
    owner = account_named("Owner's username", key=OWNER_KEY)
    if owner is not None:
        # Every chat of theirs, pinned and archived ones too: only where it sits is shown.
        sessions = store.outline_sessions(owner.id, limit=200)
        # Before a reason, only what identifies a chat without revealing it: the title and the
        # specialty are the user's words, and a session id may be too (an import keeps it).
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "started": summary.created_at,
                        "last message": summary.updated_at,
                        "messages": summary.message_count,
                        "place": summary.shelf,
                        "chat": audit.chat_handle(owner.id, summary.session_id),
                    }
                    for summary in sessions
                ]
            ),
            hide_index=True,
            width="stretch",
            column_config={
                "started": st.column_config.DatetimeColumn(
                    format=TABLE_TIME_FORMAT, timezone=zone_name
                ),
                "last message": st.column_config.DatetimeColumn(
                    format=TABLE_TIME_FORMAT, timezone=zone_name
                ),
            },
        )
        with st.form("open_history"):
            # By its dates and size: its title is the owner's words, shown once the reason is
            # recorded.
            choice = st.selectbox(
                "Chat",
                sessions,
                format_func=lambda summary: (
                    f"Started {when(summary.created_at, zone)} · last message "
                    f"{when(summary.updated_at, zone)} · {counted(summary.message_count, 'message')}"
                ),
            )
            reason = st.text_input("Reason for opening it (recorded, shown to the user)")
            opened = st.form_submit_button("Open read-only")
        if opened:
            if choice is None:
                st.error("Choose a chat.")
            else:
                try:
                    opening = audit.record(
                        engine,
                        actor_id=admin.id,
                        action=audit.HISTORY_VIEWED,
                        subject_user_id=owner.id,
                        session_id=choice.session_id,
                        reason=reason,
                    )
                except audit.AuditError as error:
                    st.error(f"Nothing is shown. {sentence(str(error))}")
                else:
                    # Read under that audit row: on PostgreSQL the database itself checks it.
                    reader = AuditedReader(admin_id=admin.id, audit_id=opening.id)
                    chat = store.get_session(owner.id, choice.session_id, reader=reader)
                    stored = store.load_messages(
                        owner.id, choice.session_id, every_version=True, reader=reader
                    )
                    if chat is None:
                        st.info("This chat was deleted meanwhile.")
                    else:
                        st.header(plain(chat.title or "New chat"))
                        st.caption(f"Assistant specialized in {plain(chat.ability)}")
                    # Every version is shown: what the chat holds, not only what its owner
                    # sees now.
                    for message in stored:
                        st.markdown(
                            f"**{ROLE_NAMES.get(message.role, message.role)}** · "
                            f"{when(message.created_at, zone)}"
                            + (" · interrupted" if message.status == "interrupted" else "")
                            + ("" if message.on_path else " · other version, not shown now")
                        )
                        st.text(message.content)

with audit_tab:
    filter_columns = st.columns(3)
    action_filter = filter_columns[0].selectbox(
        "Action",
        ["(all)", *audit.ACTIONS],
        format_func=lambda action: ACTION_WORDS.get(action, "Every action"),
    )
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
                    "Time": event.at,
                    "Admin": name_of(event.actor_id),
                    "Action": ACTION_WORDS[event.action],
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
        # Sized to fit 1280 px with no sideways scroll; a long reason or detail is cut with an
        # ellipsis here and is whole in the CSV below.
        column_config={
            "Time": st.column_config.DatetimeColumn(
                format="D MMM YYYY, HH:mm:ss", timezone=zone_name, width=140
            ),
            "Admin": st.column_config.TextColumn(width=80),
            "Action": st.column_config.TextColumn(width=160),
            "Owner": st.column_config.TextColumn(width=80),
            "Reason": st.column_config.TextColumn(width=150),
            "Chat": st.column_config.TextColumn(width=95),
            "Detail": st.column_config.TextColumn(width=95),
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
    try:
        # Users see only the model's name; where it is served from is shown here.
        st.caption(f"Model in use: {chat_model()[0].label}")
    except ModelError as error:
        st.caption(f"Model unavailable: {error.user_message}")
    per_day = pd.DataFrame(messages_per_day(store, days=30), columns=["day", "messages"])
    active = pd.DataFrame(active_users_per_day(store, days=30), columns=["day", "active users"])
    st.header("Messages per day (30 days)")
    st.altair_chart(usage_chart(per_day, "messages", "bar"), width="stretch")
    st.header("Active users per day (30 days)")
    st.altair_chart(usage_chart(active, "active users", "line"), width="stretch")

with quotas_tab:
    st.write(
        "A question over its user's limit is refused before the model is called, with the "
        "time its quota resets (midnight UTC). Tokens are approximate: prompt plus answer, "
        "counted as the model's context window counts them. The Users tab shows today's use."
    )

    def limits_form(
        form: str, current: Limits, *, unset: str, submit: str, owner: str = ""
    ) -> Limits | None:
        """A form of the two limits, each with a box to leave it unset; the Limits chosen
        when submitted. Its widgets are keyed on `owner`: another user's form starts afresh."""
        with st.form(form):
            chosen = []
            fields = (
                ("Messages per day", current.messages_per_day, 1, 100),
                ("Tokens per day (approximate)", current.tokens_per_day, 1000, 100_000),
            )
            for column, (label, value, step, suggested) in zip(st.columns(2), fields, strict=True):
                off = column.checkbox(
                    f"{label}: {unset}", value=value is None, key=f"{form}-{owner}-{step}-off"
                )
                number = column.number_input(
                    label,
                    key=f"{form}-{owner}-{step}",
                    min_value=0,
                    max_value=MAX_LIMIT,
                    value=suggested if value is None else value,
                    step=step,
                )
                chosen.append(None if off else int(number))
            if st.form_submit_button(submit):
                return Limits(*chosen)
        return None

    def record_quota_change(before: Limits, chosen: Limits, unset: str, **subject: str) -> None:
        def change(name: str, old: int | None, new: int | None) -> str:
            return f"{name} {limit_text(old, unset=unset)} → {limit_text(new, unset=unset)}"

        audit.record(
            engine,
            actor_id=admin.id,
            action=audit.QUOTA_CHANGED,
            detail=("" if subject else "default: ")
            + change("messages", before.messages_per_day, chosen.messages_per_day)
            + ", "
            + change("tokens", before.tokens_per_day, chosen.tokens_per_day),
            **subject,
        )

    st.header("Default, for every user without limits of their own")
    before = default_limits(engine)
    chosen = limits_form("default_quota", before, unset="no limit", submit="Save default")
    if chosen is not None:
        try:
            set_default_limits(engine, chosen)
        except InvalidLimit as error:
            st.error(sentence(str(error)))
        else:
            record_quota_change(before, chosen, "none")
            st.session_state[QUOTA_NOTICE_KEY] = "Default quota saved."
            st.rerun()

    st.header("One user's own limits")
    target = account_named("Username", key="quota_user")
    if target is not None:
        status = todays_use(engine, [target.id])[target.id]
        st.caption(
            f"{target.username} today: "
            f"{used_of(status.messages_used, status.limits.messages_per_day)} messages, about "
            f"{used_of(status.tokens_used, status.limits.tokens_per_day)} tokens."
        )
        before = own_limits(engine, target.id)
        chosen = limits_form(
            "user_quota",
            before,
            unset="the default",
            submit="Save for this user",
            owner=target.id,
        )
        if chosen is not None:
            try:
                set_own_limits(engine, target.id, chosen)
            except InvalidLimit as error:
                st.error(sentence(str(error)))
            else:
                record_quota_change(before, chosen, "default", subject_user_id=target.id)
                st.session_state[QUOTA_NOTICE_KEY] = f"Quota saved for {target.username}."
                st.rerun()
    if notice := st.session_state.pop(QUOTA_NOTICE_KEY, None):
        st.success(notice)

with retention_tab:
    days = retention_days(engine)
    st.write(
        "Sessions untouched for longer than the retention period are deleted at app start, "
        "daily while the app runs, and by `python -m manage purge`."
    )
    st.metric("Policy", "keep forever" if days is None else f"{days} days")
    # Not a form: the Days box must follow the Keep forever box as it is ticked.
    keep_forever = st.checkbox("Keep forever", value=days is None, key="retention_forever")
    new_days = st.number_input(
        "Days", min_value=1, max_value=36500, value=days or 365, disabled=keep_forever
    )
    if st.button("Save policy"):
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
            f"Last purge {when(purge.at, zone)}: {counted(purge.sessions, 'chat')} and "
            f"{counted(purge.messages, 'message')} removed."
        )
    else:
        st.caption("No purge has run yet.")
    if st.button("Purge now"):
        counts = purge_expired(store)
        audit.record_purge(
            engine, sessions=counts.sessions, messages=counts.messages, actor_id=admin.id
        )
        st.success(
            f"Removed {counted(counts.sessions, 'chat')} and {counted(counts.messages, 'message')}."
        )
