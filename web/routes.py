"""Routes of the app's own, beside Streamlit's."""

from __future__ import annotations

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
