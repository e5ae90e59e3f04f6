"""Revoking sign-ins: sign-out everywhere, password change, operator reset and disabling each
make every earlier sign-in stop counting; and the password changes themselves."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from accounts import (
    LOCKOUT_FAILURES,
    AccountNotFound,
    WeakPassword,
    WrongPassword,
    authenticate,
    change_password,
    create_account,
    find_account,
    get_account,
    lock_expires_at,
    reset_password,
    revoke_sign_ins,
    set_disabled,
    sign_in_is_current,
)
from database import utcnow

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a different one"
TICK = timedelta(microseconds=1)


@pytest.fixture
def bob(engine: Engine):
    create_account(engine, username="ada", password=PASSWORD)  # the admin
    return create_account(engine, username="bob", password=PASSWORD)


def signed_in_now(engine: Engine, user_id: str):
    """A sign-in made at this instant, and the account as the next page run reads it."""
    return utcnow(), get_account(engine, user_id=user_id)


def test_a_sign_in_made_after_creation_counts(engine: Engine, bob) -> None:
    signed_in_at, account = signed_in_now(engine, bob.id)
    assert sign_in_is_current(account, signed_in_at=signed_in_at)


def test_sign_out_everywhere_revokes_earlier_sign_ins_only(engine: Engine, bob) -> None:
    before, _ = signed_in_now(engine, bob.id)
    revoked_at = before + TICK
    revoke_sign_ins(engine, user_id=bob.id, now=revoked_at)
    account = get_account(engine, user_id=bob.id)
    assert not sign_in_is_current(account, signed_in_at=before)
    assert sign_in_is_current(account, signed_in_at=revoked_at)
    assert sign_in_is_current(account, signed_in_at=utcnow())


def test_changing_the_password_revokes_earlier_sign_ins(engine: Engine, bob) -> None:
    before, _ = signed_in_now(engine, bob.id)
    change_password(engine, user_id=bob.id, current_password=PASSWORD, new_password=NEW_PASSWORD)
    assert not sign_in_is_current(get_account(engine, user_id=bob.id), signed_in_at=before)
    assert authenticate(engine, username="bob", password=NEW_PASSWORD).account is not None
    assert authenticate(engine, username="bob", password=PASSWORD).account is None


def test_an_operator_reset_revokes_earlier_sign_ins_and_lifts_a_lock(engine: Engine, bob) -> None:
    before, _ = signed_in_now(engine, bob.id)
    for client in ("", "203.0.113.9"):
        for _ in range(LOCKOUT_FAILURES):
            authenticate(engine, username="bob", password="not the password", client=client)
        assert lock_expires_at(engine, username="bob", client=client) is not None
    reset_password(engine, username=" BOB ", new_password=NEW_PASSWORD)
    assert not sign_in_is_current(get_account(engine, user_id=bob.id), signed_in_at=before)
    assert lock_expires_at(engine, username="bob") is None
    assert find_account(engine, username="bob").locked_until is None
    assert authenticate(engine, username="bob", password=NEW_PASSWORD).account is not None


def test_disabling_revokes_sign_ins_and_enabling_does_not_bring_them_back(
    engine: Engine, bob
) -> None:
    before, _ = signed_in_now(engine, bob.id)
    set_disabled(engine, user_id=bob.id, disabled=True)
    after_disable, disabled = signed_in_now(engine, bob.id)
    assert not sign_in_is_current(disabled, signed_in_at=before)
    assert not sign_in_is_current(disabled, signed_in_at=after_disable)  # disabled at all
    set_disabled(engine, user_id=bob.id, disabled=False)
    enabled = get_account(engine, user_id=bob.id)
    assert not sign_in_is_current(enabled, signed_in_at=before)
    assert sign_in_is_current(enabled, signed_in_at=utcnow())


def test_revocation_never_moves_backwards(engine: Engine, bob) -> None:
    later = utcnow() + timedelta(hours=1)
    revoke_sign_ins(engine, user_id=bob.id, now=later)
    revoke_sign_ins(engine, user_id=bob.id, now=later - timedelta(hours=2))
    assert get_account(engine, user_id=bob.id).sessions_valid_after == later


def test_revoking_an_unknown_account_says_so(engine: Engine) -> None:
    with pytest.raises(AccountNotFound):
        revoke_sign_ins(engine, user_id="0" * 32)


def test_a_naive_sign_in_time_is_refused(engine: Engine, bob) -> None:
    with pytest.raises(ValueError, match="timezone"):
        sign_in_is_current(bob, signed_in_at=utcnow().replace(tzinfo=None))


def test_changing_the_password_needs_the_current_one(engine: Engine, bob) -> None:
    before, _ = signed_in_now(engine, bob.id)
    with pytest.raises(WrongPassword, match="current password"):
        change_password(
            engine, user_id=bob.id, current_password="not it at all", new_password=NEW_PASSWORD
        )
    # Nothing changed: the old password works and the sign-in still counts.
    assert sign_in_is_current(get_account(engine, user_id=bob.id), signed_in_at=before)
    assert authenticate(engine, username="bob", password=PASSWORD).account is not None


def test_a_new_password_follows_the_rules(engine: Engine, bob) -> None:
    with pytest.raises(WeakPassword):
        change_password(engine, user_id=bob.id, current_password=PASSWORD, new_password="short")
    with pytest.raises(WeakPassword):
        reset_password(engine, username="bob", new_password=" padded password ")


def test_resetting_an_unknown_username_says_so(engine: Engine) -> None:
    with pytest.raises(AccountNotFound, match="ghost"):
        reset_password(engine, username="ghost", new_password=NEW_PASSWORD)
