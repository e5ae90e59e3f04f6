"""Which ways of signing in an admin allows: passwords, single sign-on, or both.

Stored in app_settings. Single sign-on counts only while it is configured (sso/config.py):
should its settings go, password sign-in comes back whatever was stored, so an instance can
never be left with no way in at all."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from accounts.errors import AccountsUnavailable
from database.app_settings import read_setting, write_setting
from database.outages import module_outages_raise

METHODS_SETTING = "sign_in_methods"
PASSWORD, SSO, BOTH = "password", "sso", "both"
CHOICES = (PASSWORD, SSO, BOTH)


@dataclass(frozen=True)
class SignInMethods:
    password: bool
    sso: bool

    @property
    def choice(self) -> str:
        return BOTH if self.password and self.sso else SSO if self.sso else PASSWORD


def stored_choice(engine: Engine) -> str:
    """What the admin chose; both, on an instance where nobody chose yet."""
    stored = read_setting(engine, METHODS_SETTING)
    return stored if stored in CHOICES else BOTH


def sign_in_methods(engine: Engine, *, sso_configured: bool) -> SignInMethods:
    """The ways in that are open now."""
    if not sso_configured:
        return SignInMethods(password=True, sso=False)
    choice = stored_choice(engine)
    return SignInMethods(password=choice != SSO, sso=choice != PASSWORD)


def set_sign_in_methods(engine: Engine, choice: str) -> None:
    """Allow `choice` (one of CHOICES); ValueError for anything else."""
    if choice not in CHOICES:
        raise ValueError(f"sign-in methods must be one of {', '.join(CHOICES)}, not {choice!r}")
    write_setting(engine, METHODS_SETTING, choice)


# Every public function here reports an unreachable database as AccountsUnavailable.
module_outages_raise(globals(), AccountsUnavailable)
