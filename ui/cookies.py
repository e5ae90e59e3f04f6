"""The browser's sign-in cookie, set and deleted by a script drawn into the page.

A script (st.html with JavaScript allowed) runs where it is drawn and sends nothing back. The
cookie manager component streamlit-authenticator uses reports each change it makes, and that
report reruns the page about a second later: right after a sign-in, that rerun cut the user's
first answer short. The cookie is read from the request (st.context.cookies), and the component
is drawn only on the sign-in page, where the authenticator's form comes with it.
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
# slot is an empty row above the page on the runs that draw a script, and the page sits lower
# in a tab signed in by form than in one signed in by cookie. The rule hides the slot and the
# wrapper of the st.empty it is drawn in (the gap is the wrapper's), and nothing further out.
SLOT_KEY = "cookie-slot"
HIDE_SLOT_CSS = f"""<style>
.st-key-{SLOT_KEY},
[data-testid="stLayoutWrapper"]:has(
  > [data-testid="stVerticalBlock"] > [data-testid="stLayoutWrapper"] > .st-key-{SLOT_KEY}
) {{ display: none; }}
</style>"""


class CookieTextError(ValueError):
    """A cookie name or value that a browser would not keep as it is."""


def _js_string(text: str) -> str:
    """`text` as a JS string literal that cannot end the script it sits in."""
    return json.dumps(text).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _checked(name: str, value: str) -> None:
    for text in (name, value):
        if not COOKIE_TEXT.fullmatch(text):
            raise CookieTextError(
                f"{text[:40]!r} cannot be stored in a cookie: use letters, digits and . _ ~ -"
            )


def _cookie_text(name: str, value: str, expires: datetime) -> str:
    """The `document.cookie` assignment for cookie `name`, for the whole app until `expires`
    (an aware time), as a JS expression: sent only over HTTPS when the page was, and never
    with requests from other sites."""
    _checked(name, value)
    when = expires.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    cookie = _js_string(f"{name}={value}; path=/; expires={when}; SameSite=Strict")
    return f"{cookie} + (location.protocol === 'https:' ? '; Secure' : '')"


def cookie_script(name: str, value: str, expires: datetime) -> str:
    """The script that stores cookie `name`, once per tab for each value.

    Streamlit may mount the script again on a later run (and then runs it again); a tab that
    signed in as X would then write X's cookie over the one another tab in the same browser
    has since set for Y. The tab's sessionStorage remembers which value it already wrote."""
    written = _js_string(f"cookie-written:{name}")
    return (
        "<script>"
        f"if (sessionStorage.getItem({written}) !== {_js_string(value)}) {{"
        f" document.cookie = {_cookie_text(name, value, expires)};"
        f" sessionStorage.setItem({written}, {_js_string(value)}); }}"
        "</script>"
    )


def delete_cookie_script(name: str, value: str) -> str:
    """The script that deletes cookie `name` if the browser still holds `value` in it (the one
    this tab signed in with, or a refused one, which may hold anything): not a cookie another
    tab has set since."""
    held = _js_string(f"{name}={value}")
    return (
        "<script>"
        f"if (document.cookie.split('; ').includes({held})) {{"
        f" document.cookie = {_cookie_text(name, 'deleted', EXPIRED)}; }}"
        f" sessionStorage.removeItem({_js_string(f'cookie-written:{name}')});"
        "</script>"
    )


def draw_cookie_script(script: str) -> None:
    """Draw `script` into a hidden slot of the page, where the browser runs it."""
    st.html(HIDE_SLOT_CSS)
    with st.container(key=SLOT_KEY):
        st.html(script, unsafe_allow_javascript=True)


def draw_cookie_setter(name: str, value: str, expires: datetime) -> None:
    """Set cookie `name` to `value` in this browser, unless this tab already did."""
    draw_cookie_script(cookie_script(name, value, expires))


def draw_cookie_deleter(name: str, value: str) -> None:
    """Delete cookie `name` from this browser if it still holds `value`."""
    draw_cookie_script(delete_cookie_script(name, value))
