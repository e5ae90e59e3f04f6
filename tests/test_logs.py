"""No secret setting reaches the log: not the provider key, not credentials or a token in the
provider's URL, not the database password, not the cookie key; at any level, through a
session of model calls that succeed and fail."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from langchain_core.messages import HumanMessage

import settings
from llm.provider import build_chat_model, choose_provider
from logs import RedactingFilter, configure_logging, redact, secret_values
from tests.support.openai_stub import DROP, NORMAL, SERVER_ERROR, UNAUTHORIZED, OpenAIStub

API_KEY = "sk-test-secret-value-123456"
URL_PASSWORD = "pa55word-secret"
URL_TOKEN = "tok-secret-42"
DATABASE_PASSWORD = "db-secret-pw-99"
COOKIE_KEY = "cookie-key-secret-" + "k" * 30
SECRETS = (API_KEY, URL_PASSWORD, URL_TOKEN, DATABASE_PASSWORD, COOKIE_KEY)


class Lines(logging.Handler):
    """Every formatted line the root logger writes."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as stub:
        yield stub


@pytest.fixture
def captured(stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[Lines]:
    base = stub.url.replace("http://", f"http://user:{URL_PASSWORD}@")
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{base}?token={URL_TOKEN}")
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg://chat:{DATABASE_PASSWORD}@db/chat")
    monkeypatch.setenv("AUTH_COOKIE_KEY", COOKIE_KEY)
    monkeypatch.setenv("MODEL_TIMEOUT_SECONDS", "5")
    monkeypatch.setenv("SECRETS_FILE", str(tmp_path / "none.toml"))
    settings.reload()
    root = logging.getLogger()
    handler = Lines()
    old_level = root.level
    root.addHandler(handler)
    configure_logging(logging.DEBUG)
    # At any level: even with the client loggers opened up to DEBUG, the filter holds.
    for name in ("httpx", "httpx2", "httpcore", "httpcore2", "openai", "langchain_openai"):
        monkeypatch.setattr(logging.getLogger(name), "level", logging.DEBUG)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_a_session_with_errors_logs_no_secret(stub: OpenAIStub, captured: Lines) -> None:
    model = build_chat_model(choose_provider(), max_retries=0)
    for mode in (NORMAL, UNAUTHORIZED, SERVER_ERROR, DROP):
        stub.mode = mode
        try:
            for _ in model.stream([HumanMessage("hello")]):
                pass
        except Exception:
            logging.getLogger("app").exception("model call failed (%s)", mode)
    logging.getLogger("app").error(
        "refusing %s with key %s at %s", settings.get("DATABASE_URL"), COOKIE_KEY, stub.url
    )

    assert captured.lines, "the session logged nothing: the test would prove nothing"
    assert any("HTTP Request" in line or "model call failed" in line for line in captured.lines)
    for line in captured.lines:
        for secret in SECRETS:
            assert secret not in line, line


def test_url_credentials_and_queries_are_masked_in_any_text() -> None:
    text = "POST http://ann:hunter22@host:8/v1/chat?token=abc&x=1 then https://h/p?q=1 done"
    assert redact(text) == "POST http://***@host:8/v1/chat?*** then https://h/p?*** done"
    assert redact("no url here, just words") == "no url here, just words"


def test_configured_secrets_are_masked_wherever_they_appear(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://user:{URL_PASSWORD}@h/v1?token={URL_TOKEN}")
    monkeypatch.setenv("SECRETS_FILE", str(tmp_path / "none.toml"))
    settings.reload()
    values = secret_values()
    assert API_KEY in values and URL_PASSWORD in values and f"token={URL_TOKEN}" in values
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "key=%s", (API_KEY,), None)
    RedactingFilter(values).filter(record)
    assert record.getMessage() == "key=***"


def test_the_single_sign_on_client_secret_is_masked(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    client_secret = "the-provider-client-secret-1234"
    monkeypatch.setenv("OIDC_CLIENT_SECRET", client_secret)
    monkeypatch.setenv("SECRETS_FILE", str(tmp_path / "none.toml"))
    settings.reload()
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "token request with %s", (client_secret,), None
    )
    RedactingFilter(secret_values()).filter(record)
    assert record.getMessage() == "token request with ***"
