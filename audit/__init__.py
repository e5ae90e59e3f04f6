"""The audit core: an append-only log of admin access to chats and of admin actions. It stores
ids, times and the admin's reason, never message content. No Streamlit here.

audit.record(engine, actor_id=admin.id, action=audit.HISTORY_VIEWED,
             subject_user_id=owner.id, session_id=session_id, reason="user asked for help")
"""

from __future__ import annotations

from audit.log import (
    ACCOUNT_ERASED,
    ACTIONS,
    HISTORY_VIEWED,
    PASSWORD_RESET,
    QUOTA_CHANGED,
    RETENTION_CHANGED,
    RETENTION_PURGED,
    ROLE_CHANGED,
    SIGN_IN_METHODS_CHANGED,
    SIGNUP_TOGGLED,
    USER_CREATED,
    USER_DISABLED,
    USER_ENABLED,
    USER_UNLOCKED,
    AuditEntry,
    AuditError,
    AuditUnavailable,
    chat_handle,
    check_reason,
    events_csv,
    list_events,
    record,
    record_purge,
    show_invisible,
    visible_letters,
)

__all__ = [
    "ACCOUNT_ERASED",
    "ACTIONS",
    "HISTORY_VIEWED",
    "PASSWORD_RESET",
    "QUOTA_CHANGED",
    "RETENTION_CHANGED",
    "RETENTION_PURGED",
    "ROLE_CHANGED",
    "SIGNUP_TOGGLED",
    "SIGN_IN_METHODS_CHANGED",
    "USER_CREATED",
    "USER_DISABLED",
    "USER_ENABLED",
    "USER_UNLOCKED",
    "AuditEntry",
    "AuditError",
    "AuditUnavailable",
    "chat_handle",
    "check_reason",
    "events_csv",
    "list_events",
    "record",
    "record_purge",
    "show_invisible",
    "visible_letters",
]
