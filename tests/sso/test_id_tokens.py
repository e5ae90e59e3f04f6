"""The ID token checks of OpenID Connect Core 3.1.3.7 on tokens made here, for what a test
provider does not do on request: rotated keys, several audiences, Google's bare issuer, a
token naming another issuer, unsigned and shared-secret tokens."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

import sso
from sso import flow, provider
from sso.provider import ProviderMetadata

ISSUER = "https://id.example"
CLIENT_ID = "chat-app"
NONCE = "the-nonce-of-this-sign-in"


def rsa_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


FIRST_KEY, ROTATED_KEY = rsa_key("first"), rsa_key("rotated")


class PublishedKeys:
    """The provider's JWKS as the app fetches it; `keys` is what is published right now."""

    def __init__(self) -> None:
        self.keys = [FIRST_KEY]
        self.fetches = 0

    def __call__(self, url: str, timeout: float) -> dict[str, Any]:
        self.fetches += 1
        return {"keys": [key.as_dict(private=False) for key in self.keys]}


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> Iterator[PublishedKeys]:
    keys = PublishedKeys()
    monkeypatch.setattr(provider, "_fetch_json", keys)
    sso.forget_provider()
    yield keys
    sso.forget_provider()


def settings() -> sso.OidcSettings:
    return sso.OidcSettings(
        client_id=CLIENT_ID,
        client_secret="secret",
        metadata_url=f"{ISSUER}/.well-known/openid-configuration",
        issuer=ISSUER,
        scopes="openid",
        username_claim="preferred_username",
        provider_name="Test",
        redirect_url=None,
        timeout_seconds=5.0,
    )


def metadata(issuer: str = ISSUER) -> ProviderMetadata:
    return ProviderMetadata(
        issuer=issuer,
        authorization_endpoint=f"{issuer}/auth",
        token_endpoint=f"{issuer}/token",
        jwks_uri=f"{issuer}/jwks",
        token_auth_methods=("client_secret_basic",),
        sends_iss=True,
    )


def token(key: Any = FIRST_KEY, alg: str = "RS256", **changes: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": "subject-1",
        "aud": CLIENT_ID,
        "exp": now + 300,
        "iat": now,
        "nonce": NONCE,
    }
    claims.update(changes)
    header = {"alg": alg, "kid": key.kid} if alg != "none" else {"alg": "none"}
    return jwt.encode(header, {k: v for k, v in claims.items() if v is not None}, key)


def check(id_token: str, on: ProviderMetadata | None = None) -> dict[str, Any]:
    return flow._checked_claims(settings(), on or metadata(), id_token, NONCE)


def test_a_good_token_gives_its_claims(published: PublishedKeys) -> None:
    assert check(token())["sub"] == "subject-1"


def test_a_token_signed_with_a_rotated_key_is_verified_after_fetching_the_keys_again(
    published: PublishedKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    check(token())
    published.keys = [FIRST_KEY, ROTATED_KEY]
    # As if the keys had been fetched longer ago than a refresh waits.
    monkeypatch.setattr(provider, "REFRESH_SECONDS", 0.0)
    assert check(token(ROTATED_KEY))["sub"] == "subject-1"
    assert published.fetches == 2


def test_a_token_with_a_key_nobody_published_is_refused_without_hammering_the_provider(
    published: PublishedKeys,
) -> None:
    check(token())
    for _ in range(5):
        with pytest.raises(sso.BadSignature):
            check(token(rsa_key("made-up")))
    # One fetch, and no more within the minute, however many such tokens come.
    assert published.fetches == 1


def test_a_token_naming_another_issuer_is_refused(published: PublishedKeys) -> None:
    with pytest.raises(sso.WrongIssuer):
        check(token(iss="https://elsewhere.example"))


def test_a_token_for_another_audience_is_refused(published: PublishedKeys) -> None:
    with pytest.raises(sso.ProviderDeclined):
        check(token(aud="another-app"))


def test_several_audiences_need_this_app_as_the_authorized_party(
    published: PublishedKeys,
) -> None:
    with pytest.raises(sso.ProviderDeclined):
        check(token(aud=[CLIENT_ID, "another-app"]))
    with pytest.raises(sso.ProviderDeclined):
        check(token(aud=[CLIENT_ID, "another-app"], azp="another-app"))
    assert check(token(aud=[CLIENT_ID, "another-app"], azp=CLIENT_ID))["sub"] == "subject-1"


def test_an_authorized_party_other_than_this_app_is_refused(published: PublishedKeys) -> None:
    with pytest.raises(sso.ProviderDeclined):
        check(token(azp="another-app"))


def test_a_token_without_this_sign_ins_nonce_is_refused(published: PublishedKeys) -> None:
    with pytest.raises(sso.NonceMismatch):
        check(token(nonce="another"))
    with pytest.raises(sso.NonceMismatch):
        check(token(nonce=None))


def test_google_s_bare_issuer_is_accepted_from_google_only(published: PublishedKeys) -> None:
    google = metadata("https://accounts.google.com")
    assert check(token(iss="accounts.google.com"), google)["sub"] == "subject-1"
    assert check(token(iss="https://accounts.google.com"), google)["sub"] == "subject-1"
    with pytest.raises(sso.WrongIssuer):
        check(token(iss="id.example"))


def test_an_unsigned_or_shared_secret_token_is_refused(published: PublishedKeys) -> None:
    shared = OctKey.generate_key(256, parameters={"kid": "first"})
    with pytest.raises(sso.BadSignature):
        check(token(shared, alg="HS256"))
