"""The authorization code flow with PKCE, as a relying party: begin a sign-in at the provider,
then check its answer and return who signed in. No account is touched here (sso/identities.py).

Every check of OpenID Connect Core 3.1.3.7 that applies to a confidential client is made: the
answer carries the `state` of a sign-in this browser began (used once, within minutes), the
issuer it names is the configured one, the ID token is signed by a key the provider publishes,
names this app as its audience and the configured issuer, is neither expired nor from the
future, and carries this sign-in's nonce."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
    MissingKeyError,
)
from sqlalchemy import Engine, delete, select

from accounts.errors import AccountsUnavailable
from accounts.sign_ins import safe_next_path
from accounts.tokens import browser_digest, digest
from database import utcnow, write_transaction
from database.outages import module_outages_raise
from sso.config import OidcSettings
from sso.errors import (
    BadSignature,
    NonceMismatch,
    ProviderDeclined,
    ProviderUnreachable,
    SsoRefused,
    StateMismatch,
    TokenExpired,
    TokenNotYetValid,
    WrongIssuer,
)
from sso.models import PendingLogin
from sso.provider import ProviderMetadata, provider_metadata, signing_keys

log = logging.getLogger("app")

# Time to sign in at the provider (a password manager, a second factor) before the answer is
# refused as stale.
LOGIN_LIFETIME = timedelta(minutes=10)
# Clocks of two machines differ a little; a minute is what most relying parties allow.
CLOCK_LEEWAY_SECONDS = 60
# What OpenID Connect providers sign ID tokens with (never "none", never a shared secret).
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]

GOOGLE_ISSUER = "https://accounts.google.com"

_logins = PendingLogin.__table__


@dataclass(frozen=True)
class VerifiedLogin:
    """Who the provider says signed in, once every check passed."""

    issuer: str
    subject: str
    claims: dict[str, Any]
    next_path: str
    # The signed-in account that asked to link this identity; None for a sign-in.
    link_user_id: str | None = None


def _session(config: OidcSettings, metadata: ProviderMetadata, redirect_uri: str) -> OAuth2Session:
    method = (
        "client_secret_basic"
        if "client_secret_basic" in metadata.token_auth_methods
        else "client_secret_post"
    )
    return OAuth2Session(
        client_id=config.client_id,
        client_secret=config.client_secret,
        token_endpoint_auth_method=method,
        scope=config.scopes,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        default_timeout=config.timeout_seconds,
    )


def begin_login(
    engine: Engine,
    config: OidcSettings,
    *,
    browser: str | None,
    redirect_uri: str,
    next_path: str = "/",
    link_user_id: str | None = None,
    now: datetime | None = None,
) -> str:
    """Record a sign-in bound to the browser whose "browser" cookie is `browser`, and return
    the provider's URL to send that browser to; with `link_user_id`, the identity it brings
    back is to be linked to that account. Raises ProviderUnreachable or WrongIssuer before
    anything is stored, StateMismatch for a browser with no cookie."""
    browser_hash = browser_digest(browser)
    if browser_hash is None:
        raise StateMismatch("no browser cookie: the answer could not be tied to this browser")
    metadata = provider_metadata(config)
    now = now or utcnow()
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    code_verifier = secrets.token_urlsafe(64)
    with _session(config, metadata, redirect_uri) as session:
        url, _ = session.create_authorization_url(
            metadata.authorization_endpoint, state=state, code_verifier=code_verifier, nonce=nonce
        )
    with write_transaction(engine) as conn:
        # Abandoned sign-ins go here, a few at a time, as new ones come.
        conn.execute(delete(_logins).where(_logins.c.expires_at <= now))
        conn.execute(
            _logins.insert().values(
                state_hash=digest(state),
                nonce=nonce,
                code_verifier=code_verifier,
                browser_hash=browser_hash,
                redirect_uri=redirect_uri,
                next_path=safe_next_path(next_path),
                link_user_id=link_user_id,
                expires_at=now + LOGIN_LIFETIME,
            )
        )
    return url


def _take_login(engine: Engine, state: str, browser_hash: str | None, now: datetime) -> Any:
    """The waiting sign-in `state` names, removed so that it can never be used again."""
    if not state or len(state) > 256:
        raise StateMismatch("the answer carries no state")
    with write_transaction(engine) as conn:
        row = conn.execute(select(_logins).where(_logins.c.state_hash == digest(state))).first()
        if row is None:
            raise StateMismatch("no sign-in is waiting for this state (used, expired or forged)")
        taken = conn.execute(delete(_logins).where(_logins.c.state_hash == row.state_hash))
        if taken.rowcount != 1:
            # A second tab came back with the same answer at the same moment.
            raise StateMismatch("this state was used at the same moment")
    if row.browser_hash != browser_hash:
        raise StateMismatch("this sign-in was begun in another browser")
    if row.expires_at <= now:
        raise StateMismatch("this sign-in waited too long at the provider")
    return row


def _exchange_code(
    config: OidcSettings, metadata: ProviderMetadata, code: str, pending: Any
) -> str:
    """The ID token the provider gives for `code` (with the PKCE verifier and the secret)."""
    with _session(config, metadata, pending.redirect_uri) as session:
        try:
            token = session.fetch_token(
                metadata.token_endpoint,
                grant_type="authorization_code",
                code=code,
                code_verifier=pending.code_verifier,
            )
        except OAuthError as error:
            raise ProviderDeclined(f"the token endpoint refused the code: {error.error}") from error
        except (requests.RequestException, ValueError) as error:
            raise ProviderUnreachable(f"the token endpoint: {error}") from error
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise ProviderDeclined("the provider's answer has no ID token (is 'openid' a scope?)")
    return id_token


def _decode(config: OidcSettings, metadata: ProviderMetadata, id_token: str) -> jwt.Token:
    try:
        return jwt.decode(id_token, signing_keys(config, metadata), algorithms=ALGORITHMS)
    except (MissingKeyError, InvalidKeyIdError):
        # Signed with a key published since the keys were fetched (the provider rotated its
        # keys): fetch them once more.
        keys = signing_keys(config, metadata, refresh=True)
    try:
        return jwt.decode(id_token, keys, algorithms=ALGORITHMS)
    except (BadSignatureError, MissingKeyError, InvalidKeyIdError) as error:
        raise BadSignature(f"the ID token's signature does not verify: {error}") from error
    except (JoseError, ValueError) as error:
        raise BadSignature(f"the ID token cannot be read: {error}") from error


def _issuer_names(issuer: str) -> list[str]:
    # Google documents that its ID tokens may name their issuer without the scheme.
    return [issuer, "accounts.google.com"] if issuer == GOOGLE_ISSUER else [issuer]


def _checked_claims(
    config: OidcSettings, metadata: ProviderMetadata, id_token: str, nonce: str
) -> dict[str, Any]:
    try:
        token = _decode(config, metadata, id_token)
    except SsoRefused:
        raise
    except (BadSignatureError, JoseError, ValueError) as error:
        raise BadSignature(f"the ID token's signature does not verify: {error}") from error
    claims = dict(token.claims)
    registry = jwt.JWTClaimsRegistry(
        leeway=CLOCK_LEEWAY_SECONDS,
        iss={"essential": True, "values": _issuer_names(metadata.issuer)},
        aud={"essential": True, "value": config.client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError as error:
        raise TokenExpired("the ID token has expired") from error
    except InvalidClaimError as error:
        if error.claim == "iss":
            raise WrongIssuer(f"the ID token names issuer {claims.get('iss')!r}") from error
        if error.claim in ("iat", "nbf"):
            raise TokenNotYetValid(f"the ID token's {error.claim} lies in the future") from error
        raise ProviderDeclined(f"the ID token's {error.claim} is wrong") from error
    except MissingClaimError as error:
        raise ProviderDeclined(f"the ID token lacks a claim: {error}") from error
    except JoseError as error:
        raise ProviderDeclined(f"the ID token's claims are wrong: {error}") from error
    # Core 3.1.3.7 (3, 4, 5): other audiences need azp, and azp must name this app.
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != config.client_id:
        raise ProviderDeclined("the ID token was issued to another party (azp)")
    if not isinstance(claims.get("nonce"), str) or not secrets.compare_digest(
        claims["nonce"], nonce
    ):
        raise NonceMismatch("the ID token's nonce is not this sign-in's")
    if not isinstance(claims["sub"], str) or not claims["sub"]:
        raise ProviderDeclined("the ID token's sub is empty")
    return claims


def finish_login(
    engine: Engine,
    config: OidcSettings,
    *,
    query: dict[str, str],
    browser: str | None,
    now: datetime | None = None,
) -> VerifiedLogin:
    """Check the provider's answer (the callback's query parameters) for the browser whose
    "browser" cookie is `browser`. The waiting sign-in is used up whatever the outcome, so an
    answer works once at most. Raises an SsoRefused naming the first check that failed."""
    now = now or utcnow()
    pending = _take_login(engine, query.get("state", ""), browser_digest(browser), now)
    metadata = provider_metadata(config)
    # RFC 9207: an answer from another provider, relayed here (a mix-up attack).
    if ("iss" in query or metadata.sends_iss) and query.get("iss") != metadata.issuer:
        raise WrongIssuer(f"the answer names issuer {query.get('iss')!r}")
    if "error" in query:
        raise ProviderDeclined(f"the provider answered {query['error'][:64]!r}")
    code = query.get("code", "")
    if not code:
        raise ProviderDeclined("the provider's answer has no code")
    id_token = _exchange_code(config, metadata, code, pending)
    claims = _checked_claims(config, metadata, id_token, pending.nonce)
    log.info("single sign-on verified for a subject of %s", metadata.issuer)
    return VerifiedLogin(
        issuer=metadata.issuer,
        subject=claims["sub"],
        claims=claims,
        next_path=pending.next_path,
        link_user_id=pending.link_user_id,
    )


def prune_logins(engine: Engine, *, now: datetime | None = None) -> int:
    """Delete the sign-ins that went to the provider and never came back in time."""
    with write_transaction(engine) as conn:
        return conn.execute(
            delete(_logins).where(_logins.c.expires_at <= (now or utcnow()))
        ).rowcount


# Every public function here reports an unreachable database as AccountsUnavailable.
module_outages_raise(globals(), AccountsUnavailable)
