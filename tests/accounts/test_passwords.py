"""accounts/passwords.py: standard bcrypt hashes at the configured cost."""

from __future__ import annotations

import bcrypt
import pytest
from streamlit_authenticator.utilities.hasher import Hasher

from accounts.passwords import hash_password, hash_rounds, password_matches

PASSWORD = "correct horse battery"


def test_hashes_are_standard_2b_bcrypt_at_the_configured_cost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PASSWORD_HASH_ROUNDS", "5")
    hashed = hash_password(PASSWORD)
    assert hashed.startswith("$2b$05$")
    assert bcrypt.checkpw(PASSWORD.encode(), hashed.encode())
    assert Hasher.check_pw(PASSWORD, hashed)


def test_the_default_cost_is_twelve(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PASSWORD_HASH_ROUNDS")
    assert hash_rounds() == 12


def test_a_cost_outside_bcrypts_range_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PASSWORD_HASH_ROUNDS", "40")
    with pytest.raises(ValueError, match="PASSWORD_HASH_ROUNDS"):
        hash_password(PASSWORD)


def test_a_hash_made_by_streamlit_authenticator_is_accepted() -> None:
    assert password_matches(PASSWORD, Hasher.hash(PASSWORD))


def test_odd_input_is_a_mismatch_not_an_error() -> None:
    hashed = hash_password(PASSWORD)
    assert not password_matches("x" * 100, hashed)
    assert not password_matches(PASSWORD, "not a hash")
    assert not password_matches("\ud800 lone surrogate", hashed)
