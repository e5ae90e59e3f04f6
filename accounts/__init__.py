"""The accounts core: users in the database with bcrypt hashes, sign-in under guess limits
counted in the database (per username and client, with a per-name ceiling that spares browsers
that signed in before), server-side sign-ins behind opaque cookie tokens, revocation, roles and
the sign-up switch. No Streamlit here.

account = create_account(engine, username="ada", password="correct horse")  # first: admin
result = authenticate(engine, username="ada", password="correct horse", client="203.0.113.9",
                      browser=browser_cookie)
if result.account is None and result.locked_until: ...  # locked out (this client)
sign_in, ticket = start_sign_in(engine, user_id=result.account.id, device=device_summary(agent),
                                browser=browser_cookie, lifetime=timedelta(days=7))
"""

from __future__ import annotations

from accounts.errors import (
    AccountError,
    AccountNotFound,
    AccountsUnavailable,
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
    NAME_CEILING_FAILURES,
    NAME_CEILING_WINDOW,
    lock_expires_at,
    prune_failures,
    unlock,
)
from accounts.sign_in import SignInResult, authenticate
from accounts.sign_ins import (
    HANDOVER_SECONDS,
    Handover,
    SignIn,
    complete_handover,
    device_summary,
    end_all_sign_ins,
    end_sign_in,
    find_sign_in,
    get_sign_in,
    list_sign_ins,
    prune_sign_ins,
    safe_next_path,
    start_sign_in,
    touch_sign_in,
)
from accounts.users import (
    Account,
    change_password,
    count_accounts,
    create_account,
    delete_account,
    ensure_deletable,
    find_account,
    get_account,
    has_password,
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
    "HANDOVER_SECONDS",
    "LOCKOUT_DURATION",
    "LOCKOUT_FAILURES",
    "LOCKOUT_WINDOW",
    "MIN_PASSWORD_CHARS",
    "NAME_CEILING_FAILURES",
    "NAME_CEILING_WINDOW",
    "ROLES",
    "Account",
    "AccountError",
    "AccountNotFound",
    "AccountsUnavailable",
    "Handover",
    "InvalidProfile",
    "InvalidRole",
    "InvalidUsername",
    "LastAdmin",
    "SignIn",
    "SignInResult",
    "SignupClosed",
    "UsernameTaken",
    "WeakPassword",
    "WrongPassword",
    "authenticate",
    "change_password",
    "complete_handover",
    "count_accounts",
    "create_account",
    "delete_account",
    "device_summary",
    "end_all_sign_ins",
    "end_sign_in",
    "ensure_deletable",
    "find_account",
    "find_sign_in",
    "get_account",
    "get_sign_in",
    "has_password",
    "list_accounts",
    "list_sign_ins",
    "lock_expires_at",
    "prune_failures",
    "prune_sign_ins",
    "reset_password",
    "revoke_sign_ins",
    "safe_next_path",
    "set_disabled",
    "set_role",
    "set_signup_enabled",
    "sign_in_is_current",
    "signup_enabled",
    "start_sign_in",
    "touch_last_active",
    "touch_sign_in",
    "unlock",
]
