"""The single sign-on core: OpenID Connect's authorization code flow with PKCE against any
provider by configuration, the accounts its identities belong to, and which ways of signing in
are open. No Streamlit here.

config = oidc_settings()                     # None: single sign-on is not configured
url = begin_login(engine, config, browser=cookie, redirect_uri=callback, next_path="/")
login = finish_login(engine, config, query=dict(request.query_params), browser=cookie)
account = account_for_login(engine, login, username_claim=config.username_claim)
"""

from __future__ import annotations

from sso.config import OidcSettings, oidc_settings
from sso.errors import (
    AccountDisabled,
    BadSignature,
    IdentityTaken,
    NonceMismatch,
    ProviderDeclined,
    ProviderUnreachable,
    SignupClosed,
    SsoNotAllowed,
    SsoRefused,
    StateMismatch,
    TokenExpired,
    TokenNotYetValid,
    WrongIssuer,
)
from sso.flow import VerifiedLogin, begin_login, finish_login
from sso.identities import (
    account_for_login,
    identities_of,
    link_identity,
    sign_in_ways,
    username_from_claim,
    users_with_identities,
)
from sso.methods import (
    BOTH,
    CHOICES,
    PASSWORD,
    SSO,
    SignInMethods,
    set_sign_in_methods,
    sign_in_methods,
    stored_choice,
)
from sso.provider import forget_provider

__all__ = [
    "BOTH",
    "CHOICES",
    "PASSWORD",
    "SSO",
    "AccountDisabled",
    "BadSignature",
    "IdentityTaken",
    "NonceMismatch",
    "OidcSettings",
    "ProviderDeclined",
    "ProviderUnreachable",
    "SignInMethods",
    "SignupClosed",
    "SsoNotAllowed",
    "SsoRefused",
    "StateMismatch",
    "TokenExpired",
    "TokenNotYetValid",
    "VerifiedLogin",
    "WrongIssuer",
    "account_for_login",
    "begin_login",
    "finish_login",
    "forget_provider",
    "identities_of",
    "link_identity",
    "oidc_settings",
    "set_sign_in_methods",
    "sign_in_methods",
    "sign_in_ways",
    "stored_choice",
    "username_from_claim",
    "users_with_identities",
]
