"""accounts/users.py and accounts/validation.py: creating accounts, the first admin, the
sign-up switch, the username and password rules, roles, listing and deleting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import Engine, func, select

from accounts import (
    MIN_PASSWORD_CHARS,
    AccountError,
    AccountNotFound,
    InvalidProfile,
    InvalidRole,
    InvalidUsername,
    LastAdmin,
    SignupClosed,
    UsernameTaken,
    WeakPassword,
    authenticate,
    count_accounts,
    create_account,
    delete_account,
    find_account,
    get_account,
    list_accounts,
    set_disabled,
    set_role,
    set_signup_enabled,
    signup_enabled,
    touch_last_active,
)
from accounts.models import LoginFailure, User
from tests.accounts.at_once import run_at_once

PASSWORD = "correct horse battery"


def make(engine: Engine, username: str, **options) -> object:
    options.setdefault("password", PASSWORD)
    return create_account(engine, username=username, **options)


# --- the first account, sign-up ------------------------------------------------------------


def test_the_first_account_is_an_admin_whatever_role_is_asked(engine: Engine) -> None:
    first = make(engine, "ada", role="user")
    second = make(engine, "bob")
    assert first.is_admin and first.role == "admin"
    assert not second.is_admin and second.role == "user"


def test_a_later_sign_up_is_a_user_even_when_it_asks_for_admin(engine: Engine) -> None:
    make(engine, "ada")
    assert make(engine, "mallory", role="admin").role == "user"


def test_the_operator_cli_may_create_an_admin(engine: Engine) -> None:
    make(engine, "ada")
    assert make(engine, "grace", role="admin", via_signup=False).is_admin
    assert make(engine, "linus", via_signup=False).role == "user"


def test_concurrent_first_sign_ups_make_exactly_one_admin(engine: Engine) -> None:
    names = [f"racer{number}" for number in range(6)]
    created = run_at_once([partial(make, engine, name) for name in names])
    assert sorted(account.username for account in created) == names
    assert [account.role for account in created].count("admin") == 1
    assert count_accounts(engine) == len(names)


def test_concurrent_first_sign_ups_with_sign_up_closed_let_exactly_one_in(engine: Engine) -> None:
    set_signup_enabled(engine, enabled=False)
    outcomes = run_at_once([partial(make, engine, f"racer{number}") for number in range(6)])
    created = [outcome for outcome in outcomes if not isinstance(outcome, Exception)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, SignupClosed)]
    assert len(created) == 1 and created[0].is_admin
    assert len(refused) == len(outcomes) - 1


def test_sign_up_is_open_on_a_fresh_install_and_can_be_switched(engine: Engine) -> None:
    assert signup_enabled(engine)
    set_signup_enabled(engine, enabled=False)
    assert not signup_enabled(engine)
    set_signup_enabled(engine, enabled=True)
    assert signup_enabled(engine)


def test_closed_sign_up_refuses_everyone_but_the_first_account(engine: Engine) -> None:
    set_signup_enabled(engine, enabled=False)
    assert make(engine, "ada").is_admin
    with pytest.raises(SignupClosed, match="closed"):
        make(engine, "bob")
    assert find_account(engine, username="bob") is None


def test_closed_sign_up_still_lets_the_operator_cli_create_accounts(engine: Engine) -> None:
    make(engine, "ada")
    set_signup_enabled(engine, enabled=False)
    assert make(engine, "bob", via_signup=False).role == "user"


# --- rules -----------------------------------------------------------------------------------


def test_usernames_are_stored_stripped_and_lower_cased(engine: Engine) -> None:
    account = make(engine, "  Ada.Lovelace_1-x ")
    assert account.username == "ada.lovelace_1-x"
    assert find_account(engine, username="ADA.LOVELACE_1-X").id == account.id


@pytest.mark.parametrize(
    "username",
    ["ab", "a" * 65, "ada lovelace", "ada@example.org", "ädä", "", "   ", "ada\x00", "a%b"],
)
def test_a_username_breaking_the_rule_is_refused_naming_the_rule(
    engine: Engine, username: str
) -> None:
    with pytest.raises(InvalidUsername, match="3-64 characters"):
        make(engine, username)
    assert count_accounts(engine) == 0


def test_the_longest_and_shortest_usernames_are_accepted(engine: Engine) -> None:
    assert make(engine, "abc").username == "abc"
    assert make(engine, "z" * 64).username == "z" * 64


def test_a_taken_username_is_refused_whatever_its_case(engine: Engine) -> None:
    make(engine, "ada")
    with pytest.raises(UsernameTaken, match="taken"):
        make(engine, " ADA")


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("a" * (MIN_PASSWORD_CHARS - 1), "at least 8"),
        ("a" * 73, "at most 72 bytes"),
        ("é" * 37, "at most 72 bytes"),  # 37 characters, 74 bytes
        (" leading space", "start or end with a space"),
        ("trailing space ", "start or end with a space"),
        ("tab at end\t", "start or end with a space"),
    ],
)
def test_a_password_that_could_not_be_stored_or_typed_back_is_refused(
    engine: Engine, password: str, message: str
) -> None:
    with pytest.raises(WeakPassword, match=message):
        make(engine, "ada", password=password)
    assert count_accounts(engine) == 0


def test_a_password_of_exactly_72_bytes_and_inner_spaces_is_accepted(engine: Engine) -> None:
    make(engine, "ada", password="a" * 72)
    make(engine, "bob", password="two words here")
    assert count_accounts(engine) == 2


def test_display_name_defaults_to_the_username_and_is_checked(engine: Engine) -> None:
    assert make(engine, "ada").display_name == "ada"
    assert make(engine, "bob", display_name="  Bob Builder ").display_name == "Bob Builder"
    with pytest.raises(InvalidProfile):
        make(engine, "eve", display_name="x" * 101)
    with pytest.raises(InvalidProfile):
        make(engine, "eve", display_name="bell\x07")
    with pytest.raises(InvalidProfile):
        make(engine, "eve", email="not an address")


def test_an_unknown_role_is_refused(engine: Engine) -> None:
    with pytest.raises(InvalidRole):
        make(engine, "ada", role="root")
    ada = make(engine, "ada")
    with pytest.raises(InvalidRole):
        set_role(engine, user_id=ada.id, role="superuser")


def test_account_ids_are_opaque_and_distinct_from_names(engine: Engine) -> None:
    # Not "ada": its letters are all hex digits, so a random id held it now and then.
    quinn = make(engine, "quinn")
    assert len(quinn.id) == 32 and quinn.username not in quinn.id
    assert get_account(engine, user_id=quinn.id) == quinn


def test_lookups_of_what_no_account_can_be_answer_none(engine: Engine) -> None:
    assert get_account(engine, user_id="nobody") is None
    assert get_account(engine, user_id="x\x00") is None
    assert find_account(engine, username="no such user!") is None
    assert find_account(engine, username="ada\x00") is None


def test_the_stored_hash_is_bcrypt_and_never_the_password(engine: Engine) -> None:
    make(engine, "ada")
    with engine.connect() as conn:
        stored = conn.scalar(select(User.password_hash))
    assert stored.startswith("$2b$04$") and PASSWORD not in stored


# --- roles and the last admin ----------------------------------------------------------------


def test_the_last_enabled_admin_cannot_be_demoted_disabled_or_deleted(engine: Engine) -> None:
    ada = make(engine, "ada")
    with pytest.raises(LastAdmin):
        set_role(engine, user_id=ada.id, role="user")
    with pytest.raises(LastAdmin):
        set_disabled(engine, user_id=ada.id, disabled=True)
    with pytest.raises(LastAdmin):
        delete_account(engine, user_id=ada.id)
    assert get_account(engine, user_id=ada.id).is_admin


def test_a_disabled_admin_does_not_count_as_the_other_admin(engine: Engine) -> None:
    ada = make(engine, "ada")
    grace = make(engine, "grace", role="admin", via_signup=False)
    set_disabled(engine, user_id=grace.id, disabled=True)
    with pytest.raises(LastAdmin):
        set_role(engine, user_id=ada.id, role="user")


def test_with_a_second_admin_the_first_can_step_down(engine: Engine) -> None:
    ada = make(engine, "ada")
    bob = make(engine, "bob")
    set_role(engine, user_id=bob.id, role="admin")
    set_role(engine, user_id=ada.id, role="user")
    assert not get_account(engine, user_id=ada.id).is_admin
    assert get_account(engine, user_id=bob.id).is_admin
    with pytest.raises(LastAdmin):
        set_disabled(engine, user_id=bob.id, disabled=True)


def test_two_admins_disabling_each_other_at_once_leave_one_enabled(engine: Engine) -> None:
    ada = make(engine, "ada")
    grace = make(engine, "grace", role="admin", via_signup=False)
    outcomes = run_at_once(
        [partial(set_disabled, engine, user_id=user.id, disabled=True) for user in (ada, grace)]
    )
    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["LastAdmin", "NoneType"]
    enabled = [a for a in list_accounts(engine) if a.is_admin and not a.disabled]
    assert len(enabled) == 1


def test_changing_an_unknown_account_says_so(engine: Engine) -> None:
    with pytest.raises(AccountNotFound):
        set_disabled(engine, user_id="0" * 32, disabled=True)
    with pytest.raises(AccountNotFound):
        set_role(engine, user_id="0" * 32, role="admin")


def test_disable_and_enable_round_trip(engine: Engine) -> None:
    make(engine, "ada")
    bob = make(engine, "bob")
    set_disabled(engine, user_id=bob.id, disabled=True)
    assert get_account(engine, user_id=bob.id).disabled
    set_disabled(engine, user_id=bob.id, disabled=False)
    assert not get_account(engine, user_id=bob.id).disabled


# --- listing ---------------------------------------------------------------------------------


def test_search_matches_username_or_display_name_in_any_case(engine: Engine) -> None:
    make(engine, "ada", display_name="Ada Lovelace")
    make(engine, "grace", display_name="Grace HOPPER")
    make(engine, "hopper.fan", display_name="Fan")
    found = list_accounts(engine, search="Hopper", sort="username")
    assert [account.username for account in found] == ["grace", "hopper.fan"]
    assert count_accounts(engine, search="hopper") == 2
    assert count_accounts(engine, search="  ") == 3


def test_search_treats_percent_and_underscore_as_plain_characters(engine: Engine) -> None:
    make(engine, "ann_lee", display_name="Ann")
    make(engine, "annxlee", display_name="Anx")
    make(engine, "cent", display_name="100% sure")
    make(engine, "tenner", display_name="1000 sure")
    assert [a.username for a in list_accounts(engine, search="n_l")] == ["ann_lee"]
    assert [a.username for a in list_accounts(engine, search="0%")] == ["cent"]
    assert count_accounts(engine, search="%") == 1
    assert count_accounts(engine, search="_") == 1


def _four_users(engine: Engine) -> list:
    base = datetime(2030, 1, 1, tzinfo=UTC)
    names = ["carol", "alice", "dave", "bob"]
    accounts = [
        make(engine, name, now=base + timedelta(days=number)) for number, name in enumerate(names)
    ]
    touch_last_active(engine, user_id=accounts[2].id, now=base + timedelta(days=10))
    touch_last_active(engine, user_id=accounts[1].id, now=base + timedelta(days=20))
    return accounts


def test_accounts_sort_by_each_column_both_ways(engine: Engine) -> None:
    _four_users(engine)

    def names(sort: str, descending: bool = False) -> list[str]:
        return [a.username for a in list_accounts(engine, sort=sort, descending=descending)]

    assert names("created_at") == ["carol", "alice", "dave", "bob"]
    assert names("created_at", descending=True) == ["bob", "dave", "alice", "carol"]
    assert names("username") == ["alice", "bob", "carol", "dave"]
    assert names("username", descending=True) == ["dave", "carol", "bob", "alice"]
    # Never-active accounts come last both ways.
    assert names("last_active_at") == ["dave", "alice", "bob", "carol"]
    assert names("last_active_at", descending=True) == ["alice", "dave", "carol", "bob"]
    assert names("role") == ["carol", "alice", "bob", "dave"]  # the admin, then users by name


def test_paging_walks_every_account_once_in_order(engine: Engine) -> None:
    for number in range(7):
        make(engine, f"user{number}")
    pages = [
        list_accounts(engine, sort="username", offset=offset, limit=3) for offset in (0, 3, 6, 9)
    ]
    assert [len(page) for page in pages] == [3, 3, 1, 0]
    walked = [account.username for page in pages for account in page]
    assert walked == [f"user{number}" for number in range(7)]


def test_an_unknown_sort_or_a_bad_page_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="cannot sort"):
        list_accounts(engine, sort="password_hash")
    with pytest.raises(AccountError):
        list_accounts(engine, offset=-1)
    with pytest.raises(AccountError):
        list_accounts(engine, limit=0)


# --- last active -------------------------------------------------------------------------------


def test_last_active_is_written_at_most_once_a_minute(engine: Engine) -> None:
    ada = make(engine, "ada")
    t0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    touch_last_active(engine, user_id=ada.id, now=t0)
    touch_last_active(engine, user_id=ada.id, now=t0 + timedelta(seconds=59))
    assert get_account(engine, user_id=ada.id).last_active_at == t0
    touch_last_active(engine, user_id=ada.id, now=t0 + timedelta(seconds=60))
    assert get_account(engine, user_id=ada.id).last_active_at == t0 + timedelta(seconds=60)


def test_a_last_active_the_caller_just_read_spares_the_database_while_it_is_fresh(
    engine: Engine,
) -> None:
    ada = make(engine, "ada")
    t0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    touch_last_active(engine, user_id=ada.id, now=t0)
    later = t0 + timedelta(minutes=2)
    touch_last_active(engine, user_id=ada.id, now=later, last_active_at=later)
    assert get_account(engine, user_id=ada.id).last_active_at == t0
    touch_last_active(engine, user_id=ada.id, now=later, last_active_at=t0)
    assert get_account(engine, user_id=ada.id).last_active_at == later


def test_touching_an_unknown_account_is_harmless(engine: Engine) -> None:
    touch_last_active(engine, user_id="0" * 32)
    touch_last_active(engine, user_id="not an id\x00")
    assert count_accounts(engine) == 0


# --- deleting --------------------------------------------------------------------------------


def test_delete_account_removes_the_user_and_its_failed_sign_ins(engine: Engine) -> None:
    make(engine, "ada")
    bob = make(engine, "bob")
    authenticate(engine, username="bob", password="not the password")
    authenticate(engine, username="ada", password="not the password")
    delete_account(engine, user_id=bob.id)
    assert get_account(engine, user_id=bob.id) is None
    with engine.connect() as conn:
        names = conn.scalars(select(LoginFailure.username)).all()
    assert names == ["ada"]


def test_a_deleted_username_can_be_taken_again_by_a_new_id(engine: Engine) -> None:
    make(engine, "ada")
    bob = make(engine, "bob")
    delete_account(engine, user_id=bob.id)
    delete_account(engine, user_id=bob.id)  # twice is harmless
    again = make(engine, "bob")
    assert again.id != bob.id and again.role == "user"


def test_delete_account_leaves_every_other_account(engine: Engine) -> None:
    make(engine, "ada")
    bob = make(engine, "bob")
    make(engine, "carol")
    delete_account(engine, user_id=bob.id)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(User)) == 2
