"""sso/identities.py: the account a verified single sign-on belongs to. Found by (issuer,
subject) and never by email; created with a username made from the configured claim, no
password, the first one an admin; refused when sign-up is closed or the account is disabled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

import accounts
import audit
import sso
from accounts import passwords
from accounts.models import User
from accounts.validation import is_valid_username
from database import write_transaction
from sso.models import Identity
from tests.accounts.at_once import run_at_once

ISSUER = "https://id.example.org/realms/staff"
OTHER_ISSUER = "https://login.example.net/tenant/v2.0"
CLAIM = "preferred_username"
PASSWORD = "correct horse battery"
MAX_BASE_CHARS = 58  # a username of 64, less room for a "-NNNNN" suffix

_users = User.__table__
_identities = Identity.__table__


@pytest.fixture(autouse=True)
def cheap_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    # The password accounts made here need a hash; its cost is not what is under test.
    monkeypatch.setenv("PASSWORD_HASH_ROUNDS", "4")


def login(subject: str, *, issuer: str = ISSUER, **claims: Any) -> sso.VerifiedLogin:
    """What sso.finish_login returns once the provider's answer passed every check."""
    return sso.VerifiedLogin(
        issuer=issuer, subject=subject, claims={"sub": subject, **claims}, next_path="/"
    )


def sign_in(engine: Engine, verified: sso.VerifiedLogin, **options: Any) -> accounts.Account:
    return sso.account_for_login(engine, verified, username_claim=CLAIM, **options)


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)


def password_hash_of(engine: Engine, user_id: str) -> str:
    with engine.connect() as conn:
        return conn.scalar(select(_users.c.password_hash).where(_users.c.id == user_id))


# --- usernames from claims -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claim", "username"),
    [
        ("Ada.Lovelace@example.org", "ada.lovelace"),
        ("ada", "ada"),
        ("Zoë", "zoe"),
        ("Łukasz Müller-Ñúñez", "ukasz-muller-nunez"),
        ("Ada Lovelace", "ada-lovelace"),
        ("ada+chat/x", "ada-chat-x"),
        ("  Ada   Byron  ", "ada-byron"),
        ("grace_hopper.1906", "grace_hopper.1906"),
        ("--ada--", "ada"),
        ("DOMAIN\\ada", "domain-ada"),
    ],
)
def test_a_claim_is_made_to_fit_the_username_rule(claim: str, username: str) -> None:
    assert sso.username_from_claim(claim) == username


@pytest.mark.parametrize(
    ("claim", "username"), [("a", "a-user"), ("ab", "ab-user"), ("é", "e-user")]
)
def test_a_claim_too_short_for_a_username_is_padded(claim: str, username: str) -> None:
    assert sso.username_from_claim(claim) == username


@pytest.mark.parametrize("claim", ["", "   ", "@example.org", "日本語", None, 42, ["ada"], {}])
def test_a_claim_with_nothing_usable_gives_the_fallback_username(claim: object) -> None:
    assert sso.username_from_claim(claim) == "user"


def test_a_very_long_claim_is_cut_leaving_room_for_a_suffix() -> None:
    username = sso.username_from_claim("Ada" * 100)
    assert username == ("ada" * 100)[:MAX_BASE_CHARS]
    assert is_valid_username(f"{username}-99999")


@pytest.mark.parametrize(
    "claim",
    ["Ada.Lovelace@example.org", "Zoë", "a", "", None, "x" * 500, "a b " * 40, "Ω≈ç√∫", "-.-"],
)
def test_whatever_the_claim_the_username_follows_the_rule(claim: object) -> None:
    username = sso.username_from_claim(claim)
    assert is_valid_username(username)
    assert len(username) <= MAX_BASE_CHARS


# --- new accounts ----------------------------------------------------------------------------


def test_the_first_identity_on_an_empty_instance_gets_an_admin_account(engine: Engine) -> None:
    account = sign_in(engine, login("ada-sub", preferred_username="ada"))
    assert account.is_admin and account.role == "admin"
    assert not account.disabled
    assert accounts.get_account(engine, user_id=account.id) == account


def test_a_second_identity_gets_a_user_account(engine: Engine) -> None:
    sign_in(engine, login("ada-sub", preferred_username="ada"))
    second = sign_in(engine, login("bob-sub", preferred_username="bob"))
    assert second.role == "user" and not second.is_admin


def test_a_new_identity_gets_the_username_name_and_email_of_its_claims(engine: Engine) -> None:
    account = sign_in(
        engine,
        login(
            "ada-sub",
            preferred_username="Ada.Lovelace@example.org",
            name="Ada Lovelace",
            email="ada@example.org",
        ),
    )
    assert account.username == "ada.lovelace"
    assert account.display_name == "Ada Lovelace"
    assert account.email == "ada@example.org"
    assert accounts.find_account(engine, username="ada.lovelace") == account


def test_a_new_identity_without_a_name_or_email_claim_is_named_by_its_username(
    engine: Engine,
) -> None:
    account = sign_in(engine, login("ada-sub", preferred_username="ada"))
    assert account.display_name == "ada"
    assert account.email == ""


def test_an_email_claim_that_is_no_address_is_not_stored(engine: Engine) -> None:
    account = sign_in(engine, login("ada-sub", preferred_username="ada", email="ada at home"))
    assert account.email == ""
    assert sso.identities_of(engine, user_id=account.id)[0]["email"] == ""


def test_the_username_comes_from_the_configured_claim(engine: Engine) -> None:
    verified = login("ada-sub", preferred_username="adal", email="Ada.Lovelace@example.org")
    account = sso.account_for_login(engine, verified, username_claim="email")
    assert account.username == "ada.lovelace"


def test_a_new_identity_without_its_username_claim_is_named_user(engine: Engine) -> None:
    first = sign_in(engine, login("one-sub"))
    second = sign_in(engine, login("two-sub"))
    assert (first.username, second.username) == ("user", "user-2")


def test_a_new_account_has_no_password_and_no_password_signs_it_in(engine: Engine) -> None:
    account = sign_in(engine, login("ada-sub", preferred_username="ada"))
    assert password_hash_of(engine, account.id) == ""
    for password in ("", "anything at all", PASSWORD):
        result = accounts.authenticate(engine, username="ada", password=password)
        assert result.account is None


def test_a_new_account_is_recorded_in_the_audit_log_with_its_role(engine: Engine) -> None:
    admin = sign_in(engine, login("ada-sub", preferred_username="ada"))
    user = sign_in(engine, login("bob-sub", preferred_username="bob"))
    [admin_event] = audit.list_events(engine, action=audit.USER_CREATED, subject_user_id=admin.id)
    [user_event] = audit.list_events(engine, action=audit.USER_CREATED, subject_user_id=user.id)
    assert admin_event.detail == "single sign-on: role=admin"
    assert user_event.detail == "single sign-on: role=user"
    assert admin_event.actor_id is None


def test_a_returning_identity_is_not_recorded_as_created_again(engine: Engine) -> None:
    account = sign_in(engine, login("ada-sub", preferred_username="ada"))
    sign_in(engine, login("ada-sub", preferred_username="ada"))
    events = audit.list_events(engine, action=audit.USER_CREATED, subject_user_id=account.id)
    assert len(events) == 1


# --- returning identities --------------------------------------------------------------------


def test_the_same_identity_signs_in_to_the_same_account(engine: Engine) -> None:
    first = sign_in(engine, login("ada-sub", preferred_username="ada"))
    again = sign_in(engine, login("ada-sub", preferred_username="ada"))
    assert again.id == first.id
    assert count(engine, _users) == 1
    assert count(engine, _identities) == 1


def test_a_returning_identity_is_found_by_subject_whatever_its_claims_say_now(
    engine: Engine,
) -> None:
    first = sign_in(engine, login("ada-sub", preferred_username="ada"))
    sign_in(engine, login("bob-sub", preferred_username="bob"))
    renamed = sign_in(engine, login("ada-sub", preferred_username="bob", name="Someone Else"))
    assert renamed.id == first.id
    assert renamed.username == "ada" and renamed.display_name == "ada"
    assert count(engine, _users) == 2


def test_a_returning_identity_updates_its_last_sign_in_and_email(engine: Engine) -> None:
    created_at = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    later = created_at + timedelta(days=3, microseconds=1)
    account = sign_in(
        engine, login("ada-sub", preferred_username="ada", email="ada@old.example"), now=created_at
    )
    sign_in(engine, login("ada-sub", preferred_username="ada", email="ada@new.example"), now=later)
    [identity] = sso.identities_of(engine, user_id=account.id)
    assert identity["created_at"] == created_at
    assert identity["last_sign_in_at"] == later
    assert identity["email"] == "ada@new.example"


def test_the_same_subject_at_another_issuer_is_another_account(engine: Engine) -> None:
    here = sign_in(engine, login("42", preferred_username="ada"))
    there = sign_in(engine, login("42", issuer=OTHER_ISSUER, preferred_username="ada"))
    assert there.id != here.id
    assert (here.username, there.username) == ("ada", "ada-2")
    assert there.role == "user"


def test_another_subject_at_the_same_issuer_is_another_account(engine: Engine) -> None:
    first = sign_in(engine, login("42", preferred_username="ada"))
    second = sign_in(engine, login("43", preferred_username="ada"))
    assert second.id != first.id


# --- email links nothing ---------------------------------------------------------------------


def test_a_password_account_with_the_same_email_is_not_taken_over(engine: Engine) -> None:
    bob = accounts.create_account(
        engine, username="bob", password=PASSWORD, email="bob@example.test"
    )
    first = sign_in(engine, login("bob-sub", preferred_username="bob", email="bob@example.test"))
    second = sign_in(engine, login("rob-sub", preferred_username="Bob", email="bob@example.test"))
    assert first.id != bob.id and second.id != bob.id
    assert (first.username, second.username) == ("bob-2", "bob-3")
    assert first.role == second.role == "user"
    assert sso.users_with_identities(engine, [bob.id]) == set()
    # The password account still signs in with its password, and only that one does.
    result = accounts.authenticate(engine, username="bob", password=PASSWORD)
    assert result.account is not None and result.account.id == bob.id


def test_a_suffix_taken_by_someone_else_is_skipped(engine: Engine) -> None:
    accounts.create_account(engine, username="sam", password=PASSWORD)
    accounts.create_account(engine, username="sam-2", password=PASSWORD)
    accounts.create_account(engine, username="sam-4", password=PASSWORD)
    names = [sign_in(engine, login(f"sub-{n}", preferred_username="sam")).username for n in (1, 2)]
    assert names == ["sam-3", "sam-5"]


def test_a_name_that_only_starts_like_the_claim_takes_nothing_from_it(engine: Engine) -> None:
    accounts.create_account(engine, username="sam-admin", password=PASSWORD)
    accounts.create_account(engine, username="samuel", password=PASSWORD)
    assert sign_in(engine, login("sub", preferred_username="sam")).username == "sam"


# --- refusals --------------------------------------------------------------------------------


def test_a_new_identity_is_refused_while_sign_up_is_closed(engine: Engine) -> None:
    admin = sign_in(engine, login("ada-sub", preferred_username="ada"))
    accounts.set_signup_enabled(engine, enabled=False)
    with pytest.raises(sso.SignupClosed):
        sign_in(engine, login("bob-sub", preferred_username="bob"))
    assert count(engine, _users) == 1
    assert count(engine, _identities) == 1
    assert accounts.find_account(engine, username="bob") is None
    assert len(audit.list_events(engine, action=audit.USER_CREATED)) == 1
    # Whoever already has an account still signs in.
    assert sign_in(engine, login("ada-sub", preferred_username="ada")).id == admin.id


def test_the_first_identity_gets_in_even_with_sign_up_closed(engine: Engine) -> None:
    accounts.set_signup_enabled(engine, enabled=False)
    assert sign_in(engine, login("ada-sub", preferred_username="ada")).is_admin


def test_sign_up_closed_is_a_refusal_with_its_own_notice(engine: Engine) -> None:
    sign_in(engine, login("ada-sub", preferred_username="ada"))
    accounts.set_signup_enabled(engine, enabled=False)
    with pytest.raises(sso.SsoRefused) as refused:
        sign_in(engine, login("bob-sub", preferred_username="bob"))
    assert refused.value.notice == "sso-signup-closed"


def test_the_identity_of_a_disabled_account_is_refused(engine: Engine) -> None:
    sign_in(engine, login("ada-sub", preferred_username="ada"))
    at = datetime(2026, 2, 1, 12, tzinfo=UTC)
    bob = sign_in(engine, login("bob-sub", preferred_username="bob"), now=at)
    accounts.set_disabled(engine, user_id=bob.id, disabled=True)
    with pytest.raises(sso.AccountDisabled) as refused:
        sign_in(engine, login("bob-sub", preferred_username="bob"), now=at + timedelta(hours=1))
    assert refused.value.notice == "sso-disabled"
    [identity] = sso.identities_of(engine, user_id=bob.id)
    assert identity["last_sign_in_at"] == at
    assert count(engine, _users) == 2


def test_a_re_enabled_account_signs_in_again(engine: Engine) -> None:
    sign_in(engine, login("ada-sub", preferred_username="ada"))
    bob = sign_in(engine, login("bob-sub", preferred_username="bob"))
    accounts.set_disabled(engine, user_id=bob.id, disabled=True)
    accounts.set_disabled(engine, user_id=bob.id, disabled=False)
    assert sign_in(engine, login("bob-sub", preferred_username="bob")).id == bob.id


# --- deleting, listing -----------------------------------------------------------------------


def test_deleting_an_account_deletes_its_identities(engine: Engine) -> None:
    admin = accounts.create_account(engine, username="ada", password=PASSWORD)
    bob = sign_in(engine, login("bob-sub", preferred_username="bob"))
    accounts.delete_account(engine, user_id=bob.id)
    assert sso.identities_of(engine, user_id=bob.id) == []
    assert count(engine, _identities) == 0
    assert accounts.get_account(engine, user_id=admin.id) is not None
    # The same person coming back is a new account (sign-up is open).
    again = sign_in(engine, login("bob-sub", preferred_username="bob"))
    assert again.id != bob.id and again.username == "bob"


def test_identities_of_lists_an_accounts_identities_oldest_first(engine: Engine) -> None:
    at = datetime(2026, 3, 1, 8, tzinfo=UTC)
    ada = sign_in(
        engine, login("ada-sub", preferred_username="ada", email="ada@example.org"), now=at
    )
    bob = sign_in(engine, login("bob-sub", preferred_username="bob"), now=at)
    password_only = accounts.create_account(engine, username="carol", password=PASSWORD)
    # A second identity for ada, tied by hand: the core itself never links one.
    with write_transaction(engine) as conn:
        conn.execute(
            _identities.insert().values(
                issuer=OTHER_ISSUER,
                subject="ada-elsewhere",
                user_id=ada.id,
                email="",
                created_at=at + timedelta(days=1),
                last_sign_in_at=at + timedelta(days=1),
            )
        )
    assert sso.identities_of(engine, user_id=ada.id) == [
        {
            "issuer": ISSUER,
            "subject": "ada-sub",
            "email": "ada@example.org",
            "created_at": at,
            "last_sign_in_at": at,
        },
        {
            "issuer": OTHER_ISSUER,
            "subject": "ada-elsewhere",
            "email": "",
            "created_at": at + timedelta(days=1),
            "last_sign_in_at": at + timedelta(days=1),
        },
    ]
    assert [identity["subject"] for identity in sso.identities_of(engine, user_id=bob.id)] == [
        "bob-sub"
    ]
    assert sso.identities_of(engine, user_id=password_only.id) == []
    assert sso.identities_of(engine, user_id="0" * 32) == []


def test_users_with_identities_picks_out_the_single_sign_on_accounts(engine: Engine) -> None:
    password_only = accounts.create_account(engine, username="carol", password=PASSWORD)
    ada = sign_in(engine, login("ada-sub", preferred_username="ada"))
    bob = sign_in(engine, login("bob-sub", preferred_username="bob"))
    sign_in(engine, login("ada-sub", issuer=OTHER_ISSUER, preferred_username="ada"))
    asked = [password_only.id, ada.id, bob.id, "0" * 32]
    assert sso.users_with_identities(engine, asked) == {ada.id, bob.id}
    assert sso.users_with_identities(engine, [password_only.id]) == set()
    assert sso.users_with_identities(engine, []) == set()


# --- at the same time ------------------------------------------------------------------------


def test_concurrent_first_sign_ins_make_one_admin_and_distinct_usernames(engine: Engine) -> None:
    calls = [
        partial(sign_in, engine, login(f"sam-{number}", preferred_username="sam"))
        for number in range(8)
    ]
    outcomes = run_at_once(calls)
    errors = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    assert errors == []
    assert [account.role for account in outcomes].count("admin") == 1
    assert sorted(account.username for account in outcomes) == sorted(
        ["sam", *(f"sam-{number}" for number in range(2, 9))]
    )
    assert len({account.id for account in outcomes}) == 8
    assert count(engine, _users) == 8
    assert count(engine, _identities) == 8


def test_a_password_tried_on_a_provider_account_costs_a_full_check(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sso.account_for_login(engine, login("s-ada", preferred_username="ada"), username_claim=CLAIM)
    checked: list[int] = []
    real_check = passwords.bcrypt.checkpw

    def counting_check(password: bytes, hashed: bytes) -> bool:
        if hashed.startswith(b"$2"):  # a real hash was checked, not the empty one refused
            checked.append(passwords.hash_cost(hashed.decode()))
        return real_check(password, hashed)

    monkeypatch.setattr(passwords.bcrypt, "checkpw", counting_check)
    assert not accounts.authenticate(engine, username="ada", password="any password at all").account
    # As long as for an account with a password: timing does not tell who signs in elsewhere.
    assert passwords.hash_rounds() in checked


def test_a_password_account_links_its_identity_and_then_signs_in_with_it(engine: Engine) -> None:
    bob = accounts.create_account(engine, username="bob", password=PASSWORD)
    sso.link_identity(engine, login("s-bob", preferred_username="robert"), user_id=bob.id)
    # The provider now signs in to bob's own account, chats and all, not to a new "robert".
    assert sign_in(engine, login("s-bob", preferred_username="robert")).id == bob.id
    assert count(engine, _users) == 1
    assert accounts.has_password(engine, user_id=bob.id)
    assert accounts.authenticate(engine, username="bob", password=PASSWORD).account is not None


def test_linking_the_same_identity_again_changes_nothing(engine: Engine) -> None:
    bob = accounts.create_account(engine, username="bob", password=PASSWORD)
    for _ in range(2):
        sso.link_identity(engine, login("s-bob"), user_id=bob.id)
    assert count(engine, _identities) == 1


def test_an_identity_of_another_account_cannot_be_linked(engine: Engine) -> None:
    ada = sign_in(engine, login("s-ada", preferred_username="ada"))
    bob = accounts.create_account(engine, username="bob", password=PASSWORD)
    with pytest.raises(sso.IdentityTaken):
        sso.link_identity(engine, login("s-ada"), user_id=bob.id)
    assert sso.identities_of(engine, user_id=bob.id) == []
    assert [i["subject"] for i in sso.identities_of(engine, user_id=ada.id)] == ["s-ada"]


def test_a_disabled_or_missing_account_links_nothing(engine: Engine) -> None:
    accounts.create_account(engine, username="root", password=PASSWORD)
    bob = accounts.create_account(engine, username="bob", password=PASSWORD)
    accounts.set_disabled(engine, user_id=bob.id, disabled=True)
    for user_id in (bob.id, "0" * 32):
        with pytest.raises(sso.AccountDisabled):
            sso.link_identity(engine, login("s-bob"), user_id=user_id)
    assert count(engine, _identities) == 0


def test_the_admin_is_told_how_each_account_signs_in(engine: Engine) -> None:
    through_provider = sign_in(engine, login("s-ada", preferred_username="ada"))
    both = accounts.create_account(engine, username="bob", password=PASSWORD)
    sso.link_identity(engine, login("s-bob"), user_id=both.id)
    password = accounts.create_account(engine, username="cleo", password=PASSWORD)
    ids = [through_provider.id, both.id, password.id]
    assert sso.sign_in_ways(engine, ids) == {
        through_provider.id: "single sign-on",
        both.id: "password or single sign-on",
        password.id: "password",
    }
    assert sso.sign_in_ways(engine, []) == {}
