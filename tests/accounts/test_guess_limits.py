"""accounts/lockout.py between clients: a lock holds only the (username, client) pair that
earned it, so an attacker cannot lock the owner out; the name's ceiling (ASVS 2.2.1: at most
100 failures an hour) spares browsers that signed in before; and every outcome costs one bcrypt
check, so neither the answer nor its timing tells names apart."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta

import bcrypt
import pytest
from sqlalchemy import Engine, func, select, update

from accounts import (
    LOCKOUT_DURATION,
    LOCKOUT_FAILURES,
    NAME_CEILING_FAILURES,
    NAME_CEILING_WINDOW,
    SignInResult,
    authenticate,
    change_password,
    create_account,
    delete_account,
    find_account,
    lock_expires_at,
    reset_password,
    set_disabled,
    unlock,
)
from accounts.lockout import MAX_CLIENT_CHARS
from accounts.models import KnownBrowser, LoginFailure, User

PASSWORD = "correct horse battery"
WRONG = "wrong password"
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
ATTACKER = "203.0.113.9"
ALICES_BROWSER = "alices-browser-cookie-value-0123456789abcdef"


@pytest.fixture
def alice(engine: Engine):
    create_account(engine, username="admin", password=PASSWORD)
    return create_account(engine, username="alice", password=PASSWORD)


def guesses(
    engine: Engine,
    times: int,
    *,
    username: str = "alice",
    client: str = ATTACKER,
    password: str = WRONG,
    start: datetime = T0,
    browser: str | None = None,
) -> list[SignInResult]:
    """`times` attempts from one client, one a minute from `start`."""
    return [
        authenticate(
            engine,
            username=username,
            password=password,
            client=client,
            browser=browser,
            now=start + number * MINUTE,
        )
        for number in range(times)
    ]


def failures(engine: Engine, **where: str) -> int:
    query = select(func.count()).select_from(LoginFailure)
    for column, value in where.items():
        query = query.where(getattr(LoginFailure, column) == value)
    with engine.connect() as conn:
        return conn.scalar(query)


# --- the lock of one (username, client) pair ---------------------------------------------------


def test_an_attacker_who_locks_a_name_cannot_lock_its_owner_out(engine: Engine, alice) -> None:
    until = guesses(engine, LOCKOUT_FAILURES)[-1].locked_until
    assert until == T0 + (LOCKOUT_FAILURES - 1) * MINUTE + LOCKOUT_DURATION
    at = T0 + LOCKOUT_FAILURES * MINUTE

    owner = authenticate(engine, username="alice", password=PASSWORD, client="local", now=at)
    assert owner.account is not None and owner.account.id == alice.id

    # The owner's success lifted nothing of the attacker's: still refused, even when right.
    for password in (WRONG, "another guess", PASSWORD):
        result = authenticate(engine, username="alice", password=password, client=ATTACKER, now=at)
        assert result == SignInResult(None, until)
    assert failures(engine, client=ATTACKER) == LOCKOUT_FAILURES
    assert lock_expires_at(engine, username="alice", client=ATTACKER, now=at) == until
    assert lock_expires_at(engine, username="alice", client="local", now=at) is None
    assert lock_expires_at(engine, username="alice", now=at) == until


def test_a_success_clears_only_its_own_clients_failures(engine: Engine, alice) -> None:
    guesses(engine, LOCKOUT_FAILURES - 1, client="local")
    guesses(engine, LOCKOUT_FAILURES - 2, client=ATTACKER)
    at = T0 + LOCKOUT_FAILURES * MINUTE
    assert authenticate(engine, username="alice", password=PASSWORD, client="local", now=at).account
    assert failures(engine, client="local") == 0
    assert failures(engine, client=ATTACKER) == LOCKOUT_FAILURES - 2
    # The attacker's count went on: two more lock them; the owner's started again.
    assert guesses(engine, 2, start=at)[-1].locked_until is not None
    assert guesses(engine, LOCKOUT_FAILURES - 1, client="local", start=at)[-1].locked_until is None


def test_failures_from_several_clients_each_count_only_for_their_own(engine: Engine, alice) -> None:
    for number in range(3):
        results = guesses(engine, LOCKOUT_FAILURES - 1, client=f"198.51.100.{number}")
        assert all(result.locked_until is None for result in results)
    at = T0 + LOCKOUT_FAILURES * MINUTE
    assert lock_expires_at(engine, username="alice", now=at) is None
    assert authenticate(engine, username="alice", password=PASSWORD, client="local", now=at).account


def test_unknown_and_disabled_names_lock_exactly_like_real_ones(engine: Engine, alice) -> None:
    bob = create_account(engine, username="bob", password=PASSWORD)
    set_disabled(engine, user_id=bob.id, disabled=True)
    attempts = LOCKOUT_FAILURES + 2
    real = guesses(engine, attempts)
    ghost = guesses(engine, attempts, username="ghost")
    # A disabled account answers the same even to its right password.
    disabled = guesses(engine, attempts, username="bob", password=PASSWORD)
    assert real == ghost == disabled
    assert all(result.account is None for result in real)
    unlocked = [result.locked_until is None for result in real]
    assert unlocked == [True] * (LOCKOUT_FAILURES - 1) + [False] * (attempts - LOCKOUT_FAILURES + 1)
    at = T0 + attempts * MINUTE
    for name in ("alice", "ghost", "bob"):
        assert (
            lock_expires_at(engine, username=name, client=ATTACKER, now=at) == real[-1].locked_until
        )
        assert lock_expires_at(engine, username=name, client="local", now=at) is None


def test_odd_client_values_are_stored_safely(engine: Engine, alice) -> None:
    for client in ("x" * 500, "nul\x00client", "\ud800 surrogate", "  spaced  "):
        results = guesses(engine, LOCKOUT_FAILURES, client=client)
        assert results[-1].locked_until is not None
        at = T0 + (LOCKOUT_FAILURES - 1) * MINUTE
        assert lock_expires_at(engine, username="alice", client=client, now=at) is not None
    with engine.connect() as conn:
        stored = set(conn.scalars(select(LoginFailure.client)))
    assert "x" * MAX_CLIENT_CHARS in stored and "spaced" in stored
    assert all(len(client) <= MAX_CLIENT_CHARS and "\x00" not in client for client in stored)


# --- the name's ceiling across clients --------------------------------------------------------

SPREAD = NAME_CEILING_WINDOW / (2 * NAME_CEILING_FAILURES)  # 100 failures in half an hour


def hit_the_ceiling(engine: Engine, username: str = "alice") -> datetime:
    """NAME_CEILING_FAILURES failures for `username`, each from a client of its own; returns
    when the last one was made."""
    for number in range(NAME_CEILING_FAILURES):
        result = authenticate(
            engine,
            username=username,
            password=WRONG,
            client=f"10.0.{number // 250}.{number % 250}",
            now=T0 + number * SPREAD,
        )
        assert result.account is None
    return T0 + (NAME_CEILING_FAILURES - 1) * SPREAD


def test_the_ceiling_locks_a_name_for_new_clients_but_not_for_a_browser_that_signed_in_before(
    engine: Engine, alice
) -> None:
    before = T0 - timedelta(days=3)
    signed_in = authenticate(
        engine,
        username="alice",
        password=PASSWORD,
        client="local",
        browser=ALICES_BROWSER,
        now=before,
    )
    assert signed_in.account is not None
    last = hit_the_ceiling(engine)
    at = last + MINUTE
    ceiling_ends = T0 + NAME_CEILING_WINDOW
    assert failures(engine) == NAME_CEILING_FAILURES

    # A new client, and a browser never signed in to alice, are refused even with the password.
    for client, browser in (("192.0.2.77", None), ("local", None), ("local", "another browser")):
        result = authenticate(
            engine, username="alice", password=PASSWORD, client=client, browser=browser, now=at
        )
        assert result == SignInResult(None, ceiling_ends)
    assert failures(engine) == NAME_CEILING_FAILURES  # refused attempts are not counted
    assert lock_expires_at(engine, username="alice", now=at) == ceiling_ends
    assert find_account(engine, username="alice").locked_until == ceiling_ends

    # Alice's browser still gets in, from home or from anywhere else.
    for client in ("local", "192.0.2.78"):
        result = authenticate(
            engine,
            username="alice",
            password=PASSWORD,
            client=client,
            browser=ALICES_BROWSER,
            now=at,
        )
        assert result.account is not None and result.account.id == alice.id
        assert result.account.locked_until == ceiling_ends  # the ceiling still holds for others

    # ... but it is still under its own pair's limit.
    results = guesses(
        engine, LOCKOUT_FAILURES + 1, client="local", browser=ALICES_BROWSER, start=at
    )
    assert results[LOCKOUT_FAILURES - 1].locked_until == at + 4 * MINUTE + LOCKOUT_DURATION
    assert results[-1] == SignInResult(None, at + 4 * MINUTE + LOCKOUT_DURATION)

    # Those failures count towards the ceiling too, so it now lifts when the oldest of the
    # latest hundred leaves the hour; then new clients are heard again.
    later = at + LOCKOUT_FAILURES * MINUTE
    ends = lock_expires_at(engine, username="alice", client="192.0.2.77", now=later)
    assert ends == T0 + LOCKOUT_FAILURES * SPREAD + NAME_CEILING_WINDOW
    refused = authenticate(
        engine, username="alice", password=PASSWORD, client="192.0.2.77", now=ends - MINUTE
    )
    assert refused == SignInResult(None, ends)
    result = authenticate(
        engine, username="alice", password=PASSWORD, client="192.0.2.77", now=ends
    )
    assert result.account is not None


def test_the_ceiling_counts_at_most_a_hundred_failures_an_hour(engine: Engine, alice) -> None:
    last = hit_the_ceiling(engine)
    # A new client every minute for the rest of the hour, none of them ever checked or counted.
    for minute in range(1, 30):
        result = authenticate(
            engine,
            username="alice",
            password=WRONG,
            client=f"192.0.2.{minute}",
            now=last + minute * MINUTE,
        )
        assert result.locked_until == T0 + NAME_CEILING_WINDOW
    assert failures(engine) == NAME_CEILING_FAILURES


def test_an_unknown_name_has_the_same_ceiling_and_no_browser_passes_it(
    engine: Engine, alice
) -> None:
    at = hit_the_ceiling(engine, "ghost") + MINUTE
    result = authenticate(
        engine, username="ghost", password=PASSWORD, client="local", browser=ALICES_BROWSER, now=at
    )
    assert result == SignInResult(None, T0 + NAME_CEILING_WINDOW)


def test_a_browser_is_known_only_to_the_account_it_signed_in_to(engine: Engine, alice) -> None:
    create_account(engine, username="carol", password=PASSWORD)
    authenticate(
        engine, username="alice", password=PASSWORD, browser=ALICES_BROWSER, now=T0 - MINUTE
    )
    at = hit_the_ceiling(engine, "carol") + MINUTE
    result = authenticate(
        engine, username="carol", password=PASSWORD, browser=ALICES_BROWSER, now=at
    )
    assert result == SignInResult(None, T0 + NAME_CEILING_WINDOW)


def known_browsers(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(KnownBrowser))


def test_only_successes_with_a_browser_make_it_known(engine: Engine, alice) -> None:
    authenticate(engine, username="alice", password=PASSWORD, now=T0)
    authenticate(engine, username="alice", password=WRONG, browser="a guesser", now=T0)
    assert known_browsers(engine) == 0
    for at in (T0, T0 + MINUTE):
        authenticate(engine, username="alice", password=PASSWORD, browser=ALICES_BROWSER, now=at)
    with engine.connect() as conn:
        row = conn.execute(select(KnownBrowser)).one()
    assert row.user_id == alice.id and row.last_sign_in_at == T0 + MINUTE
    assert ALICES_BROWSER not in row.browser_hash and len(row.browser_hash) == 64


def test_a_new_password_forgets_the_known_browsers_and_deleting_the_account_too(
    engine: Engine, alice
) -> None:
    authenticate(engine, username="alice", password=PASSWORD, browser=ALICES_BROWSER)
    change_password(
        engine, user_id=alice.id, current_password=PASSWORD, new_password="a new password!"
    )
    assert known_browsers(engine) == 0
    authenticate(engine, username="alice", password="a new password!", browser=ALICES_BROWSER)
    reset_password(engine, username="alice", new_password=PASSWORD)
    assert known_browsers(engine) == 0
    authenticate(engine, username="alice", password=PASSWORD, browser=ALICES_BROWSER)
    assert known_browsers(engine) == 1
    delete_account(engine, user_id=alice.id)
    assert known_browsers(engine) == 0


def test_unlock_clears_every_client_and_the_ceiling(engine: Engine, alice) -> None:
    at = hit_the_ceiling(engine) + MINUTE
    guesses(engine, LOCKOUT_FAILURES, start=at)
    unlock(engine, user_id=alice.id)
    assert failures(engine) == 0
    assert lock_expires_at(engine, username="alice", now=at) is None
    assert find_account(engine, username="alice").locked_until is None
    assert authenticate(engine, username="alice", password=PASSWORD, client="x", now=at).account


# --- one bcrypt check whatever the outcome -----------------------------------------------------


def test_every_outcome_spends_exactly_one_bcrypt_check(
    engine: Engine, alice, monkeypatch: pytest.MonkeyPatch
) -> None:
    bob = create_account(engine, username="bob", password=PASSWORD)
    set_disabled(engine, user_id=bob.id, disabled=True)
    at = hit_the_ceiling(engine, "ceiling") + MINUTE
    guesses(engine, LOCKOUT_FAILURES, client="locked", start=at - LOCKOUT_FAILURES * MINUTE)
    checks: list[bytes] = []
    real_checkpw = bcrypt.checkpw

    def spy(password: bytes, hashed: bytes) -> bool:
        checks.append(hashed)
        return real_checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", spy)
    outcomes = {
        "right": ("alice", PASSWORD, "a"),
        "wrong": ("alice", WRONG, "b"),
        "unknown name": ("ghost", PASSWORD, "c"),
        "invalid name": ("not a name!", PASSWORD, "d"),
        "disabled": ("bob", PASSWORD, "e"),
        "locked pair": ("alice", PASSWORD, "locked"),
        "ceiling": ("ceiling", PASSWORD, "f"),
        "overlong password": ("alice", "x" * 500, "g"),
    }
    for outcome, (username, password, client) in outcomes.items():
        checks.clear()
        authenticate(engine, username=username, password=password, client=client, now=at)
        assert len(checks) == 1, outcome


def test_wrong_unknown_and_locked_take_the_same_time(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real cost, so that bcrypt and not the database decides the time.
    monkeypatch.setenv("PASSWORD_HASH_ROUNDS", "10")
    create_account(engine, username="alice", password=PASSWORD)
    guesses(engine, LOCKOUT_FAILURES, client="locked")
    at = T0 + LOCKOUT_FAILURES * MINUTE
    assert lock_expires_at(engine, username="alice", client="locked", now=at) is not None

    def attempt(kind: str, number: int) -> float:
        username = "ghost" if kind == "unknown" else "alice"
        # A fresh client for each wrong guess, so none of them ever locks.
        client = "locked" if kind == "locked" else f"{kind}-{number}"
        started = time.perf_counter()
        result = authenticate(engine, username=username, password=WRONG, client=client, now=at)
        elapsed = time.perf_counter() - started
        assert result.account is None
        assert (result.locked_until is not None) == (kind == "locked")
        return elapsed

    kinds = ("wrong", "unknown", "locked")
    for kind in kinds:  # warm up: the dummy hash, connections, statement caches
        attempt(kind, -1)
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    for number in range(8):  # interleaved, so a slow moment hits every kind alike
        for kind in kinds:
            times[kind].append(attempt(kind, number))
    medians = {kind: statistics.median(values) for kind, values in times.items()}
    assert max(medians.values()) / min(medians.values()) < 1.5, medians


def test_a_stale_mirror_on_the_users_table_does_not_lock_anyone(engine: Engine, alice) -> None:
    # The mirror is for the admin page only: the lock itself is read from login_failures.
    with engine.begin() as conn:
        conn.execute(update(User).where(User.id == alice.id).values(locked_until=T0 + MINUTE))
    assert authenticate(engine, username="alice", password=PASSWORD, now=T0).account is not None
    assert find_account(engine, username="alice").locked_until is None
