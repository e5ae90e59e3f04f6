"""The code flow against a real OpenID provider (node's oidc-provider on a loopback port):
what a good answer yields, and the refusal each kind of bad answer gets, with nothing left in
the database either way."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import Engine, func, select, update

import sso
from accounts.models import User
from database import utcnow
from sso.models import Identity, PendingLogin
from tests.support.oidc_provider import (
    OidcProvider,
    log_in_at_provider,
    start_oidc_provider,
)
from tests.support.postgres import free_port

CLIENT_ID, CLIENT_SECRET = "chat-app", "a-client-secret-for-tests"
BROWSER, OTHER_BROWSER = "b" * 32, "o" * 32
# Nothing listens here: the callback URL is only read, never fetched.
REDIRECT_URI = "http://127.0.0.1:9/auth/sso/callback"


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    with start_oidc_provider(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=REDIRECT_URI
    ) as running:
        yield running


def settings_for(provider: OidcProvider, **changes: object) -> sso.OidcSettings:
    sso.forget_provider()
    values: dict[str, object] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "metadata_url": provider.metadata_url,
        "issuer": provider.issuer,
        "scopes": "openid profile email",
        "username_claim": "preferred_username",
        "provider_name": "Test provider",
        "redirect_url": None,
        "timeout_seconds": 5.0,
    }
    values.update(changes)
    return sso.OidcSettings(**values)  # type: ignore[arg-type]


def answer(engine: Engine, config: sso.OidcSettings, login: str = "ada") -> dict[str, str]:
    """Begin a sign-in for BROWSER, sign `login` in at the provider, return its answer."""
    url = sso.begin_login(
        engine, config, browser=BROWSER, redirect_uri=REDIRECT_URI, next_path="/chat?x=1"
    )
    callback = log_in_at_provider(url, login, redirect_uri=REDIRECT_URI)
    return {key: values[0] for key, values in parse_qs(urlsplit(callback).query).items()}


def rows(engine: Engine, table: type) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(table)) or 0


def nothing_stored(engine: Engine) -> bool:
    return (
        rows(engine, User) == 0 and rows(engine, Identity) == 0 and rows(engine, PendingLogin) == 0
    )


def test_a_good_answer_names_the_issuer_and_subject_and_the_page_to_go_back_to(
    engine: Engine, provider: OidcProvider
) -> None:
    config = settings_for(provider)
    query = answer(engine, config)
    login = sso.finish_login(engine, config, query=query, browser=BROWSER)
    assert (login.issuer, login.subject) == (provider.issuer, OidcProvider.sub_for("ada"))
    assert login.claims["preferred_username"] == "ada"
    assert login.next_path == "/chat?x=1"
    # The waiting sign-in is used up, and no account is made by the flow itself.
    assert nothing_stored(engine)


def test_the_provider_is_asked_for_a_pkce_challenge_state_and_nonce(
    engine: Engine, provider: OidcProvider
) -> None:
    url = sso.begin_login(
        engine, settings_for(provider), browser=BROWSER, redirect_uri=REDIRECT_URI
    )
    asked = {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
    assert asked["response_type"] == "code"
    assert asked["code_challenge_method"] == "S256"
    assert asked["scope"] == "openid profile email"
    assert asked["redirect_uri"] == REDIRECT_URI
    assert len(asked["state"]) >= 43 and len(asked["nonce"]) >= 43
    with engine.connect() as conn:
        stored = conn.execute(select(PendingLogin)).one()
    # Only the state's hash is kept; the verifier never left this side.
    assert asked["state"] not in stored.state_hash
    assert stored.code_verifier not in url


def test_an_answer_works_once(engine: Engine, provider: OidcProvider) -> None:
    config = settings_for(provider)
    query = answer(engine, config)
    sso.finish_login(engine, config, query=query, browser=BROWSER)
    with pytest.raises(sso.StateMismatch):
        sso.finish_login(engine, config, query=query, browser=BROWSER)


def test_an_answer_brought_to_another_browser_is_refused_and_spent(
    engine: Engine, provider: OidcProvider
) -> None:
    config = settings_for(provider)
    query = answer(engine, config)
    with pytest.raises(sso.StateMismatch):
        sso.finish_login(engine, config, query=query, browser=OTHER_BROWSER)
    with pytest.raises(sso.StateMismatch):
        sso.finish_login(engine, config, query=query, browser=BROWSER)
    assert nothing_stored(engine)


def test_a_forged_or_missing_state_is_refused(engine: Engine, provider: OidcProvider) -> None:
    config = settings_for(provider)
    query = answer(engine, config)
    for state in ("forged-state", ""):
        with pytest.raises(sso.StateMismatch):
            sso.finish_login(engine, config, query={**query, "state": state}, browser=BROWSER)
    # The real sign-in still waits for its own answer.
    assert sso.finish_login(engine, config, query=query, browser=BROWSER).subject


def test_an_answer_after_the_sign_in_expired_is_refused(
    engine: Engine, provider: OidcProvider
) -> None:
    config = settings_for(provider)
    query = answer(engine, config)
    later = utcnow() + sso.flow.LOGIN_LIFETIME + timedelta(seconds=1)
    with pytest.raises(sso.StateMismatch):
        sso.finish_login(engine, config, query=query, browser=BROWSER, now=later)
    assert nothing_stored(engine)


def test_a_token_for_another_sign_in_fails_the_nonce_check(
    engine: Engine, provider: OidcProvider
) -> None:
    config = settings_for(provider)
    query = answer(engine, config)
    # As if the code had been obtained for another sign-in and injected into this one.
    with engine.begin() as conn:
        conn.execute(update(PendingLogin).values(nonce="another-sign-in-s-nonce"))
    with pytest.raises(sso.NonceMismatch):
        sso.finish_login(engine, config, query=query, browser=BROWSER)
    assert nothing_stored(engine)


def test_an_answer_naming_another_issuer_is_refused(engine: Engine, provider: OidcProvider) -> None:
    config = settings_for(provider)
    query = answer(engine, config)
    with pytest.raises(sso.WrongIssuer):
        sso.finish_login(
            engine, config, query={**query, "iss": "https://elsewhere.example"}, browser=BROWSER
        )


def test_a_provider_error_is_refused(engine: Engine, provider: OidcProvider) -> None:
    config = settings_for(provider)
    query = answer(engine, config)
    declined = {"state": query["state"], "iss": query["iss"], "error": "access_denied"}
    with pytest.raises(sso.ProviderDeclined):
        sso.finish_login(engine, config, query=declined, browser=BROWSER)


def test_a_code_used_twice_is_refused_by_the_provider(
    engine: Engine, provider: OidcProvider
) -> None:
    config = settings_for(provider)
    first = answer(engine, config)
    sso.finish_login(engine, config, query=first, browser=BROWSER)
    second = answer(engine, config)
    with pytest.raises(sso.ProviderDeclined):
        sso.finish_login(engine, config, query={**second, "code": first["code"]}, browser=BROWSER)


def test_a_wrong_client_secret_is_refused(engine: Engine, provider: OidcProvider) -> None:
    config = settings_for(provider)
    query = answer(engine, config)
    wrong = settings_for(provider, client_secret="not-the-secret")
    with pytest.raises(sso.ProviderDeclined):
        sso.finish_login(engine, wrong, query=query, browser=BROWSER)


def test_a_browser_without_its_cookie_cannot_begin(engine: Engine, provider: OidcProvider) -> None:
    with pytest.raises(sso.StateMismatch):
        sso.begin_login(engine, settings_for(provider), browser=None, redirect_uri=REDIRECT_URI)
    assert nothing_stored(engine)


def test_an_unreachable_provider_is_refused_before_anything_is_stored(engine: Engine) -> None:
    issuer = f"http://127.0.0.1:{free_port()}"
    config = sso.OidcSettings(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        metadata_url=issuer + "/.well-known/openid-configuration",
        issuer=issuer,
        scopes="openid",
        username_claim="preferred_username",
        provider_name="Gone",
        redirect_url=None,
        timeout_seconds=2.0,
    )
    sso.forget_provider()
    with pytest.raises(sso.ProviderUnreachable):
        sso.begin_login(engine, config, browser=BROWSER, redirect_uri=REDIRECT_URI)
    assert nothing_stored(engine)


def test_a_provider_gone_between_begin_and_answer_is_unreachable(engine: Engine) -> None:
    with start_oidc_provider(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=REDIRECT_URI
    ) as short_lived:
        config = settings_for(short_lived)
        query = answer(engine, config)
    with pytest.raises(sso.ProviderUnreachable):
        sso.finish_login(engine, config, query=query, browser=BROWSER)
    assert nothing_stored(engine)


@pytest.mark.parametrize(
    ("mode", "refusal"),
    [
        ("bad-signature", sso.BadSignature),
        ("expired", sso.TokenExpired),
        ("not-yet-valid", sso.TokenNotYetValid),
        ("wrong-issuer", sso.WrongIssuer),
    ],
)
def test_a_bad_token_is_refused_with_its_reason(
    engine: Engine, mode: str, refusal: type[sso.SsoRefused]
) -> None:
    with start_oidc_provider(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=REDIRECT_URI, mode=mode
    ) as misbehaving:
        config = settings_for(misbehaving)
        query = answer(engine, config)
        if mode == "wrong-issuer":
            # This provider names itself in its answers (RFC 9207), so an answer without its
            # iss is refused too. (A token's own foreign iss: tests/sso/test_id_tokens.py.)
            query.pop("iss", None)
        with pytest.raises(refusal):
            sso.finish_login(engine, config, query=query, browser=BROWSER)
    assert nothing_stored(engine)


def test_a_discovery_document_naming_another_issuer_is_refused(engine: Engine) -> None:
    with (
        start_oidc_provider(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            redirect_uri=REDIRECT_URI,
            mode="wrong-metadata-issuer",
        ) as misbehaving,
        pytest.raises(sso.WrongIssuer),
    ):
        sso.begin_login(
            engine, settings_for(misbehaving), browser=BROWSER, redirect_uri=REDIRECT_URI
        )
    assert nothing_stored(engine)


def test_with_only_a_metadata_url_the_document_s_issuer_counts(
    engine: Engine, provider: OidcProvider
) -> None:
    config = settings_for(provider, issuer=None)
    login = sso.finish_login(engine, config, query=answer(engine, config), browser=BROWSER)
    assert login.issuer == provider.issuer


def test_a_link_begun_by_an_account_comes_back_naming_it(
    engine: Engine, provider: OidcProvider
) -> None:
    config = settings_for(provider)
    url = sso.begin_login(
        engine, config, browser=BROWSER, redirect_uri=REDIRECT_URI, link_user_id="a" * 32
    )
    callback = log_in_at_provider(url, "ada", redirect_uri=REDIRECT_URI)
    query = {key: values[0] for key, values in parse_qs(urlsplit(callback).query).items()}
    login = sso.finish_login(engine, config, query=query, browser=BROWSER)
    assert login.link_user_id == "a" * 32
