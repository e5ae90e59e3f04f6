"""The rules for usernames, passwords, names and roles, checked once where values enter the core.

The sign-in form (streamlit-authenticator) strips and lower-cases what is typed, so usernames are
stored that way, and a password with spaces at either end could never be typed back: both rules
follow from the form, not from taste."""

from __future__ import annotations

import re
import unicodedata

from accounts.errors import InvalidProfile, InvalidRole, InvalidUsername, WeakPassword

ROLES = ("admin", "user")
MIN_USERNAME_CHARS = 3
MAX_USERNAME_CHARS = 64
MIN_PASSWORD_CHARS = 8
# bcrypt reads at most 72 bytes; longer passwords are refused rather than silently truncated.
MAX_PASSWORD_BYTES = 72
MAX_DISPLAY_NAME_CHARS = 100
MAX_EMAIL_CHARS = 255

_USERNAME = re.compile(rf"[a-z0-9._-]{{{MIN_USERNAME_CHARS},{MAX_USERNAME_CHARS}}}")
USERNAME_RULE = (
    f"{MIN_USERNAME_CHARS}-{MAX_USERNAME_CHARS} characters: lower-case letters a-z, digits "
    "and . _ -"
)


def normalise_username(username: str) -> str:
    """The username as the sign-in form sends it: stripped and lower-cased."""
    return username.strip().lower()


def is_valid_username(username: str) -> bool:
    """True if `username` (already normalised) follows the username rule."""
    return _USERNAME.fullmatch(username) is not None


def check_username(username: object) -> str:
    """Return the normalised username, or raise InvalidUsername naming the rule."""
    if not isinstance(username, str):
        raise InvalidUsername(f"a username must be text; use {USERNAME_RULE}")
    normalised = normalise_username(username)
    if not is_valid_username(normalised):
        raise InvalidUsername(f"{username!r} is not a valid username: use {USERNAME_RULE}")
    return normalised


def check_password(password: object) -> str:
    """Return `password` if it can be stored and typed back, else raise WeakPassword."""
    if not isinstance(password, str):
        raise WeakPassword("a password must be text")
    if len(password) < MIN_PASSWORD_CHARS:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    try:
        size = len(password.encode("utf-8"))
    except UnicodeEncodeError:
        raise WeakPassword("the password contains invalid unicode") from None
    if size > MAX_PASSWORD_BYTES:
        raise WeakPassword(
            f"a password can be at most {MAX_PASSWORD_BYTES} bytes long (this one is {size}; "
            "accented letters and symbols count as 2-4)"
        )
    if password != password.strip():
        raise WeakPassword(
            "a password cannot start or end with a space: the sign-in form would cut it off"
        )
    return password


def _printable(value: str) -> bool:
    return not any(unicodedata.category(char) in ("Cc", "Cs") for char in value)


def check_display_name(display_name: object) -> str:
    """Return the stripped display name, or raise InvalidProfile."""
    if not isinstance(display_name, str):
        raise InvalidProfile("a display name must be text")
    display_name = display_name.strip()
    if len(display_name) > MAX_DISPLAY_NAME_CHARS:
        raise InvalidProfile(
            f"a display name can be at most {MAX_DISPLAY_NAME_CHARS} characters long"
        )
    if not _printable(display_name):
        raise InvalidProfile("a display name cannot contain control characters")
    return display_name


def check_email(email: object) -> str:
    """Return the stripped e-mail address (may be empty), or raise InvalidProfile."""
    if not isinstance(email, str):
        raise InvalidProfile("an e-mail address must be text")
    email = email.strip()
    if len(email) > MAX_EMAIL_CHARS:
        raise InvalidProfile(f"an e-mail address can be at most {MAX_EMAIL_CHARS} characters long")
    if email and ("@" not in email or any(char.isspace() for char in email)):
        raise InvalidProfile(f"{email!r} is not an e-mail address")
    if not _printable(email):
        raise InvalidProfile("an e-mail address cannot contain control characters")
    return email


def check_role(role: object) -> str:
    """Return `role` if it is one of ROLES, else raise InvalidRole."""
    if role not in ROLES:
        raise InvalidRole(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    return str(role)


def could_be_account_id(user_id: object) -> bool:
    """False for what no account id can be, so a lookup can answer "none" without asking the
    database (PostgreSQL would even raise on a NUL character)."""
    return isinstance(user_id, str) and 0 < len(user_id) <= 32 and user_id.isalnum()
