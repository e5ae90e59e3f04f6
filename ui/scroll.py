"""Keeps the newest turn of the chat in view: the run that sends a message scrolls the page to
its end and follows the answer as it streams, until the user scrolls up; then, and whenever the
page is not at its end, a "Jump to latest" button shows above the chat box.

The work is done in the browser by ui/assets/turn_in_view/follow.js, which a Streamlit v1
component loads into the page. Why a v1 component: its iframe is served from the app's own
origin under /component/, so the page's Content-Security-Policy (`script-src 'self'`,
`frame-src 'self'`, web/security.py) allows its script files, and being same-origin it can
reach the page. st.html runs no scripts, and st.components.v2 loads inline JavaScript from a
blob: URL, which that policy refuses (a file of its own would need an installed package with
a component manifest). follow.js handles no message text; copy.js, loaded beside it, adds
each message's Copy button, which reads the message's shown text into the clipboard only."""

from __future__ import annotations

import secrets
from pathlib import Path

from streamlit.components.v1 import declare_component

ASSETS = Path(__file__).parent / "assets" / "turn_in_view"
COMPONENT_KEY = "turn-in-view"  # follow.js hides its element by this key's class

_turn_in_view = declare_component("turn_in_view", path=str(ASSETS))


def keep_turn_in_view(*, new_turn: bool, chat: str | None = None) -> None:
    """Draw the (invisible) component that keeps the chat's end in view; call it once per run
    of the chat page, with `new_turn=True` in the run that sends a message. When `chat` (the
    open chat's id) changes, the browser puts the keyboard's focus in the chat box."""
    # A fresh token per turn: the browser acts on a token once, however often Streamlit
    # draws the component again, and later runs (token None) leave the view to the user.
    _turn_in_view(
        turn=secrets.token_hex(8) if new_turn else None,
        chat=chat,
        key=COMPONENT_KEY,
        default=None,
        tab_index=-1,
    )


def quiet_hidden_frames() -> None:
    """On a page without a chat (sign-in): draw the component only to keep frames nobody can
    see, such as the sign-in cookie manager's, out of the keyboard's Tab order."""
    _turn_in_view(follows=False, key=COMPONENT_KEY, default=None, tab_index=-1)
