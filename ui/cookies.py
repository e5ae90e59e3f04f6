"""The browser's sign-in cookie, set and deleted by the cookie manager component that
streamlit-authenticator uses (extra-streamlit-components), drawn only on the runs that change it.

The authenticator's own CookieManager also draws a "getAll" component on every run, and that
component's first answer in each browser session reruns the page about a second after it
loads: an answer the user had just asked for was cut short by it. Cookies are read from the
request instead (st.context.cookies), so that component is drawn only on the sign-in page, where
the authenticator's form comes with it."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

# The component itself: the CookieManager class would draw its getAll component on creation.
from extra_streamlit_components.CookieManager import _component_func as _cookie_manager

# The components do their work invisibly; without this they show as empty bars above the page.
# Only their height goes: with no width Streamlit never mounts them, and nothing would be set.
HIDE_COOKIE_MANAGER_CSS = """<style>
.st-key-init, .st-key-set, .st-key-delete { height: 0; min-height: 0; overflow: hidden; }
</style>"""


def draw_cookie_setter(name: str, value: str, expires: datetime) -> bool:
    """Draw the component that sets cookie `name`; True once it has reported that it did.
    Drawn again with the same arguments it does nothing more, so draw it until it says so."""
    st.html(HIDE_COOKIE_MANAGER_CSS)
    options = {"path": "/", "expires": expires.isoformat(), "sameSite": "strict"}
    done = _cookie_manager(
        method="set", cookie=name, value=value, options=options, key="set", default=False
    )
    return bool(done)


def draw_cookie_deleter(name: str) -> None:
    """Draw the component that deletes cookie `name` from the browser."""
    st.html(HIDE_COOKIE_MANAGER_CSS)
    _cookie_manager(method="delete", cookie=name, key="delete", default=False)
