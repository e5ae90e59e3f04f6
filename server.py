"""The app's HTTP layer: Streamlit's own server (st.App) with the app's routes, security
headers on every response, the browser cookie, and the per-process lifespan. app.py stays the
pages' entry script.

Run it with `streamlit run server.py` (scripts/start does), or `uvicorn server:app`."""

from __future__ import annotations

import streamlit as st
from starlette.middleware import Middleware
from streamlit.runtime.pages_manager import PagesManager

from logs import configure_logging
from web.lifespan import lifespan
from web.routes import ROUTES
from web.security import SECURITY_MIDDLEWARE
from web.sign_in_cookies import BrowserCookieMiddleware
from web.sso_routes import SSO_ROUTES

# Before anything logs: no line of this process may carry a secret (logs.py).
configure_logging()
# With a pages/ folder beside app.py, Streamlit runs a new process's first script run as a
# classic multipage app, listing pages/ itself, until app.py's st.navigation turns that off.
# That first run told the tab it was on /chat (not the app's "/"): a tab that reconnected after
# a restart and was reloaded then got "Page not found". app.py is an st.navigation app from the
# first run on; ui.auth.current_account still covers a process started without this file.
PagesManager.uses_pages_directory = False
app = st.App(
    "app.py",
    routes=[*ROUTES, *SSO_ROUTES],
    # Outermost first: the security headers cover every response, the cookie's included.
    middleware=[*SECURITY_MIDDLEWARE, Middleware(BrowserCookieMiddleware)],
    lifespan=lifespan,
)
