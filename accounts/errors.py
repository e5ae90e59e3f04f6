"""The accounts core's named exceptions. Every message is written for the person at the
keyboard, so a page can show `str(error)` as it is."""

from __future__ import annotations

from database.outages import DatabaseUnavailable


class AccountError(ValueError):
    """Base of every error the accounts core raises on purpose."""


class InvalidUsername(AccountError):
    """A username that breaks the rule: 3-64 characters of a-z, 0-9, '.', '_' and '-'."""


class UsernameTaken(AccountError):
    """Another account already has this username."""


class WeakPassword(AccountError):
    """A password too short, too long for bcrypt, or with spaces at either end."""


class InvalidProfile(AccountError):
    """A display name or e-mail address that cannot be stored (too long, control characters)."""


class InvalidRole(AccountError):
    """A role other than "admin" or "user"."""


class SignupClosed(AccountError):
    """Sign-up is switched off and this is not the very first account."""


class LastAdmin(AccountError):
    """The change would leave no enabled administrator."""


class WrongPassword(AccountError):
    """The current password given to confirm a change is not right."""


class AccountNotFound(AccountError, LookupError):
    """No account has this id or username."""


class AccountsUnavailable(AccountError, DatabaseUnavailable):
    """The accounts database cannot be reached now; nothing was changed."""
