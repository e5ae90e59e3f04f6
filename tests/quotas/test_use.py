"""Daily quotas on both engines: limits in force, questions admitted and refused, tokens
settled, questions given back, many at once within a process (across two processes:
test_turns_across_processes.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine

import accounts
from accounts.users import delete_account
from quotas import (
    InvalidLimit,
    Limits,
    QuotaExceeded,
    admit_question,
    default_limits,
    limits_in_force,
    own_limits,
    prune_use,
    release_question,
    set_default_limits,
    set_own_limits,
    settle_tokens,
    todays_use,
)
from tests.accounts.at_once import run_at_once

NOON = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def cheap_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSWORD_HASH_ROUNDS", "4")


def make_user(engine: Engine, name: str) -> str:
    account = accounts.create_account(
        engine, username=name, password=PASSWORD, via_signup=False, role="user"
    )
    return account.id


def test_without_limits_every_question_is_admitted_and_nothing_is_counted(engine: Engine) -> None:
    ada = make_user(engine, "ada")
    for _ in range(30):
        admit_question(engine, ada, tokens=100, now=NOON)
    status = todays_use(engine, [ada], now=NOON)[ada]
    assert status.limits == Limits()
    assert (status.messages_used, status.messages_left, status.tokens_left) == (0, None, None)


def test_the_default_applies_until_a_user_has_limits_of_their_own(engine: Engine) -> None:
    ada, bob = make_user(engine, "ada"), make_user(engine, "bob")
    set_default_limits(engine, Limits(messages_per_day=5, tokens_per_day=1000))
    set_own_limits(engine, bob, Limits(messages_per_day=50), now=NOON)
    assert default_limits(engine) == Limits(5, 1000)
    assert own_limits(engine, bob) == Limits(50, None)
    assert limits_in_force(engine, [ada, bob]) == {ada: Limits(5, 1000), bob: Limits(50, 1000)}
    set_own_limits(engine, bob, Limits(), now=NOON)  # back to the default
    assert limits_in_force(engine, [bob]) == {bob: Limits(5, 1000)}


def test_the_question_over_the_message_limit_is_refused_with_the_reset_time(
    engine: Engine,
) -> None:
    ada = make_user(engine, "ada")
    set_default_limits(engine, Limits(messages_per_day=2))
    admit_question(engine, ada, tokens=10, now=NOON)
    admit_question(engine, ada, tokens=10, now=NOON)
    with pytest.raises(QuotaExceeded) as refused:
        admit_question(engine, ada, tokens=10, now=NOON)
    assert refused.value.kind == "messages"
    assert refused.value.resets_at == datetime(2030, 1, 2, tzinfo=UTC)
    assert "quota of 2 messages" in str(refused.value)
    assert "2030-01-02 00:00 UTC" in str(refused.value)
    status = todays_use(engine, [ada], now=NOON)[ada]
    assert (status.messages_used, status.messages_left) == (2, 0)  # the refusal counted nothing
    # The next UTC day is a new quota.
    admit_question(engine, ada, tokens=10, now=NOON + timedelta(days=1))


def test_tokens_count_the_question_first_then_what_the_turn_really_cost(engine: Engine) -> None:
    ada = make_user(engine, "ada")
    set_default_limits(engine, Limits(tokens_per_day=500))
    reservation = admit_question(engine, ada, tokens=40, now=NOON)
    assert todays_use(engine, [ada], now=NOON)[ada].tokens_used == 40
    settle_tokens(engine, reservation, tokens=300)  # history and answer included
    assert todays_use(engine, [ada], now=NOON)[ada].tokens_left == 200
    with pytest.raises(QuotaExceeded) as refused:
        admit_question(engine, ada, tokens=201, now=NOON)
    assert refused.value.kind == "tokens"
    admit_question(engine, ada, tokens=200, now=NOON)
    assert todays_use(engine, [ada], now=NOON)[ada].tokens_left == 0


def test_a_question_that_never_reached_the_model_is_given_back(engine: Engine) -> None:
    ada = make_user(engine, "ada")
    set_default_limits(engine, Limits(messages_per_day=1, tokens_per_day=100))
    reservation = admit_question(engine, ada, tokens=60, now=NOON)
    release_question(engine, reservation)
    status = todays_use(engine, [ada], now=NOON)[ada]
    assert (status.messages_used, status.tokens_used) == (0, 0)
    admit_question(engine, ada, tokens=60, now=NOON)  # the one message left is there again
    with pytest.raises(QuotaExceeded):
        admit_question(engine, ada, tokens=1, now=NOON)


def test_a_question_admitted_without_limits_settles_and_releases_nothing(engine: Engine) -> None:
    ada = make_user(engine, "ada")
    reservation = admit_question(engine, ada, tokens=60, now=NOON)
    assert not reservation.counted
    # A limit set meanwhile does not turn the uncounted question into a count to undo.
    set_default_limits(engine, Limits(messages_per_day=5))
    admit_question(engine, ada, tokens=1, now=NOON)
    settle_tokens(engine, reservation, tokens=500)
    release_question(engine, reservation)
    status = todays_use(engine, [ada], now=NOON)[ada]
    assert (status.messages_used, status.tokens_used) == (1, 1)


def test_a_limit_must_be_a_whole_number_from_zero(engine: Engine) -> None:
    ada = make_user(engine, "ada")
    for bad in (-1, 2.5, "10", True, 10**12):
        with pytest.raises(InvalidLimit):
            set_default_limits(engine, Limits(messages_per_day=bad))  # type: ignore[arg-type]
        with pytest.raises(InvalidLimit):
            set_own_limits(engine, ada, Limits(tokens_per_day=bad))  # type: ignore[arg-type]
    set_own_limits(engine, ada, Limits(messages_per_day=0), now=NOON)
    with pytest.raises(QuotaExceeded):
        admit_question(engine, ada, tokens=1, now=NOON)


def test_one_users_quota_is_not_anothers(engine: Engine) -> None:
    ada, bob = make_user(engine, "ada"), make_user(engine, "bob")
    set_default_limits(engine, Limits(messages_per_day=1))
    admit_question(engine, ada, tokens=1, now=NOON)
    admit_question(engine, bob, tokens=1, now=NOON)
    use = todays_use(engine, [ada, bob], now=NOON)
    assert (use[ada].messages_used, use[bob].messages_used) == (1, 1)


def test_fifty_questions_at_once_admit_exactly_the_limit(engine: Engine) -> None:
    ada = make_user(engine, "ada")
    set_default_limits(engine, Limits(messages_per_day=10))
    outcomes = run_at_once([lambda: admit_question(engine, ada, tokens=5, now=NOON)] * 50)
    refused = [o for o in outcomes if isinstance(o, QuotaExceeded)]
    admitted = [o for o in outcomes if not isinstance(o, Exception)]
    assert (len(admitted), len(refused)) == (10, 40)
    status = todays_use(engine, [ada], now=NOON)[ada]
    assert (status.messages_used, status.tokens_used) == (10, 50)


def test_old_days_are_pruned_and_an_erased_account_takes_its_counts(engine: Engine) -> None:
    make_user(engine, "root")  # the first account is the admin, who cannot be the one erased
    ada = make_user(engine, "ada")
    set_own_limits(engine, ada, Limits(messages_per_day=9), now=NOON)
    admit_question(engine, ada, tokens=1, now=NOON - timedelta(days=3))
    admit_question(engine, ada, tokens=1, now=NOON)
    assert prune_use(engine, before=date(2030, 1, 1)) == 1
    assert todays_use(engine, [ada], now=NOON)[ada].messages_used == 1
    delete_account(engine, user_id=ada)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM quota_use").scalar() == 0
        assert conn.exec_driver_sql("SELECT count(*) FROM user_quotas").scalar() == 0
