"""The app's own look on every page, as an inline style (which the page's policy allows and
which loads nothing): captions dark enough to read (WCAG AA, 4.5:1, on white and on the
sidebar's grey), a focus ring of 2 px on every control, text fields included, and no
"link to heading" on a form's title: a focus stop on the way to its first field that nobody
needs (the sign-in form's title is streamlit-authenticator's own heading), and that title
itself, which its tab already names and which would skip a heading level. The pages' sections
are h2 under the page's h1 (headings in order), drawn at a subheader's size."""

from __future__ import annotations

import streamlit as st

_STYLE = """<style>
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] * {
  color: rgb(75, 78, 89) !important; opacity: 1; }
input:focus-visible, textarea:focus-visible, [data-baseweb="input"]:focus-within,
[data-baseweb="textarea"]:focus-within, [data-testid="stChatInput"]:focus-within {
  outline: 2px solid rgb(49, 51, 63); outline-offset: 1px; }
[data-testid="stForm"] [data-testid="stHeaderActionElements"] { display: none; }
.st-key-sign-in-form [data-testid="stHeading"] { display: none; }
[data-testid="stHeading"] h2 { font-size: 1.5rem; }
button:focus-visible, a:focus-visible, [role="tab"]:focus-visible, summary:focus-visible {
  outline: 2px solid rgb(49, 51, 63); outline-offset: 2px; }
</style>"""


def apply_app_style() -> None:
    """Add the app's style to this run's page (sent to Streamlit's event container: no room
    taken)."""
    st.html(_STYLE)
