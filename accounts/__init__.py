"""The accounts core: users in the database with bcrypt hashes, sign-in with a lockout counted
in the database, revocation of sign-ins, roles and the sign-up switch. No Streamlit here.

account = create_account(engine, username="ada", password="correct horse")  # first: admin
result = authenticate(engine, username="ada", password="correct horse")
if result.account is None and result.locked_until: ...  # locked out
"""

from __future__ import annotations

from accounts.errors import (
    AccountError,
    AccountNotFound,
    InvalidProfile,
    InvalidRole,
    InvalidUsername,
    LastAdmin,
    SignupClosed,
    UsernameTaken,
    WeakPassword,
    WrongPassword,
)
from accounts.lockout import (
    LOCKOUT_DURATION,
    LOCKOUT_FAILURES,
    LOCKOUT_WINDOW,
    clear_failed_sign_ins,
    lock_expires_at,
    prune_failures,
    record_failed_sign_in,
    unlock,
)
from accounts.sign_in import SignInEntry, SignInResult, authenticate, sign_in_entry
from accounts.users import (
    Account,
    change_password,
    count_accounts,
    create_account,
    delete_account,
    ensure_deletable,
    find_account,
    get_account,
    list_accounts,
    reset_password,
    revoke_sign_ins,
    set_disabled,
    set_role,
    set_signup_enabled,
    sign_in_is_current,
    signup_enabled,
    touch_last_active,
)
from accounts.validation import MIN_PASSWORD_CHARS, ROLES

__all__ = [
    "LOCKOUT_DURATION",
    "LOCKOUT_FAILURES",
    "LOCKOUT_WINDOW",
    "MIN_PASSWORD_CHARS",
    "ROLES",
    "Account",
    "AccountError",
    "AccountNotFound",
    "InvalidProfile",
    "InvalidRole",
    "InvalidUsername",
    "LastAdmin",
    "SignInEntry",
    "SignInResult",
    "SignupClosed",
    "UsernameTaken",
    "WeakPassword",
    "WrongPassword",
    "authenticate",
    "change_password",
    "clear_failed_sign_ins",
    "count_accounts",
    "create_account",
    "delete_account",
    "ensure_deletable",
    "find_account",
    "get_account",
    "list_accounts",
    "lock_expires_at",
    "prune_failures",
    "record_failed_sign_in",
    "reset_password",
    "revoke_sign_ins",
    "set_disabled",
    "set_role",
    "set_signup_enabled",
    "sign_in_entry",
    "sign_in_is_current",
    "signup_enabled",
    "touch_last_active",
    "unlock",
]
