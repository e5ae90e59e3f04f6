"""accounts/lockout.py and accounts/sign_in.py: signing in, and the lock of one (username,
client) pair counted in the database. Every attempt here comes from one client (the CLI's ""),
so these are the pair's rules; tests/accounts/test_guess_limits.py has those between clients.
The clock is moved with `now=` instead of sleeping."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import Engine, func, select

from accounts import (
    LOCKOUT_DURATION,
    LOCKOUT_FAILURES,
    LOCKOUT_WINDOW,
    AccountNotFound,
    SignInResult,
    authenticate,
    create_account,
    find_account,
    lock_expires_at,
    passwords,
    prune_failures,
    set_disabled,
    unlock,
)
from accounts.models import LoginFailure, User
from database import get_engine
from database.engine import dispose_engine
from tests.accounts.at_once import run_at_once

PASSWORD = "correct horse battery"
WRONG = "wrong password"
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def ada(engine: Engine):
    return create_account(engine, username="ada", password=PASSWORD)


def fail(engine: Engine, username: str, times: int, *, start: datetime = T0) -> SignInResult:
    """`times` wrong passwords, one a minute from `start`; returns the last result."""
    result = None
    for number in range(times):
        result = authenticate(
            engine, username=username, password=WRONG, now=start + number * MINUTE
        )
    return result


def test_the_right_password_signs_in(engine: Engine, ada) -> None:
    result = authenticate(engine, username=" ADA ", password=PASSWORD, now=T0)
    assert result == SignInResult(account=ada, locked_until=None)


def test_a_wrong_password_or_unknown_user_is_refused_without_a_lock(engine: Engine, ada) -> None:
    assert authenticate(engine, username="ada", password=WRONG, now=T0) == SignInResult(None, None)
    assert authenticate(engine, username="ghost", password=WRONG, now=T0) == SignInResult(
        None, None
    )


def test_a_disabled_account_cannot_sign_in_even_with_the_right_password(
    engine: Engine, ada
) -> None:
    bob = create_account(engine, username="bob", password=PASSWORD)
    set_disabled(engine, user_id=bob.id, disabled=True)
    assert authenticate(engine, username="bob", password=PASSWORD, now=T0).account is None


def test_an_overlong_password_is_refused_without_an_error(engine: Engine, ada) -> None:
    assert authenticate(engine, username="ada", password="x" * 500, now=T0).account is None


def test_five_failures_within_the_window_lock_the_username_from_the_fifth(
    engine: Engine, ada
) -> None:
    assert fail(engine, "ada", LOCKOUT_FAILURES - 1).locked_until is None
    fifth_at = T0 + (LOCKOUT_FAILURES - 1) * MINUTE
    result = authenticate(engine, username="ada", password=WRONG, now=fifth_at)
    assert result == SignInResult(None, fifth_at + LOCKOUT_DURATION)
    assert lock_expires_at(engine, username="ada", now=fifth_at) == fifth_at + LOCKOUT_DURATION


def test_a_locked_username_is_refused_even_with_the_right_password(engine: Engine, ada) -> None:
    last = fail(engine, "ada", LOCKOUT_FAILURES)
    result = authenticate(engine, username="ada", password=PASSWORD, now=T0 + 6 * MINUTE)
    assert result == SignInResult(None, last.locked_until)


def test_failures_spread_wider_than_the_window_do_not_lock(engine: Engine, ada) -> None:
    step = LOCKOUT_WINDOW / (LOCKOUT_FAILURES - 1) + timedelta(seconds=1)
    for number in range(3 * LOCKOUT_FAILURES):
        at = T0 + number * step
        assert authenticate(engine, username="ada", password=WRONG, now=at).locked_until is None
    assert authenticate(engine, username="ada", password=PASSWORD, now=at).account is not None


def test_unknown_usernames_lock_exactly_like_real_ones(engine: Engine, ada) -> None:
    real = [
        authenticate(engine, username="ada", password=WRONG, now=T0 + n * MINUTE) for n in range(6)
    ]
    ghost = [
        authenticate(engine, username="ghost", password=WRONG, now=T0 + n * MINUTE)
        for n in range(6)
    ]
    assert real == ghost
    assert ghost[-1].locked_until == T0 + 4 * MINUTE + LOCKOUT_DURATION
    assert lock_expires_at(engine, username="ghost", now=T0 + 5 * MINUTE) is not None


def test_a_new_account_does_not_inherit_a_lock_on_its_name(engine: Engine, ada) -> None:
    fail(engine, "newcomer", LOCKOUT_FAILURES)
    create_account(engine, username="newcomer", password=PASSWORD)
    assert lock_expires_at(engine, username="newcomer", now=T0 + 5 * MINUTE) is None
    result = authenticate(engine, username="newcomer", password=PASSWORD, now=T0 + 5 * MINUTE)
    assert result.account is not None


def test_the_lock_expires_after_its_duration(engine: Engine, ada) -> None:
    until = fail(engine, "ada", LOCKOUT_FAILURES).locked_until
    assert lock_expires_at(engine, username="ada", now=until - timedelta(seconds=1)) == until
    assert lock_expires_at(engine, username="ada", now=until) is None
    result = authenticate(engine, username="ada", password=PASSWORD, now=until)
    assert result.account is not None and result.locked_until is None


def test_attempts_while_locked_do_not_extend_the_lock(engine: Engine, ada) -> None:
    until = fail(engine, "ada", LOCKOUT_FAILURES).locked_until
    for minute in range(5, 19):
        at = T0 + minute * MINUTE
        assert authenticate(engine, username="ada", password=WRONG, now=at).locked_until == until
        assert (
            authenticate(engine, username="ADA ", password=PASSWORD, now=at).locked_until == until
        )
    assert authenticate(engine, username="ada", password=PASSWORD, now=until).account is not None


def test_after_a_lock_expires_one_more_failure_does_not_lock_again(engine: Engine, ada) -> None:
    until = fail(engine, "ada", LOCKOUT_FAILURES).locked_until
    assert authenticate(engine, username="ada", password=WRONG, now=until).locked_until is None
    # ... but five fresh failures do.
    assert fail(engine, "ada", LOCKOUT_FAILURES - 1, start=until + MINUTE).locked_until is not None


def test_a_successful_sign_in_clears_the_failures(engine: Engine, ada) -> None:
    fail(engine, "ada", LOCKOUT_FAILURES - 1)
    assert authenticate(engine, username="ada", password=PASSWORD, now=T0 + 4 * MINUTE).account
    # The count starts again: four more failures do not lock.
    assert fail(engine, "ada", LOCKOUT_FAILURES - 1, start=T0 + 5 * MINUTE).locked_until is None


def test_the_fifth_attempt_with_the_right_password_signs_in(engine: Engine, ada) -> None:
    fail(engine, "ada", LOCKOUT_FAILURES - 1)
    result = authenticate(engine, username="ada", password=PASSWORD, now=T0 + 4 * MINUTE)
    assert result.account is not None and result.account.locked_until is None
    assert find_account(engine, username="ada").locked_until is None


def test_unlock_lifts_the_lock_and_forgets_the_failures(engine: Engine, ada) -> None:
    fail(engine, "ada", LOCKOUT_FAILURES)
    unlock(engine, user_id=ada.id)
    assert lock_expires_at(engine, username="ada", now=T0 + 5 * MINUTE) is None
    assert find_account(engine, username="ada").locked_until is None
    assert authenticate(engine, username="ada", password=PASSWORD, now=T0 + 5 * MINUTE).account


def test_unlocking_an_unknown_account_says_so(engine: Engine) -> None:
    with pytest.raises(AccountNotFound):
        unlock(engine, user_id="0" * 32)


def test_the_users_table_shows_the_lock_for_the_admin_page(engine: Engine, ada) -> None:
    until = fail(engine, "ada", LOCKOUT_FAILURES).locked_until
    assert find_account(engine, username="ada").locked_until == until
    # The owner signing in from elsewhere lifts nothing: the lock of that client stays shown.
    at = T0 + LOCKOUT_FAILURES * MINUTE
    signed_in = authenticate(engine, username="ada", password=PASSWORD, client="local", now=at)
    assert signed_in.account.locked_until == until
    assert find_account(engine, username="ada").locked_until == until
    unlock(engine, user_id=ada.id)
    assert find_account(engine, username="ada").locked_until is None


def test_the_users_table_clears_the_lock_when_the_locked_client_signs_in(
    engine: Engine, ada
) -> None:
    until = fail(engine, "ada", LOCKOUT_FAILURES).locked_until
    assert authenticate(engine, username="ada", password=PASSWORD, now=until).account
    assert find_account(engine, username="ada").locked_until is None


def test_a_lock_survives_a_restart(database_url: str) -> None:
    from database import migrate

    engine = get_engine(database_url)
    migrate(engine)
    create_account(engine, username="ada", password=PASSWORD)
    until = fail(engine, "ada", LOCKOUT_FAILURES).locked_until
    dispose_engine(database_url)
    restarted = get_engine(database_url)
    try:
        assert restarted is not engine
        assert lock_expires_at(restarted, username="ada", now=T0 + 5 * MINUTE) == until
        result = authenticate(restarted, username="ada", password=PASSWORD, now=T0 + 5 * MINUTE)
        assert result == SignInResult(None, until)
    finally:
        dispose_engine(database_url)


def test_twenty_concurrent_guesses_check_at_most_five_passwords(
    engine: Engine, ada, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    dummies: list[str] = []
    lock = threading.Lock()
    real_check, real_spend = passwords.password_matches, passwords.spend_a_check

    def check_spy(password: str, password_hash: str) -> bool:
        with lock:
            checked.append(password_hash)
        return real_check(password, password_hash)

    def spend_spy(password: str) -> None:
        with lock:
            dummies.append(password)
        real_spend(password)

    monkeypatch.setattr(passwords, "password_matches", check_spy)
    monkeypatch.setattr(passwords, "spend_a_check", spend_spy)
    client = "198.51.100.4"
    guess = partial(authenticate, engine, username="ada", password=WRONG, client=client, now=T0)

    results = run_at_once([guess] * 20)

    assert all(isinstance(result, SignInResult) and result.account is None for result in results)
    with engine.connect() as conn:
        real_hash = conn.scalar(select(User.password_hash).where(User.id == ada.id))
        recorded = conn.scalar(select(func.count()).select_from(LoginFailure))
    assert len(checked) <= LOCKOUT_FAILURES
    assert checked == [real_hash] * len(checked)
    assert recorded == LOCKOUT_FAILURES
    # The rest were refused as locked, each still spending one (dummy) check.
    until = T0 + LOCKOUT_DURATION
    refused = [result for result in results if result.locked_until == until]
    assert len(refused) >= 20 - LOCKOUT_FAILURES
    assert len(dummies) == 20 - len(checked)

    # The right password from the same client is refused, unchecked, until the lock ends.
    for at in (T0 + MINUTE, until - timedelta(seconds=1)):
        result = authenticate(engine, username="ada", password=PASSWORD, client=client, now=at)
        assert result == SignInResult(None, until)
    assert len(checked) <= LOCKOUT_FAILURES
    result = authenticate(engine, username="ada", password=PASSWORD, client=client, now=until)
    assert result.account is not None and result.account.id == ada.id


def test_usernames_no_account_could_have_are_still_counted_safely(engine: Engine) -> None:
    for name in ("x" * 500, "nul\x00name", "Ünïcode name"):
        fail(engine, name, LOCKOUT_FAILURES)
        assert lock_expires_at(engine, username=name, now=T0 + 5 * MINUTE) is not None


def test_old_failures_are_pruned(engine: Engine) -> None:
    # Kept for an hour: the name's ceiling counts the last hour's failures.
    fail(engine, "ghost", 3)
    fail(engine, "ada", 1, start=T0 + 40 * MINUTE)
    assert prune_failures(engine, now=T0 + 40 * MINUTE) == 0
    fail(engine, "ada", 1, start=T0 + 63 * MINUTE)
    assert prune_failures(engine, now=T0 + 63 * MINUTE) == 3
    with engine.connect() as conn:
        assert conn.scalars(select(LoginFailure.username)).all() == ["ada", "ada"]
