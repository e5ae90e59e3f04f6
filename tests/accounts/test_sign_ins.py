"""accounts/sign_ins.py: server-side sign-ins behind an opaque cookie token, the one-time
handover ticket bound to the browser, expiry fixed per sign-in, ending sign-ins one by one or
all at once, and the device summary. The clock is moved with `now=` instead of sleeping."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import Engine, func, select, update

from accounts import (
    HANDOVER_SECONDS,
    AccountError,
    AccountNotFound,
    Handover,
    SignIn,
    change_password,
    complete_handover,
    create_account,
    delete_account,
    device_summary,
    end_all_sign_ins,
    end_sign_in,
    find_sign_in,
    get_sign_in,
    list_sign_ins,
    prune_sign_ins,
    reset_password,
    revoke_sign_ins,
    safe_next_path,
    set_disabled,
    start_sign_in,
    touch_sign_in,
)
from accounts.models import SignInRecord, User
from tests.accounts.at_once import run_at_once

PASSWORD = "correct horse battery"
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
BROWSER = "browser-cookie-0123456789-abcdefghij"
OTHER_BROWSER = "browser-cookie-of-somebody-else-xyz"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"


@pytest.fixture
def ada(engine: Engine):
    return create_account(engine, username="ada", password=PASSWORD)


@pytest.fixture
def bob(engine: Engine, ada):
    return create_account(engine, username="bob", password=PASSWORD)


def start(
    engine: Engine,
    account,
    *,
    browser: str | None = BROWSER,
    lifetime: timedelta = WEEK,
    now: datetime = T0,
    **options,
) -> tuple[SignIn, str | None]:
    return start_sign_in(
        engine,
        user_id=account.id,
        device=device_summary(FIREFOX),
        browser=browser,
        lifetime=lifetime,
        now=now,
        **options,
    )


def signed_in(engine: Engine, account, **options) -> tuple[SignIn, str]:
    """A sign-in whose handover is done: the row and the cookie token."""
    sign_in, ticket = start(engine, account, **options)
    handover = complete_handover(engine, ticket=ticket, browser=BROWSER, now=sign_in.created_at)
    assert handover is not None
    return handover.sign_in, handover.token


def rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(SignInRecord))


# --- starting and handing over -----------------------------------------------------------------


def test_a_sign_in_starts_with_a_ticket_and_keeps_only_hashes(engine: Engine, ada) -> None:
    sign_in, ticket = start(engine, ada, next_path="/history?session=3")
    assert isinstance(ticket, str) and len(ticket) >= 43  # token_urlsafe(32): 256 bits
    assert sign_in.user_id == ada.id and len(sign_in.id) == 32
    assert sign_in.device == "Firefox 133 on Windows"
    assert (sign_in.created_at, sign_in.last_seen_at, sign_in.expires_at) == (T0, T0, T0 + WEEK)
    assert sign_in.next_path == "/history?session=3" and not sign_in.handed_over
    with engine.connect() as conn:
        row = conn.execute(select(SignInRecord)).one()
    assert row.token_hash is None
    assert row.handover_hash == hashlib.sha256(ticket.encode()).hexdigest()
    assert row.handover_browser == hashlib.sha256(BROWSER.encode()).hexdigest()
    assert row.handover_expires_at == T0 + timedelta(seconds=HANDOVER_SECONDS)
    assert ticket not in repr(tuple(row)) and BROWSER not in repr(tuple(row))


def test_the_handover_gives_the_cookie_token_once(engine: Engine, ada) -> None:
    sign_in, ticket = start(engine, ada, next_path="/account")
    handover = complete_handover(engine, ticket=ticket, browser=BROWSER, now=T0 + SECOND)
    assert isinstance(handover, Handover)
    assert handover.next_path == "/account" and handover.sign_in.id == sign_in.id
    assert handover.sign_in.handed_over and handover.token != ticket
    assert complete_handover(engine, ticket=ticket, browser=BROWSER, now=T0 + SECOND) is None

    found = find_sign_in(engine, token=handover.token, now=T0 + MINUTE)
    assert found is not None
    account, again = found
    assert account.id == ada.id and again.id == sign_in.id
    with engine.connect() as conn:
        row = conn.execute(select(SignInRecord)).one()
    assert row.token_hash == hashlib.sha256(handover.token.encode()).hexdigest()
    assert (row.handover_hash, row.handover_browser, row.handover_expires_at) == (None, None, None)


def test_two_exchanges_of_one_ticket_at_once_give_one_token(engine: Engine, ada) -> None:
    _, ticket = start(engine, ada)
    exchange = partial(complete_handover, engine, ticket=ticket, browser=BROWSER, now=T0)
    outcomes = run_at_once([exchange] * 8)
    handovers = [outcome for outcome in outcomes if isinstance(outcome, Handover)]
    assert len(handovers) == 1
    assert outcomes.count(None) == len(outcomes) - 1
    assert find_sign_in(engine, token=handovers[0].token, now=T0) is not None


def test_a_ticket_works_only_in_the_browser_it_was_made_for(engine: Engine, ada) -> None:
    _, ticket = start(engine, ada)
    for browser in (OTHER_BROWSER, "", None, "x" * 10_000):
        assert complete_handover(engine, ticket=ticket, browser=browser, now=T0) is None
    # Someone else's attempt did not spend it.
    assert complete_handover(engine, ticket=ticket, browser=BROWSER, now=T0) is not None


def test_a_ticket_expires_after_a_minute(engine: Engine, ada) -> None:
    _, ticket = start(engine, ada)
    expiry = T0 + timedelta(seconds=HANDOVER_SECONDS)
    assert complete_handover(engine, ticket=ticket, browser=BROWSER, now=expiry) is None
    assert complete_handover(engine, ticket=ticket, browser=BROWSER, now=expiry + MINUTE) is None
    assert complete_handover(engine, ticket=ticket, browser=BROWSER, now=expiry - SECOND)


def test_no_ticket_without_a_browser_but_the_session_still_holds_the_sign_in(
    engine: Engine, ada
) -> None:
    sign_in, ticket = start(engine, ada, browser=None)
    assert ticket is None
    found = get_sign_in(engine, sign_in_id=sign_in.id, now=T0 + MINUTE)
    assert found is not None and found[0].id == ada.id and not found[1].handed_over
    with engine.connect() as conn:
        row = conn.execute(select(SignInRecord)).one()
    assert (row.token_hash, row.handover_hash, row.handover_browser) == (None, None, None)


def test_unknown_and_malformed_tickets_are_refused(engine: Engine, ada) -> None:
    start(engine, ada)
    for ticket in ("", "a" * 43, "short", "!" * 43, "a" * 42 + "\x00", "a" * 100_000, None, 4):
        assert complete_handover(engine, ticket=ticket, browser=BROWSER, now=T0) is None


def test_a_disabled_user_cannot_complete_a_handover_or_use_a_sign_in(
    engine: Engine, ada, bob
) -> None:
    sign_in, token = signed_in(engine, bob)
    _, ticket = start(engine, bob)
    # The check itself, with the row left in place (set_disabled would delete it).
    with engine.begin() as conn:
        conn.execute(update(User).where(User.id == bob.id).values(disabled=True))
    assert complete_handover(engine, ticket=ticket, browser=BROWSER, now=T0) is None
    assert find_sign_in(engine, token=token, now=T0) is None
    assert get_sign_in(engine, sign_in_id=sign_in.id, now=T0) is None
    with pytest.raises(AccountError, match="disabled"):
        start(engine, bob)


def test_disabling_ends_every_sign_in_and_enabling_brings_none_back(
    engine: Engine, ada, bob
) -> None:
    sign_in, token = signed_in(engine, bob)
    _, ticket = start(engine, bob)
    set_disabled(engine, user_id=bob.id, disabled=True)
    set_disabled(engine, user_id=bob.id, disabled=False)
    assert rows(engine) == 0
    assert find_sign_in(engine, token=token, now=T0) is None
    assert get_sign_in(engine, sign_in_id=sign_in.id, now=T0) is None
    assert complete_handover(engine, ticket=ticket, browser=BROWSER, now=T0) is None


def test_a_sign_in_for_no_account_or_with_no_lifetime_is_refused(engine: Engine, ada) -> None:
    with pytest.raises(AccountNotFound):
        start_sign_in(engine, user_id="0" * 32, device="x", browser=BROWSER, lifetime=WEEK, now=T0)
    with pytest.raises(AccountNotFound):
        start_sign_in(engine, user_id="no\x00id", device="x", browser=None, lifetime=WEEK)
    with pytest.raises(AccountError, match="lifetime"):
        start(engine, ada, lifetime=timedelta(0))
    assert rows(engine) == 0


@pytest.mark.parametrize(
    "path",
    ["/", "/history", "/history?session=3&x=%2F%2Fevil", "/a/b/c#frag", "/" + "a" * 2047],
)
def test_a_relative_next_path_is_kept(engine: Engine, ada, path: str) -> None:
    assert safe_next_path(path) == path
    sign_in, _ = start(engine, ada, next_path=path)
    assert sign_in.next_path == path


@pytest.mark.parametrize(
    "path",
    [
        "",
        "history",
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "/path\r\nSet-Cookie: x=1",
        "/tab\there",
        "/nul\x00",
        "/del\x7f",
        "/ space",
        "/ünïcode",
        "/" + "a" * 2048,
        None,
        42,
    ],
)
def test_any_other_next_path_becomes_the_root(engine: Engine, ada, path: object) -> None:
    assert safe_next_path(path) == "/"
    sign_in, ticket = start(engine, ada, next_path=path)
    assert sign_in.next_path == "/"
    assert complete_handover(engine, ticket=ticket, browser=BROWSER, now=T0).next_path == "/"


def test_the_device_is_stored_short_and_printable(engine: Engine, ada) -> None:
    sign_in, _ = start_sign_in(
        engine, user_id=ada.id, device="bell\x07 " + "x" * 300, browser=None, lifetime=WEEK
    )
    assert len(sign_in.device) == 100 and "\x07" not in sign_in.device
    with engine.connect() as conn:
        assert conn.scalar(select(SignInRecord.device)) == sign_in.device


# --- finding and expiry --------------------------------------------------------------------------


def test_a_sign_in_counts_until_its_own_expiry(engine: Engine, ada) -> None:
    sign_in, token = signed_in(engine, ada, lifetime=timedelta(hours=2))
    expiry = T0 + timedelta(hours=2)
    assert sign_in.expires_at == expiry
    assert find_sign_in(engine, token=token, now=expiry - SECOND) is not None
    assert get_sign_in(engine, sign_in_id=sign_in.id, now=expiry - SECOND) is not None
    assert find_sign_in(engine, token=token, now=expiry) is None
    assert get_sign_in(engine, sign_in_id=sign_in.id, now=expiry) is None
    assert list_sign_ins(engine, user_id=ada.id, now=expiry) == []


def test_an_ended_sign_in_stays_ended_under_any_lifetime(engine: Engine, ada, bob) -> None:
    # The expiry is the row's own: a lifetime configured later (longer or shorter) neither
    # revives a sign-in that was ended nor changes one that was not.
    _, kept_token = signed_in(engine, ada, lifetime=WEEK)
    ended, ended_token = signed_in(engine, ada, lifetime=WEEK)
    revoked, revoked_token = signed_in(engine, bob, lifetime=WEEK)
    assert end_sign_in(engine, user_id=ada.id, sign_in_id=ended.id)
    revoke_sign_ins(engine, user_id=revoked.user_id, now=T0 + SECOND)
    for lifetime in (MINUTE, timedelta(days=1), WEEK, timedelta(days=3650)):
        # A sign-in made under the new setting ...
        start(engine, ada, lifetime=lifetime, now=T0 + MINUTE)
        for at in (T0 + MINUTE, T0 + timedelta(days=6), T0 + timedelta(days=3000)):
            assert find_sign_in(engine, token=ended_token, now=at) is None
            assert get_sign_in(engine, sign_in_id=ended.id, now=at) is None
            assert find_sign_in(engine, token=revoked_token, now=at) is None
        # ... leaves the old one's expiry as it was.
        assert find_sign_in(engine, token=kept_token, now=T0 + WEEK - SECOND) is not None
        assert find_sign_in(engine, token=kept_token, now=T0 + WEEK) is None


@pytest.mark.parametrize(
    "token",
    [
        "",
        "short",
        "a" * 42,
        "a" * 44,
        "a" * 42 + "=",
        "a" * 42 + "/",
        "a" * 42 + "\x00",
        "\x00" * 43,
        "é" * 43,
        "\ud800" * 43,
        "a" * 1_000_000,
        None,
        43,
        b"a" * 43,
    ],
)
def test_malformed_tokens_find_nothing_without_an_error(engine: Engine, ada, token: object) -> None:
    signed_in(engine, ada)
    assert find_sign_in(engine, token=token, now=T0) is None


def test_an_unknown_well_formed_token_finds_nothing(engine: Engine, ada) -> None:
    _, token = signed_in(engine, ada)
    assert find_sign_in(engine, token=token[:-1] + ("A" if token[-1] != "A" else "B")) is None


@pytest.mark.parametrize("sign_in_id", ["", "0" * 32, "X" * 32, "a" * 33, "a\x00", None, 7])
def test_unknown_and_malformed_ids_find_nothing(engine: Engine, ada, sign_in_id: object) -> None:
    signed_in(engine, ada)
    assert get_sign_in(engine, sign_in_id=sign_in_id, now=T0) is None
    touch_sign_in(engine, sign_in_id=sign_in_id, now=T0 + MINUTE)


def test_last_seen_is_written_at_most_once_a_minute(engine: Engine, ada) -> None:
    sign_in, _ = signed_in(engine, ada)
    touch_sign_in(engine, sign_in_id=sign_in.id, now=T0 + 59 * SECOND)
    assert get_sign_in(engine, sign_in_id=sign_in.id, now=T0)[1].last_seen_at == T0
    touch_sign_in(engine, sign_in_id=sign_in.id, now=T0 + MINUTE)
    assert get_sign_in(engine, sign_in_id=sign_in.id, now=T0)[1].last_seen_at == T0 + MINUTE


def test_a_sign_in_whose_password_check_a_sign_out_everywhere_overtook_is_refused(
    engine: Engine, ada
) -> None:
    """A password change landing while the old password was being checked: the sign-in made
    with it must not outlive the change."""
    revoke_sign_ins(engine, user_id=ada.id, now=T0 + SECOND)
    with pytest.raises(AccountError, match="signed out everywhere"):
        start(engine, ada, now=T0 + 2 * SECOND, password_checked_at=T0)
    assert rows(engine) == 0
    # Checked after the change: fine.
    start(engine, ada, now=T0 + 3 * SECOND, password_checked_at=T0 + 2 * SECOND)
    assert rows(engine) == 1


def test_a_last_seen_the_caller_just_read_spares_the_database_while_it_is_fresh(
    engine: Engine, ada
) -> None:
    sign_in, _ = signed_in(engine, ada)
    # Fresh as the caller read it: nothing is read or written, even though the row is old.
    touch_sign_in(engine, sign_in_id=sign_in.id, now=T0 + 2 * MINUTE, last_seen_at=T0 + 90 * SECOND)
    assert get_sign_in(engine, sign_in_id=sign_in.id, now=T0)[1].last_seen_at == T0
    # Stale: written as without it.
    touch_sign_in(engine, sign_in_id=sign_in.id, now=T0 + 2 * MINUTE, last_seen_at=T0)
    assert get_sign_in(engine, sign_in_id=sign_in.id, now=T0)[1].last_seen_at == T0 + 2 * MINUTE


# --- listing and ending --------------------------------------------------------------------------


def test_list_shows_the_users_unexpired_sign_ins_most_recently_seen_first(
    engine: Engine, ada, bob
) -> None:
    old, _ = signed_in(engine, ada, now=T0)
    new, _ = signed_in(engine, ada, now=T0 + MINUTE)
    short, _ = signed_in(engine, ada, now=T0 + 2 * MINUTE, lifetime=timedelta(hours=1))
    signed_in(engine, bob)
    touch_sign_in(engine, sign_in_id=old.id, now=T0 + 10 * MINUTE)
    listed = list_sign_ins(engine, user_id=ada.id, now=T0 + 10 * MINUTE)
    assert [sign_in.id for sign_in in listed] == [old.id, short.id, new.id]
    later = list_sign_ins(engine, user_id=ada.id, now=T0 + timedelta(hours=2))
    assert [sign_in.id for sign_in in later] == [old.id, new.id]
    assert list_sign_ins(engine, user_id="not an id\x00") == []


def test_a_user_ends_one_of_their_own_sign_ins_only(engine: Engine, ada, bob) -> None:
    adas, adas_token = signed_in(engine, ada)
    bobs, bobs_token = signed_in(engine, bob)
    assert not end_sign_in(engine, user_id=ada.id, sign_in_id=bobs.id)
    assert find_sign_in(engine, token=bobs_token, now=T0) is not None
    assert end_sign_in(engine, user_id=ada.id, sign_in_id=adas.id)
    assert not end_sign_in(engine, user_id=ada.id, sign_in_id=adas.id)  # already ended
    assert find_sign_in(engine, token=adas_token, now=T0) is None
    assert not end_sign_in(engine, user_id="x\x00", sign_in_id="y\x00")


def test_end_all_ends_every_sign_in_of_the_user_and_no_other(engine: Engine, ada, bob) -> None:
    for _ in range(3):
        signed_in(engine, ada)
    _, bobs_token = signed_in(engine, bob)
    assert end_all_sign_ins(engine, user_id=ada.id) == 3
    assert end_all_sign_ins(engine, user_id=ada.id) == 0
    assert list_sign_ins(engine, user_id=ada.id, now=T0) == []
    assert find_sign_in(engine, token=bobs_token, now=T0) is not None


@pytest.mark.parametrize(
    "revoke",
    [
        lambda engine, user: revoke_sign_ins(engine, user_id=user.id),
        lambda engine, user: change_password(
            engine, user_id=user.id, current_password=PASSWORD, new_password="a new password!"
        ),
        lambda engine, user: reset_password(
            engine, username=user.username, new_password="a new password!"
        ),
        lambda engine, user: set_disabled(engine, user_id=user.id, disabled=True),
        lambda engine, user: delete_account(engine, user_id=user.id),
    ],
    ids=["sign-out-everywhere", "password-change", "password-reset", "disabling", "deletion"],
)
def test_revocation_deletes_the_users_sign_ins(engine: Engine, ada, bob, revoke) -> None:
    started, ticket = start(engine, bob)
    done, token = signed_in(engine, bob)
    headless, _ = start(engine, bob, browser=None)
    _, adas_token = signed_in(engine, ada)
    revoke(engine, bob)
    with engine.connect() as conn:
        left = conn.scalars(select(SignInRecord.user_id)).all()
    assert left == [ada.id]
    assert find_sign_in(engine, token=token, now=T0) is None
    for sign_in in (started, done, headless):
        assert get_sign_in(engine, sign_in_id=sign_in.id, now=T0) is None
    assert complete_handover(engine, ticket=ticket, browser=BROWSER, now=T0) is None
    assert find_sign_in(engine, token=adas_token, now=T0) is not None


def test_prune_deletes_only_expired_sign_ins(engine: Engine, ada) -> None:
    signed_in(engine, ada, lifetime=timedelta(hours=1))
    start(engine, ada, lifetime=timedelta(hours=1), browser=None)
    _, token = signed_in(engine, ada, lifetime=WEEK)
    assert prune_sign_ins(engine, now=T0 + timedelta(minutes=59)) == 0
    assert prune_sign_ins(engine, now=T0 + timedelta(hours=1)) == 2
    assert rows(engine) == 1
    assert find_sign_in(engine, token=token, now=T0 + timedelta(hours=1)) is not None


# --- the device summary --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_agent", "summary"),
    [
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/156.0.0.0 Safari/537.36",
            "Chrome 156 on Linux",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/156.0.7632.0 Safari/537.36",
            "Chrome 156 (headless) on Linux",
        ),
        (FIREFOX, "Firefox 133 on Windows"),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
            "Safari 18 on iOS",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86",
            "Edge 131 on Windows",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.6 Safari/605.1.15",
            "Safari 17 on macOS",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.6778.81 Mobile Safari/537.36",
            "Chrome 131 on Android",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_7 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
            "Chrome 131 on iOS",
        ),
        (
            "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Firefox 128 on Linux",
        ),
        (
            "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/130.0.0.0 Safari/537.36",
            "Chrome 130 on ChromeOS",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36 OPR/115.0.0.0",
            "Opera 115 on Windows",
        ),
        ("", "Unknown browser"),
        ("curl/8.5.0", "Unknown browser"),
        ("python-requests/2.32.3", "Unknown browser"),
        ("\x00\x01 garbage ☃ " * 50, "Unknown browser"),
        ("Mozilla/5.0 (Linux) Chrome/", "Unknown browser"),
        (None, "Unknown browser"),
    ],
)
def test_device_summary_names_the_browser_and_system(user_agent: object, summary: str) -> None:
    assert device_summary(user_agent) == summary


def test_device_summary_stays_short_whatever_it_is_given() -> None:
    for agent in ("Chrome/" + "9" * 10_000, "Firefox/1 " * 100_000, "Windows " * 1000):
        summary = device_summary(agent)
        assert len(summary) <= 100 and summary.isprintable()
