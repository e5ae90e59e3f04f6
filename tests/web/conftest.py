"""The running app (tests/browser's fixtures: the real `streamlit run server.py` answered by the
model stub) for the tests of the security headers and the WebSocket Origin check."""

from tests.browser.conftest import app, cookie_key, model_stub  # noqa: F401
