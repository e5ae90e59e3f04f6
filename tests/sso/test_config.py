"""sso/config.py: which OIDC_* settings turn single sign-on on, which are refused, and what the
unset ones default to. Each test starts with no OIDC_* in the environment and no secrets file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import settings
import sso
from settings import ConfigurationError

OIDC_SETTINGS = (
    "OIDC_CLIENT_ID",
    "OIDC_CLIENT_SECRET",
    "OIDC_ISSUER",
    "OIDC_METADATA_URL",
    "OIDC_SCOPES",
    "OIDC_USERNAME_CLAIM",
    "OIDC_PROVIDER_NAME",
    "OIDC_REDIRECT_URL",
    "OIDC_TIMEOUT_SECONDS",
)
ISSUER = "https://id.example.org/realms/staff"
CLIENT_ID = "chat"
CLIENT_SECRET = "s3cret-of-the-client"


@pytest.fixture(autouse=True)
def no_oidc_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in OIDC_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(settings.SECRETS_FILE_ENV, str(tmp_path / "no-secrets.toml"))
    settings.reload()
    yield
    # The next test must not see a secrets file written here.
    settings.reload()


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> None:
    """A client id and its secret, as every configured provider needs."""
    monkeypatch.setenv("OIDC_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("OIDC_CLIENT_SECRET", CLIENT_SECRET)


def configured() -> sso.OidcSettings:
    config = sso.oidc_settings()
    assert config is not None
    return config


# --- off, or missing a piece -----------------------------------------------------------------


def test_single_sign_on_is_off_when_no_oidc_setting_is_set() -> None:
    assert sso.oidc_settings() is None


def test_a_client_secret_alone_leaves_single_sign_on_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OIDC_CLIENT_SECRET", CLIENT_SECRET)
    assert sso.oidc_settings() is None


def test_an_empty_client_id_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OIDC_CLIENT_ID", "")
    monkeypatch.setenv("OIDC_CLIENT_SECRET", CLIENT_SECRET)
    assert sso.oidc_settings() is None


@pytest.mark.parametrize("name", ["OIDC_ISSUER", "OIDC_METADATA_URL"])
def test_a_provider_without_a_client_id_is_refused_naming_the_client_id(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, ISSUER)
    with pytest.raises(ConfigurationError, match="OIDC_CLIENT_ID"):
        sso.oidc_settings()


def test_a_client_id_without_its_secret_is_refused_naming_the_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OIDC_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("OIDC_ISSUER", ISSUER)
    with pytest.raises(ConfigurationError, match="OIDC_CLIENT_SECRET"):
        sso.oidc_settings()


@pytest.mark.usefixtures("client")
def test_a_client_without_an_issuer_or_metadata_url_is_refused_naming_both() -> None:
    with pytest.raises(ConfigurationError) as refused:
        sso.oidc_settings()
    assert "OIDC_ISSUER" in str(refused.value)
    assert "OIDC_METADATA_URL" in str(refused.value)


# --- where the provider is -------------------------------------------------------------------


@pytest.mark.usefixtures("client")
def test_an_https_issuer_is_accepted_with_its_discovery_document_beneath_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OIDC_ISSUER", ISSUER)
    config = configured()
    assert config.client_id == CLIENT_ID
    assert config.client_secret == CLIENT_SECRET
    assert config.issuer == ISSUER
    assert config.metadata_url == f"{ISSUER}/.well-known/openid-configuration"


@pytest.mark.usefixtures("client")
def test_an_issuer_ending_in_a_slash_gets_no_double_slash_before_the_discovery_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OIDC_ISSUER", ISSUER + "/")
    config = configured()
    assert config.issuer == ISSUER + "/"
    assert config.metadata_url == f"{ISSUER}/.well-known/openid-configuration"


@pytest.mark.usefixtures("client")
def test_with_only_a_metadata_url_the_issuer_is_left_to_the_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = "https://login.example.net/tenant/v2.0/.well-known/openid-configuration"
    monkeypatch.setenv("OIDC_METADATA_URL", url)
    config = configured()
    assert config.issuer is None
    assert config.metadata_url == url


@pytest.mark.usefixtures("client")
def test_a_metadata_url_given_with_the_issuer_is_used_as_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = "https://discovery.example.org/staff.json"
    monkeypatch.setenv("OIDC_ISSUER", ISSUER)
    monkeypatch.setenv("OIDC_METADATA_URL", url)
    config = configured()
    assert config.issuer == ISSUER
    assert config.metadata_url == url


@pytest.mark.usefixtures("client")
@pytest.mark.parametrize(
    "issuer",
    [
        "http://id.example.org",
        "http://localhost.example.org",
        "http://127.0.0.2:8080",
        "ftp://id.example.org",
        "id.example.org",
    ],
)
def test_an_issuer_not_over_https_is_refused_naming_the_issuer(
    monkeypatch: pytest.MonkeyPatch, issuer: str
) -> None:
    monkeypatch.setenv("OIDC_ISSUER", issuer)
    with pytest.raises(ConfigurationError, match="OIDC_ISSUER must be an https:// URL"):
        sso.oidc_settings()


@pytest.mark.usefixtures("client")
@pytest.mark.parametrize(
    "issuer", ["http://localhost:8080/realms/dev", "http://127.0.0.1:9000", "http://[::1]:9000"]
)
def test_a_plain_http_issuer_is_accepted_on_this_machine_only(
    monkeypatch: pytest.MonkeyPatch, issuer: str
) -> None:
    monkeypatch.setenv("OIDC_ISSUER", issuer)
    assert configured().issuer == issuer


@pytest.mark.usefixtures("client")
def test_an_https_url_without_a_host_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OIDC_ISSUER", "https:///realms/staff")
    with pytest.raises(ConfigurationError, match=r"OIDC_ISSUER .* has no host"):
        sso.oidc_settings()


@pytest.mark.usefixtures("client")
def test_a_plain_http_metadata_url_is_refused_naming_the_metadata_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OIDC_ISSUER", ISSUER)
    monkeypatch.setenv(
        "OIDC_METADATA_URL", "http://id.example.org/.well-known/openid-configuration"
    )
    with pytest.raises(ConfigurationError, match="OIDC_METADATA_URL"):
        sso.oidc_settings()


# --- the callback ----------------------------------------------------------------------------


@pytest.mark.usefixtures("client")
def test_without_a_redirect_url_the_apps_own_url_is_the_callback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OIDC_ISSUER", ISSUER)
    assert configured().redirect_url is None


@pytest.mark.usefixtures("client")
def test_an_https_redirect_url_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OIDC_ISSUER", ISSUER)
    monkeypatch.setenv("OIDC_REDIRECT_URL", "https://chat.example.org/")
    assert configured().redirect_url == "https://chat.example.org/"


@pytest.mark.usefixtures("client")
def test_a_plain_http_redirect_url_is_refused_unless_it_is_this_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OIDC_ISSUER", ISSUER)
    monkeypatch.setenv("OIDC_REDIRECT_URL", "http://chat.example.org/")
    with pytest.raises(ConfigurationError, match="OIDC_REDIRECT_URL"):
        sso.oidc_settings()
    monkeypatch.setenv("OIDC_REDIRECT_URL", "http://127.0.0.1:8501/")
    assert configured().redirect_url == "http://127.0.0.1:8501/"


# --- scopes, claims, names -------------------------------------------------------------------


@pytest.mark.usefixtures("client")
def test_unset_settings_take_their_documented_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OIDC_ISSUER", ISSUER)
    config = configured()
    assert config.scopes == "openid profile email"
    assert config.username_claim == "preferred_username"
    assert config.provider_name == "single sign-on"
    assert config.timeout_seconds == 10.0


@pytest.mark.usefixtures("client")
def test_set_scopes_claim_and_name_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OIDC_ISSUER", ISSUER)
    monkeypatch.setenv("OIDC_SCOPES", "email openid")
    monkeypatch.setenv("OIDC_USERNAME_CLAIM", "email")
    monkeypatch.setenv("OIDC_PROVIDER_NAME", "Staff login")
    monkeypatch.setenv("OIDC_TIMEOUT_SECONDS", "2.5")
    config = configured()
    assert config.scopes == "email openid"
    assert config.username_claim == "email"
    assert config.provider_name == "Staff login"
    assert config.timeout_seconds == 2.5


@pytest.mark.usefixtures("client")
@pytest.mark.parametrize("scopes", ["profile email", "openidprofile", "OpenID profile"])
def test_scopes_without_openid_are_refused(monkeypatch: pytest.MonkeyPatch, scopes: str) -> None:
    monkeypatch.setenv("OIDC_ISSUER", ISSUER)
    monkeypatch.setenv("OIDC_SCOPES", scopes)
    with pytest.raises(ConfigurationError, match="OIDC_SCOPES must include openid"):
        sso.oidc_settings()


# --- where settings come from ----------------------------------------------------------------


def test_settings_are_read_from_the_secrets_file_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secrets_file = tmp_path / "secrets.toml"
    secrets_file.write_text(
        f'OIDC_CLIENT_ID = "{CLIENT_ID}"\n'
        f'OIDC_CLIENT_SECRET = "{CLIENT_SECRET}"\n'
        f'OIDC_ISSUER = "{ISSUER}"\n'
        'OIDC_PROVIDER_NAME = "From the file"\n'
    )
    monkeypatch.setenv(settings.SECRETS_FILE_ENV, str(secrets_file))
    monkeypatch.setenv("OIDC_PROVIDER_NAME", "From the environment")
    settings.reload()
    config = configured()
    assert (config.client_id, config.client_secret, config.issuer) == (
        CLIENT_ID,
        CLIENT_SECRET,
        ISSUER,
    )
    assert config.provider_name == "From the environment"
