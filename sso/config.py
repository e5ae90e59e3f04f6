"""The OpenID Connect settings (OIDC_*), read from the environment or .streamlit/secrets.toml.

Single sign-on is on when OIDC_CLIENT_ID is set. Then the provider is named by OIDC_ISSUER (its
discovery document is <issuer>/.well-known/openid-configuration), by OIDC_METADATA_URL, or by
both; with both, the document's issuer must be OIDC_ISSUER exactly."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import settings
from settings import ConfigurationError

DISCOVERY_PATH = "/.well-known/openid-configuration"
DEFAULT_SCOPES = "openid profile email"
DEFAULT_USERNAME_CLAIM = "preferred_username"
DEFAULT_PROVIDER_NAME = "single sign-on"
DEFAULT_TIMEOUT_SECONDS = 10.0
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class OidcSettings:
    client_id: str
    client_secret: str
    metadata_url: str
    # None when only the metadata URL is configured: then the document's own issuer counts.
    issuer: str | None
    scopes: str
    username_claim: str
    provider_name: str
    # The callback URL registered at the provider; None: this app's own URL as requested.
    redirect_url: str | None
    timeout_seconds: float


def _checked_url(name: str, url: str) -> str:
    parts = urlsplit(url)
    loopback = parts.hostname in LOOPBACK_HOSTS
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        # Tokens and the client secret travel over this: plain HTTP only to this machine.
        raise ConfigurationError(f"{name} must be an https:// URL (http:// only for localhost)")
    if not parts.hostname:
        raise ConfigurationError(f"{name} {url[:80]!r} has no host")
    return url


def _setting(name: str, default: str | None = None) -> str | None:
    # A value of spaces alone is a slip of the pen, not a setting.
    value = settings.get(name)
    value = None if value is None else value.strip() or None
    return default if value is None else value


def oidc_settings() -> OidcSettings | None:
    """The provider's settings, None when single sign-on is not configured, or a
    ConfigurationError naming the setting that is missing or wrong."""
    client_id = _setting("OIDC_CLIENT_ID")
    issuer = _setting("OIDC_ISSUER")
    metadata_url = _setting("OIDC_METADATA_URL")
    if client_id is None:
        if issuer or metadata_url:
            raise ConfigurationError("OIDC_CLIENT_ID is not set, so single sign-on cannot work")
        return None
    client_secret = _setting("OIDC_CLIENT_SECRET")
    if client_secret is None:
        raise ConfigurationError("OIDC_CLIENT_SECRET is not set (the provider's client secret)")
    if issuer is None and metadata_url is None:
        raise ConfigurationError("set OIDC_ISSUER (or OIDC_METADATA_URL) for single sign-on")
    if issuer is not None:
        issuer = _checked_url("OIDC_ISSUER", issuer)
    metadata_url = _checked_url(
        "OIDC_METADATA_URL", metadata_url or issuer.rstrip("/") + DISCOVERY_PATH
    )
    scopes = _setting("OIDC_SCOPES") or DEFAULT_SCOPES
    if "openid" not in scopes.split():
        raise ConfigurationError("OIDC_SCOPES must include openid")
    redirect_url = _setting("OIDC_REDIRECT_URL")
    if redirect_url is not None:
        redirect_url = _checked_url("OIDC_REDIRECT_URL", redirect_url)
    return OidcSettings(
        client_id=client_id,
        client_secret=client_secret,
        metadata_url=metadata_url,
        issuer=issuer,
        scopes=scopes,
        username_claim=_setting("OIDC_USERNAME_CLAIM") or DEFAULT_USERNAME_CLAIM,
        provider_name=_setting("OIDC_PROVIDER_NAME") or DEFAULT_PROVIDER_NAME,
        redirect_url=redirect_url,
        timeout_seconds=_timeout_seconds(),
    )


def _timeout_seconds() -> float:
    try:
        return settings.get_float("OIDC_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS)
    except ValueError as error:
        raise ConfigurationError(str(error)) from None
