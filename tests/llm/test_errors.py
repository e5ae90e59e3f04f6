"""Every way a model call fails, over real HTTP through ChatOpenAI, becomes one short readable
sentence; the logs say what kind of failure it was, never what the user wrote."""

from __future__ import annotations

import logging

import openai
import pytest

from llm import ModelError, explain_model_error, free_port, start_default_model
from llm.errors import MESSAGES
from tests.support import openai_stub
from tests.support.openai_stub import OpenAIStub

FAILURES = [
    (openai_stub.UNAUTHORIZED, "auth"),
    (openai_stub.SERVER_ERROR, "server_error"),
    (openai_stub.RATE_LIMITED, "rate_limit"),
    (openai_stub.HANG, "timeout"),
    (openai_stub.DROP, "interrupted"),
    (openai_stub.TOO_LONG, "too_long"),
]


def failure_of_streaming(question: str) -> tuple[BaseException, str]:
    """Stream an answer with the app's model; the exception raised and the text before it."""
    _, model = start_default_model()
    parts: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in model.stream(question):
            parts.append(str(chunk.content))
    return caught.value, "".join(parts)


def is_one_short_sentence(text: str) -> bool:
    return text.endswith(".") and "\n" not in text and len(text) <= 100


@pytest.mark.usefixtures("fresh_default_model")
@pytest.mark.parametrize(("mode", "kind"), FAILURES)
def test_a_failing_provider_is_explained_in_one_sentence(
    provider_env: OpenAIStub, mode: str, kind: str
) -> None:
    provider_env.mode = mode
    failure, _ = failure_of_streaming("why is the sky blue")
    explained = explain_model_error(failure)
    assert explained.kind == kind
    assert explained.user_message == MESSAGES[kind]
    assert is_one_short_sentence(explained.user_message)
    assert explained.__cause__ is failure


@pytest.mark.usefixtures("fresh_default_model")
def test_a_provider_dropping_the_connection_mid_answer_says_it_went_away(
    provider_env: OpenAIStub,
) -> None:
    provider_env.mode = openai_stub.DROP
    failure, partial = failure_of_streaming("tell me four words")
    assert partial == "Echo: tell me"
    assert explain_model_error(failure).user_message == (
        "The model server went away in the middle of the answer."
    )


@pytest.mark.usefixtures("fresh_default_model")
def test_nothing_listening_at_the_base_url_says_the_server_cannot_be_reached(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk")
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    failure, _ = failure_of_streaming("anyone there")
    explained = explain_model_error(failure)
    assert explained.kind == "unreachable"
    assert explained.user_message == "The model server cannot be reached."


@pytest.mark.usefixtures("fresh_default_model")
def test_a_wrong_key_without_streaming_is_explained_too(provider_env: OpenAIStub) -> None:
    provider_env.mode = openai_stub.UNAUTHORIZED
    _, model = start_default_model()
    with pytest.raises(openai.AuthenticationError) as caught:
        model.invoke("hello")
    assert explain_model_error(caught.value).user_message == (
        "The model provider refused the API key."
    )


@pytest.mark.usefixtures("fresh_default_model")
def test_the_provider_recovering_makes_the_next_call_work(provider_env: OpenAIStub) -> None:
    provider_env.mode = openai_stub.SERVER_ERROR
    failure_of_streaming("first try")
    provider_env.mode = openai_stub.NORMAL
    _, model = start_default_model()
    assert model.invoke("second try").content == "Echo: second try"


def test_an_unknown_failure_gets_a_generic_sentence_without_its_details() -> None:
    explained = explain_model_error(RuntimeError("KeyError in tokenizer at 0x7f3a"))
    assert explained.kind == "unknown"
    assert explained.user_message == "The model could not answer."
    assert "tokenizer" not in explained.user_message


def test_a_model_error_is_explained_as_itself() -> None:
    error = ModelError("The local model could not be started.", kind="startup", detail="log")
    assert explain_model_error(error) is error
    wrapped = RuntimeError("while starting")
    wrapped.__cause__ = error
    assert explain_model_error(wrapped) is error


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (ConnectionRefusedError(), "unreachable"),
        (TimeoutError(), "timeout"),
        (ConnectionResetError(), "interrupted"),
        (BrokenPipeError(), "interrupted"),
        (ConnectionError("model failed on purpose"), "unreachable"),
    ],
)
def test_plain_socket_errors_are_explained_like_the_http_ones(
    failure: BaseException, kind: str
) -> None:
    assert explain_model_error(failure).kind == kind


@pytest.mark.usefixtures("fresh_default_model")
def test_explaining_logs_the_kind_but_never_the_message_content(
    provider_env: OpenAIStub, caplog: pytest.LogCaptureFixture
) -> None:
    provider_env.mode = openai_stub.SERVER_ERROR
    failure, _ = failure_of_streaming("my private diagnosis")
    with caplog.at_level(logging.INFO, logger="llm"):
        explain_model_error(failure)
    assert "server_error" in caplog.text
    assert "status 500" in caplog.text
    assert "diagnosis" not in caplog.text
