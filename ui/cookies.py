"""The browser's sign-in cookie, set and deleted by a script drawn into the page.

A script (st.html with JavaScript allowed) runs once where it is drawn and sends nothing back.
The cookie manager component streamlit-authenticator uses reports each change it makes, and that
report reruns the page about a second later: right after a sign-in, that rerun cut the user's
first answer short. The cookie is read from the request instead (st.context.cookies), so the
component is drawn only on the sign-in page, where the authenticator's form comes with it.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import streamlit as st

# The characters a cookie name may hold (RFC 6265 token), less the ones that need care in a
# script; the value is a JWT, whose alphabet (base64url and dots) is a subset of this.
COOKIE_TEXT = re.compile(r"[A-Za-z0-9._~-]+")
EXPIRED = datetime(1970, 1, 1, tzinfo=UTC)
# The slot holding the scripts, and this rule, keep them out of the layout: without it the
# slot is an empty row above the page on the runs that draw a script.
SLOT_KEY = "cookie-slot"
HIDE_SLOT_CSS = f"<style>.st-key-{SLOT_KEY} {{ display: none; }}</style>"


class CookieTextError(ValueError):
    """A cookie name or value that a browser would not keep as it is."""


def cookie_script(name: str, value: str, expires: datetime) -> str:
    """The script that stores cookie `name` for the whole app, until `expires` (an aware time),
    sent only over HTTPS when the page was, and never with requests from other sites."""
    for text in (name, value):
        if not COOKIE_TEXT.fullmatch(text):
            raise CookieTextError(
                f"{text[:40]!r} cannot be stored in a cookie: use letters, digits and . _ ~ -"
            )
    when = expires.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    cookie = json.dumps(f"{name}={value}; path=/; expires={when}; SameSite=Strict")
    return (
        "<script>document.cookie = "
        f"{cookie} + (location.protocol === 'https:' ? '; Secure' : '');</script>"
    )


def draw_cookie_script(script: str) -> None:
    """Draw `script` into a hidden slot of the page, where the browser runs it once."""
    st.html(HIDE_SLOT_CSS)
    with st.container(key=SLOT_KEY):
        st.html(script, unsafe_allow_javascript=True)


def draw_cookie_setter(name: str, value: str, expires: datetime) -> None:
    """Set cookie `name` in this browser. Drawn again with the same arguments, it is the same
    element, and nothing happens again."""
    draw_cookie_script(cookie_script(name, value, expires))


def draw_cookie_deleter(name: str) -> None:
    """Delete cookie `name` from this browser (an expiry in the past deletes it)."""
    draw_cookie_script(cookie_script(name, "deleted", EXPIRED))
