"""Driving the real app headless with Streamlit's AppTest, as a user in a browser would.

Every function here acts through widgets the user sees (the sign-in and sign-up forms, the
sidebar, the chat input) and writes neither session_state nor the database; the one exception
is `open_script`, which runs a page script alone with session_state preset, as a test of that
page's own guard. Reading the page back goes through `page_text`, which holds everything
drawn, so a test can prove that something is absent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.testclient import TestClient
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block, Dataframe, Element, TextInput
from streamlit.testing.v1.element_tree import Button as ButtonElement

import accounts
from accounts import Account
from web.routes import ROUTES

PROJECT_DIR = Path(__file__).resolve().parents[2]
APP = PROJECT_DIR / "app.py"
PASSWORD = "correct horse battery"
# Generous: the first run of a test migrates a new database and builds the model client.
RUN_SECONDS = 60

# The pages app.py registers, as AppTest.switch_page names them (relative to app.py).
CHAT_PAGE = "pages/chat.py"
MY_DATA_PAGE = "pages/my_data.py"
ACCOUNT_PAGE = "pages/account.py"
ADMIN_PAGE = "pages/admin.py"

SIGN_IN_FORM = "sign-in"
SIGN_UP_FORM = "sign-up"


def open_app(query: dict[str, str] | None = None) -> AppTest:
    """A fresh browser session on app.py (no cookie), after its first run."""
    at = AppTest.from_file(str(APP), default_timeout=RUN_SECONDS)
    at.query_params.update(query or {})
    return at.run()


def open_script(path: str, **session_state: object) -> AppTest:
    """One page script run on its own (not through app.py), with `session_state` preset."""
    at = AppTest.from_file(str(PROJECT_DIR / path), default_timeout=RUN_SECONDS)
    for key, value in session_state.items():
        at.session_state[key] = value
    return at.run()


def text_input(at: AppTest | Block, label: str, *, form: str | None = None) -> TextInput:
    """The one text input with this label (in `form`, if given)."""
    found = [
        widget
        for widget in at.text_input
        if widget.label == label and (form is None or widget.form_id == form)
    ]
    assert len(found) == 1, f"expected one text input {label!r} in {form!r}, found {len(found)}"
    return found[0]


def button(at: AppTest | Block, label: str) -> ButtonElement:
    """The one button with this label."""
    found = [widget for widget in at.button if widget.label == label]
    assert len(found) == 1, f"expected one button {label!r}, found {len(found)}"
    return found[0]


def sign_in(username: str, password: str = PASSWORD, *, at: AppTest | None = None) -> AppTest:
    """Fill in and submit the sign-in form (in a fresh session unless `at` is given)."""
    at = at or open_app()
    text_input(at, "Username", form=SIGN_IN_FORM).input(username)
    text_input(at, "Password", form=SIGN_IN_FORM).input(password)
    return button(at, "Sign in").click().run()


def signed_in(username: str, password: str = PASSWORD) -> AppTest:
    """A session signed in as `username` through the form, on the chat page."""
    at = sign_in(username, password)
    assert not at.exception, at.exception
    account = at.session_state.get("account")
    assert account is not None and account.username == username, page_text(at)
    return at


def sign_up(username: str, password: str = PASSWORD, *, repeat: str | None = None) -> AppTest:
    """Fill in and submit the create-account form in a fresh session."""
    at = open_app()
    text_input(at, "Username", form=SIGN_UP_FORM).input(username)
    text_input(at, "New password", form=SIGN_UP_FORM).input(password)
    text_input(at, "Repeat the password", form=SIGN_UP_FORM).input(
        password if repeat is None else repeat
    )
    return button(at, "Create account").click().run()


def go_to(at: AppTest, page: str) -> AppTest:
    """Open one of app.py's pages (e.g. ADMIN_PAGE) as the navigation menu would."""
    return at.switch_page(page).run()


def send(at: AppTest, text: str) -> AppTest:
    """Type `text` into the chat input and press Enter."""
    return at.chat_input[0].set_value(text).run()


# The safe renderer escapes every ASCII punctuation character of plain text.
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def shown(markdown: str) -> str:
    """The text the safe renderer's `markdown` shows, for text without markdown of its own."""
    return _ESCAPE.sub(r"\1", markdown)


def transcript(at: AppTest) -> list[tuple[str, str]]:
    """The chat messages on the page, oldest first, as (author, text shown)."""
    return [
        (message.name, "\n".join(shown(part.value) for part in message.markdown))
        for message in at.main.chat_message
    ]


def nodes(block: Block) -> Iterator[Element | Block]:
    """Every element and container under `block`, depth first."""
    for child in block.children.values():
        yield child
        if isinstance(child, Block):
            yield from nodes(child)


def page_text(at: AppTest) -> str:
    """Everything drawn on the page and in the sidebar, as text: labels, bodies, alerts, table
    cells. What is not in here is not shown to the user."""
    parts: list[str] = []
    for root in (at.main, at.sidebar):
        for node in nodes(root):
            if isinstance(node, Dataframe):
                parts.append(node.value.to_csv())
            elif node.proto is not None:
                parts.append(str(node.proto))
    return "\n".join(parts)


def errors(at: AppTest) -> list[str]:
    return [error.value for error in at.error]


def sidebar_chats(at: AppTest) -> dict[str, str]:
    """The chats listed in the sidebar: session id → the text its button shows."""
    return {
        widget.key.removeprefix("open-"): shown(widget.label)
        for widget in at.sidebar.button
        if widget.key and widget.key.startswith("open-")
    }


def titles(at: AppTest) -> list[str]:
    """The page's headings, as the text they show."""
    return [shown(title.value) for title in at.title]


def blocks_of_type(at: AppTest, kind: str) -> list[Block]:
    """Containers of one kind ("popover", "form", "tab"...) on the main page."""
    return [node for node in nodes(at.main) if isinstance(node, Block) and node.type == kind]


def cookie_for(db: Engine, account: Account) -> str:
    """A sign-in cookie, as the app's handover route gives one to a browser."""
    browser = "b" * 32
    _, ticket = accounts.start_sign_in(
        db, user_id=account.id, device="test", browser=browser, lifetime=timedelta(days=1)
    )
    assert ticket is not None
    handover = accounts.complete_handover(db, ticket=ticket, browser=browser)
    assert handover is not None
    return handover.token


class Downloads:
    """What the app's own download routes hand a browser: a link button's file, fetched from
    the route it points at (web/routes.py) with `account`'s sign-in cookie."""

    def __init__(self, db: Engine) -> None:
        self.db = db
        self.client = TestClient(Starlette(routes=ROUTES))

    def content(self, at: AppTest, label_start: str, account: Account) -> bytes:
        [link] = [
            element
            for element in at.get("link_button")
            if element.proto.label.startswith(label_start)
        ]
        response = self.client.get(
            link.proto.url, cookies={"chat_auth": cookie_for(self.db, account)}
        )
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        return response.content
