"""The scripts that set and delete the sign-in cookie: the cookie they write, and the names and
values they refuse rather than write wrongly (or break out of the script with)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ui.cookies import EXPIRED, CookieTextError, cookie_script


def test_the_script_writes_the_cookie_for_the_whole_app_until_it_expires_in_gmt() -> None:
    paris = timezone(timedelta(hours=1))
    script = cookie_script("chat_auth", "a.b-c_d", datetime(2026, 12, 7, 3, 4, 5, tzinfo=paris))

    assert script.startswith("<script>") and script.endswith("</script>")
    assert (
        '"chat_auth=a.b-c_d; path=/; expires=Mon, 07 Dec 2026 02:04:05 GMT; SameSite=Strict"'
        in script
    )
    # Marked Secure when the app is served over HTTPS, so it never travels in clear there.
    assert "location.protocol === 'https:' ? '; Secure' : ''" in script


def test_an_expiry_in_1970_is_what_deletes_it() -> None:
    assert "expires=Thu, 01 Jan 1970 00:00:00 GMT" in cookie_script("chat_auth", "x", EXPIRED)


@pytest.mark.parametrize(
    "name, value",
    [
        ("chat auth", "token"),
        ("chat_auth", 'x"; document.location="https://evil.example'),
        ("chat_auth", "</script><script>alert(1)"),
        ("chat;auth", "token"),
        ("", "token"),
        ("chat_auth", ""),
        ("chät", "token"),
    ],
)
def test_a_name_or_value_a_browser_would_not_keep_as_is_is_refused(name: str, value: str) -> None:
    with pytest.raises(CookieTextError, match="cannot be stored in a cookie"):
        cookie_script(name, value, EXPIRED)
