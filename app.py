"""Entry point: page config, the sign-in gate, and the pages this user may see."""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from database.outages import DatabaseUnavailable
from logs import configure_logging
from settings import ConfigurationError
from ui.auth import account_menu, require_account, sign_in_page
from ui.outage import explain_database_down
from ui.resources import chat_store
from ui.style import apply_app_style

configure_logging()
log = logging.getLogger("app")
ICON = Path(__file__).resolve().parent / "ui" / "assets" / "icon.png"
APP_NAME = "Chat"


def run_page(page: st.Page) -> None:
    # The browser's tab and history name the page, as a screen reader announces it.
    title = APP_NAME if page.title == APP_NAME else f"{page.title} · {APP_NAME}"
    st.set_page_config(page_title=title)
    apply_app_style()
    try:
        page.run()
    except DatabaseUnavailable as error:
        explain_database_down(error)


# A file of the app's own: a :material/: icon would make every browser fetch it from Google.
st.set_page_config(page_title=APP_NAME, page_icon=str(ICON), layout="wide")

try:
    engine = chat_store().engine
    account = require_account(engine)
except ConfigurationError as error:
    log.error("refusing to start: %s", error)
    st.error(f"The app is not configured safely, so it will not start: {error}")
    st.stop()
except DatabaseUnavailable as error:
    explain_database_down(error)
    st.stop()
if account is None:
    # Signed out, the sign-in page is the only page: nothing under pages/ is listed or reachable.
    run_page(st.navigation([sign_in_page(engine)], position="hidden"))
    st.stop()

if account.must_choose_password:
    # A temporary password (an account created in bulk): nothing else until it is replaced.
    choose = st.Page("pages/choose_password.py", title="Choose your password", default=True)
    try:
        run_page(st.navigation([choose], position="hidden"))
    finally:
        account_menu(engine, account)
    st.stop()

pages = [
    st.Page("pages/chat.py", title="Chat", icon=":material/chat:", default=True),
    st.Page("pages/my_data.py", title="My data", icon=":material/folder_shared:"),
    st.Page("pages/account.py", title="Account", icon=":material/person:"),
]
if account.is_admin:
    # Only registered for admins, so for anyone else the admin URL leads nowhere.
    pages.append(st.Page("pages/admin.py", title="Admin", icon=":material/admin_panel_settings:"))
page = st.navigation(pages)
try:
    run_page(page)
finally:
    # Drawn after the page, so it sits at the foot of the sidebar below the page's own items,
    # and also when the page stopped early.
    account_menu(engine, account)
