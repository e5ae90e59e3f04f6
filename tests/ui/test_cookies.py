"""The scripts that set and delete the sign-in cookie: the cookie they write, that a tab writes
its cookie once and deletes only the one it knows, and the names and values they refuse rather
than write wrongly (or break out of the script with)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ui.cookies import EXPIRED, CookieTextError, cookie_script, delete_cookie_script


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


def test_a_tab_writes_each_cookie_value_once() -> None:
    script = cookie_script("chat_auth", "a.b", EXPIRED)

    # Mounted again on a later run, it must not write this tab's cookie over a newer one.
    assert 'if (sessionStorage.getItem("cookie-written:chat_auth") !== "a.b")' in script
    assert 'sessionStorage.setItem("cookie-written:chat_auth", "a.b")' in script


def test_deleting_expires_the_cookie_only_while_it_still_holds_the_value_this_tab_knows() -> None:
    script = delete_cookie_script("chat_auth", "a.b")

    assert "if (document.cookie.split('; ').includes(\"chat_auth=a.b\"))" in script
    assert "chat_auth=deleted; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT" in script
    # After a sign-out this tab writes its next sign-in's cookie again.
    assert 'sessionStorage.removeItem("cookie-written:chat_auth")' in script


def test_a_refused_cookie_of_any_content_cannot_end_the_deleting_script() -> None:
    script = delete_cookie_script("chat_auth", 'x</script><script>alert(1)</script>"')

    assert script.count("<script>") == 1 and script.count("</script>") == 1
    assert "alert(1)" in script  # kept, as text inside a JS string, to compare with


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
