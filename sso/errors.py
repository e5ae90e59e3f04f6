"""Why a single sign-on was refused. Each refusal carries `notice`, the key under which the
sign-in page shows its one sentence (web/routes.py NOTICES), so a URL can name a refusal but
never put words on the page."""

from __future__ import annotations


class SsoRefused(Exception):
    """A sign-in through the provider that signs nobody in and stores nothing."""

    notice = "sso-refused"


class ProviderUnreachable(SsoRefused):
    notice = "sso-unreachable"


class WrongIssuer(SsoRefused):
    notice = "sso-wrong-issuer"


class BadSignature(SsoRefused):
    notice = "sso-bad-signature"


class TokenExpired(SsoRefused):
    notice = "sso-expired"


class TokenNotYetValid(SsoRefused):
    notice = "sso-not-yet-valid"


class StateMismatch(SsoRefused):
    """No sign-in of this browser is waiting for this answer: replayed, expired, forged, or
    begun in another browser."""

    notice = "sso-state"


class NonceMismatch(SsoRefused):
    """The ID token was not issued for the sign-in this browser began."""

    notice = "sso-nonce"


class ProviderDeclined(SsoRefused):
    """The provider answered with an error (the user cancelled, or the code was refused)."""

    notice = "sso-declined"


class SignupClosed(SsoRefused):
    notice = "sso-signup-closed"


class AccountDisabled(SsoRefused):
    notice = "sso-disabled"


class IdentityTaken(SsoRefused):
    """The provider account is already linked to another account here."""

    notice = "sso-linked-elsewhere"


class SsoNotAllowed(SsoRefused):
    notice = "sso-off"
