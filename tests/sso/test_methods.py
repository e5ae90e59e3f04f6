"""sso/methods.py: which ways of signing in are open, from what the admin stored and whether
single sign-on is configured. Passwords always come back when single sign-on is not."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

import sso
from database.app_settings import write_setting
from sso.methods import METHODS_SETTING


@pytest.mark.parametrize("stored", [None, sso.PASSWORD, sso.SSO, sso.BOTH])
def test_without_single_sign_on_configured_only_passwords_are_open_whatever_is_stored(
    engine: Engine, stored: str | None
) -> None:
    if stored is not None:
        sso.set_sign_in_methods(engine, stored)
    methods = sso.sign_in_methods(engine, sso_configured=False)
    assert methods == sso.SignInMethods(password=True, sso=False)
    assert methods.choice == sso.PASSWORD


def test_configured_with_nothing_stored_both_ways_are_open(engine: Engine) -> None:
    methods = sso.sign_in_methods(engine, sso_configured=True)
    assert methods == sso.SignInMethods(password=True, sso=True)
    assert methods.choice == sso.BOTH


def test_choosing_single_sign_on_closes_passwords(engine: Engine) -> None:
    sso.set_sign_in_methods(engine, sso.SSO)
    methods = sso.sign_in_methods(engine, sso_configured=True)
    assert methods == sso.SignInMethods(password=False, sso=True)
    assert methods.choice == sso.SSO


def test_choosing_passwords_closes_single_sign_on(engine: Engine) -> None:
    sso.set_sign_in_methods(engine, sso.PASSWORD)
    methods = sso.sign_in_methods(engine, sso_configured=True)
    assert methods == sso.SignInMethods(password=True, sso=False)
    assert methods.choice == sso.PASSWORD


def test_a_later_choice_replaces_the_earlier_one(engine: Engine) -> None:
    sso.set_sign_in_methods(engine, sso.SSO)
    sso.set_sign_in_methods(engine, sso.BOTH)
    assert sso.sign_in_methods(engine, sso_configured=True) == sso.SignInMethods(
        password=True, sso=True
    )


def test_the_stored_choice_is_both_until_an_admin_chooses(engine: Engine) -> None:
    assert sso.stored_choice(engine) == sso.BOTH
    for choice in sso.CHOICES:
        sso.set_sign_in_methods(engine, choice)
        assert sso.stored_choice(engine) == choice


def test_a_stored_value_that_is_no_choice_reads_as_both(engine: Engine) -> None:
    write_setting(engine, METHODS_SETTING, "nobody")
    assert sso.stored_choice(engine) == sso.BOTH
    assert sso.sign_in_methods(engine, sso_configured=True) == sso.SignInMethods(
        password=True, sso=True
    )


@pytest.mark.parametrize("choice", ["", "none", "SSO", "passwords", " sso"])
def test_an_unknown_choice_is_refused_and_changes_nothing(engine: Engine, choice: str) -> None:
    sso.set_sign_in_methods(engine, sso.SSO)
    with pytest.raises(ValueError, match="must be one of password, sso, both"):
        sso.set_sign_in_methods(engine, choice)
    assert sso.stored_choice(engine) == sso.SSO
