"""Fixtures for the model core: settings isolated from the developer's environment and
secrets file, and the OpenAI-compatible stub server on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import settings
from llm import stop_default_model
from tests.support.openai_stub import OpenAIStub

MODEL_SETTINGS = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "CHAT_MODEL",
    "LOCAL_MODEL_PATH",
    "LOCAL_MODEL_CTX",
    "MODEL_CONTEXT_TOKENS",
    "MODEL_TIMEOUT_SECONDS",
)
STUB_KEY = "sk-test-stub"


@pytest.fixture(autouse=True)
def isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No model setting from outside the test: an empty secrets file, a temporary DATA_DIR.
    Yields the secrets file's path, for tests that write it."""
    for name in MODEL_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    secrets_file = tmp_path / "secrets.toml"
    monkeypatch.setenv(settings.SECRETS_FILE_ENV, str(secrets_file))
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    settings.reload()
    yield secrets_file
    settings.reload()


@pytest.fixture
def fresh_default_model() -> Iterator[None]:
    """start_default_model() starts anew in the test and is forgotten after it."""
    stop_default_model()
    yield
    stop_default_model()


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as server:
        yield server


@pytest.fixture
def provider_env(stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch) -> OpenAIStub:
    """Provider mode pointed at the stub, with a one-second timeout."""
    monkeypatch.setenv("OPENAI_API_KEY", STUB_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", stub.url)
    monkeypatch.setenv("MODEL_TIMEOUT_SECONDS", "1")
    return stub
