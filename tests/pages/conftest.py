"""Page tests: the real app run headless by Streamlit's AppTest, on a fresh SQLite file per test,
answered by the deterministic OpenAI-compatible stub ("Echo: <question>").

Each test gets its own DATA_DIR and DATABASE_URL through the environment, as the app reads
them; Streamlit's process-wide resources (store, model, chain) are dropped before and after,
so nothing of one test's database or model reaches the next."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
import streamlit as st
import streamlit.testing.v1.app_test as app_test_module
from sqlalchemy import Engine
from streamlit.runtime.pages_manager import PagesManager

import accounts
import settings
from accounts import Account
from database.engine import dispose_engine
from llm import stop_default_model
from memory import ChatStore, open_store
from tests.pages.app_driver import PASSWORD, Downloads
from tests.support.openai_stub import NORMAL, OpenAIStub

# Settings a developer's shell or secrets file may carry: none of them may reach these tests.
FOREIGN_SETTINGS = (
    "OPENAI_",
    "DATABASE_",
    "AUTH_",
    "CHAT_",
    "LOCAL_MODEL",
    "MODEL_",
    "DB_",
    "OIDC_",
)


@pytest.fixture(scope="session")
def model_server() -> Iterator[OpenAIStub]:
    with OpenAIStub() as stub:
        yield stub


@pytest.fixture
def model(model_server: OpenAIStub) -> Iterator[OpenAIStub]:
    """The stub, answering normally, with nothing recorded yet."""
    model_server.mode = NORMAL
    model_server.delay = 0.0
    model_server.prompts.clear()
    model_server.requests.clear()
    yield model_server
    model_server.mode = NORMAL


class RunningServerPagesManager(PagesManager):
    """Pages as a running server has them once app.py has called st.navigation.

    The project keeps its pages in a folder named `pages/` beside app.py, which Streamlit takes
    for a version-1 multipage app until the first st.navigation call in the process. AppTest
    forgets that call before every run, so without this each run after the first would execute
    the page script alone (pages/chat.py), skipping app.py and its sign-in gate."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        PagesManager.uses_pages_directory = False


@pytest.fixture(autouse=True)
def app_runs_through_app_py(monkeypatch: pytest.MonkeyPatch) -> None:
    # The flag is process-wide: put back whatever it was once the test is over.
    monkeypatch.setattr(PagesManager, "uses_pages_directory", PagesManager.uses_pages_directory)
    monkeypatch.setattr(app_test_module, "PagesManager", RunningServerPagesManager)


@pytest.fixture
def downloads(db: Engine) -> Downloads:
    """Fetches the files the pages' download buttons point at, from the app's own routes."""
    return Downloads(db)


def _forget_process_resources() -> None:
    st.cache_resource.clear()
    stop_default_model()
    settings.reload()


@pytest.fixture(autouse=True)
def app_database_url(tmp_path, monkeypatch: pytest.MonkeyPatch, model: OpenAIStub) -> Iterator[str]:
    """The app configured on a new SQLite file in a temporary DATA_DIR; its URL."""
    for name in list(os.environ):
        if name.startswith(FOREIGN_SETTINGS):
            monkeypatch.delenv(name)
    data_dir = tmp_path / "data"
    url = f"sqlite:///{data_dir / 'chat.db'}"
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("SECRETS_FILE", str(tmp_path / "no-secrets.toml"))
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", model.url)
    monkeypatch.setenv("CHAT_MODEL", "stub-echo")
    monkeypatch.setenv("AUTH_COOKIE_KEY", secrets.token_urlsafe(36))  # 48 characters
    monkeypatch.setenv("PASSWORD_HASH_ROUNDS", "4")
    # First-words titles unless a test turns the model's on (they would race its reads).
    monkeypatch.setenv("MODEL_TITLES", "off")
    _forget_process_resources()
    yield url
    _forget_process_resources()
    dispose_engine(url)


@pytest.fixture
def store(app_database_url: str) -> ChatStore:
    """The store on the app's database (the same Engine the app uses in this process)."""
    return open_store(app_database_url)


@pytest.fixture
def db(store: ChatStore) -> Engine:
    return store.engine


@pytest.fixture
def ada(db: Engine) -> Account:
    """The first account, hence the administrator."""
    account = accounts.create_account(db, username="ada", password=PASSWORD)
    assert account.is_admin
    return account


@pytest.fixture
def bob(db: Engine, ada: Account) -> Account:
    """An ordinary user (created after ada, so not an admin)."""
    account = accounts.create_account(db, username="bob", password=PASSWORD)
    assert not account.is_admin
    return account


@pytest.fixture
def cleo(db: Engine, bob: Account) -> Account:
    """Another ordinary user."""
    return accounts.create_account(db, username="cleo", password=PASSWORD)
