"""The chat page on a phone (narrower than Streamlit's 768 px breakpoint, where the sidebar
becomes a drawer over the page): New chat in the top bar, the chat's actions as one compact
row of icons (their names kept for screen readers), messages the full width. Closing the
drawer once a chat is picked is done in the browser (ui/assets/turn_in_view/follow.js)."""

from __future__ import annotations

import streamlit as st

from ui.sidebar import start_new_chat

# Inline CSS, which the page's policy allows and which loads nothing. The top bar's new-chat
# button sits in Streamlit's header (z-index 999990), left of its menu.
_PHONE_STYLE = """<style>
.st-key-top-new-chat { display: none; }
@media (max-width: 767.98px) {
  .st-key-top-new-chat { display: block; position: fixed; top: 0.55rem; right: 3.75rem;
    z-index: 999991; width: auto; }
  .st-key-chat-actions button p, .st-key-chat-actions button [data-testid="stMarkdownContainer"] {
    position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);
    white-space: nowrap; }
  .st-key-chat-actions { flex-wrap: nowrap; justify-content: flex-end; }
  .st-key-chat-actions button { padding-left: 0.6rem; padding-right: 0.6rem; }
  [data-testid="stChatMessage"] { padding-left: 0; padding-right: 0; }
}
</style>"""


def show_phone_layout() -> None:
    """Draw the phone's top-bar New chat button (hidden on wider screens) and its styles."""
    st.html(_PHONE_STYLE)
    st.button(
        "New chat",
        icon=":material/edit_square:",
        key="top-new-chat",
        help="Start a new chat",
        on_click=start_new_chat,
        type="tertiary",
    )
