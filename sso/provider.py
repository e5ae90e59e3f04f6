"""What the app knows of the provider: its discovery document and signing keys, fetched over
HTTP and kept for a few minutes (every sign-in would otherwise make two extra requests)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from sso.config import OidcSettings
from sso.errors import ProviderUnreachable, WrongIssuer

# Long enough to spare the provider, short enough that a changed configuration is seen soon.
CACHE_SECONDS = 300.0
# A token naming a key nobody published makes the keys be fetched again, at most this often:
# tokens with made-up key ids cannot make every sign-in call the provider.
REFRESH_SECONDS = 60.0
REQUIRED_FIELDS = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    token_auth_methods: tuple[str, ...]
    # RFC 9207: the provider names itself in every answer, which must then be checked.
    sends_iss: bool


_cache: dict[str, tuple[float, Any]] = {}
_lock = threading.Lock()


def forget_provider() -> None:
    """Drop what was fetched (tests point the app at a new provider)."""
    with _lock:
        _cache.clear()


def _fetch_json(url: str, timeout: float) -> dict[str, Any]:
    try:
        response = requests.get(url, timeout=timeout, headers={"Accept": "application/json"})
        response.raise_for_status()
        body = response.json()
    except (requests.RequestException, ValueError) as error:
        raise ProviderUnreachable(f"{url}: {error}") from error
    if not isinstance(body, dict):
        raise ProviderUnreachable(f"{url} did not answer with a JSON object")
    return body


def _cached(key: str, load: Any, *, refresh: bool = False) -> Any:
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
        fresh_for = REFRESH_SECONDS if refresh else CACHE_SECONDS
        if hit is not None and now - hit[0] < fresh_for:
            return hit[1]
    value = load()
    with _lock:
        _cache[key] = (now, value)
    return value


def provider_metadata(config: OidcSettings) -> ProviderMetadata:
    """The provider's discovery document, checked: it must name the configured issuer exactly
    (OpenID Connect Discovery 1.0, section 4.3), or a document from elsewhere could make this
    app accept another provider's tokens."""

    def load() -> ProviderMetadata:
        body = _fetch_json(config.metadata_url, config.timeout_seconds)
        missing = [name for name in REQUIRED_FIELDS if not isinstance(body.get(name), str)]
        if missing:
            raise ProviderUnreachable(f"the discovery document lacks {', '.join(missing)}")
        methods = body.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        return ProviderMetadata(
            issuer=body["issuer"],
            authorization_endpoint=body["authorization_endpoint"],
            token_endpoint=body["token_endpoint"],
            jwks_uri=body["jwks_uri"],
            token_auth_methods=tuple(str(method) for method in methods),
            sends_iss=body.get("authorization_response_iss_parameter_supported") is True,
        )

    metadata = _cached(f"metadata {config.metadata_url}", load)
    if config.issuer is not None and metadata.issuer != config.issuer:
        raise WrongIssuer(
            f"the discovery document names issuer {metadata.issuer!r}, not {config.issuer!r}"
        )
    return metadata


def signing_keys(
    config: OidcSettings, metadata: ProviderMetadata, *, refresh: bool = False
) -> KeySet:
    """The provider's public signing keys (its JWKS). `refresh` fetches them again, for a token
    signed with a key rotated in since they were fetched."""

    def load() -> KeySet:
        body = _fetch_json(metadata.jwks_uri, config.timeout_seconds)
        try:
            return KeySet.import_key_set(body)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as error:
            raise ProviderUnreachable(f"the provider's keys cannot be read: {error}") from error

    return _cached(f"keys {metadata.jwks_uri}", load, refresh=refresh)
