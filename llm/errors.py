"""The model core's named exceptions, and the one place that turns any failure of a model call
into one short sentence a person can read (no trace, no provider jargon).

The kinds, and what causes each:
- unreachable: nothing listens at the model's address (connection refused, DNS, connect timeout)
- auth: the provider refused the API key (401, 403)
- timeout: no answer within MODEL_TIMEOUT_SECONDS
- interrupted: the server went away in the middle of an answer (reset, incomplete chunked read)
- rate_limit: the provider asks to slow down (429)
- server_error: the provider failed on its side (5xx, an error event in the stream)
- too_long: the prompt does not fit the model's context window
- no_answer: the stream ended without a word (llama.cpp's server does this, with status 200,
  when the prompt overflows its window)
- not_found, bad_request: the provider refused the model name or the request (404, 400, 422)
- config, startup: the model could not be started (bad settings, missing GGUF, server crash)
- unknown: anything else
"""

from __future__ import annotations

import http.client
import logging
from collections.abc import Iterator

import httpx
import openai
from langchain_core.exceptions import ContextOverflowError

try:  # newer openai releases speak httpx2; older ones use httpx only
    import httpx2
except ImportError:  # pragma: no cover - depends on the installed openai
    httpx2 = None

log = logging.getLogger(__name__)

UNREACHABLE = "unreachable"
AUTH = "auth"
TIMEOUT = "timeout"
INTERRUPTED = "interrupted"
RATE_LIMIT = "rate_limit"
SERVER_ERROR = "server_error"
TOO_LONG = "too_long"
NO_ANSWER = "no_answer"
NOT_FOUND = "not_found"
BAD_REQUEST = "bad_request"
CONFIG = "config"
STARTUP = "startup"
UNKNOWN = "unknown"

MESSAGES = {
    UNREACHABLE: "The model server cannot be reached.",
    AUTH: "The model provider refused the API key.",
    TIMEOUT: "The model took too long to answer.",
    INTERRUPTED: "The model server went away in the middle of the answer.",
    RATE_LIMIT: "The model provider is busy right now; wait a moment and try again.",
    SERVER_ERROR: "The model server had an internal error.",
    TOO_LONG: "The message and the conversation before it are too long for the model.",
    NO_ANSWER: "The model returned no answer; the message may be too long for it.",
    NOT_FOUND: "The model provider does not know the configured model.",
    BAD_REQUEST: "The model provider refused the request.",
    STARTUP: "The local model could not be started.",
    UNKNOWN: "The model could not answer.",
}


class ModelError(Exception):
    """A model that cannot be started or cannot answer: `user_message` is one readable
    sentence for the page, `kind` a short code, `detail` what an operator needs (a log tail)."""

    def __init__(self, user_message: str, *, kind: str = UNKNOWN, detail: str = "") -> None:
        super().__init__(f"{user_message}\n{detail}" if detail else user_message)
        self.user_message = user_message
        self.kind = kind
        self.detail = detail


class ModelConfigError(ModelError, ValueError):
    """A setting that makes the model impossible to start (e.g. LOCAL_MODEL_PATH missing)."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message, kind=CONFIG)


def _of(*names: str) -> tuple[type[BaseException], ...]:
    # The same exception names exist in httpx and httpx2; a stream may raise either.
    modules = [module for module in (httpx, httpx2) if module is not None]
    return tuple(getattr(module, name) for module in modules for name in names)


_CONNECT_FAILED = (ConnectionRefusedError, *_of("ConnectError", "ConnectTimeout"))
_TIMED_OUT = (openai.APITimeoutError, TimeoutError, *_of("TimeoutException"))
_CUT_OFF = (
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
    http.client.IncompleteRead,
    *_of("RemoteProtocolError", "ReadError", "WriteError"),
)
# What langchain-core raises when a stream ends before its first chunk.
_EMPTY_STREAM = "No generation chunks were returned"
_NO_CONNECTION = (openai.APIConnectionError, ConnectionError, *_of("TransportError"))


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and its causes, outermost first, as Python itself would print them."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        if current.__cause__ is not None:
            current = current.__cause__
        elif not current.__suppress_context__:
            current = current.__context__
        else:
            current = None


def _kind_of_status(status: int) -> str:
    if status in (401, 403):
        return AUTH
    if status == 404:
        return NOT_FOUND
    if status == 429:
        return RATE_LIMIT
    if status >= 500:
        return SERVER_ERROR
    if status in (400, 413, 422):
        return BAD_REQUEST
    return UNKNOWN


def _overflows(exc: openai.APIStatusError) -> bool:
    # langchain-openai only spots OpenAI's own wording; llama.cpp, vLLM and others send the
    # same error code, or say "context length" / "context window" in the message.
    if exc.code == "context_length_exceeded":
        return True
    message = str(exc.message).lower()
    return exc.status_code in (400, 413) and (
        "context length" in message or "context window" in message
    )


def _kind_of(chain: list[BaseException]) -> tuple[str, int | None]:
    # Causes are looked at in order of precision: a status code says the most, a bare
    # "connection error" the least (openai wraps both refused and cut-off connections in it).
    if any(isinstance(exc, ContextOverflowError) for exc in chain):
        return TOO_LONG, None
    for exc in chain:
        if isinstance(exc, openai.APIStatusError):
            if _overflows(exc):
                return TOO_LONG, exc.status_code
            return _kind_of_status(exc.status_code), exc.status_code
    for kinds, classes in (
        (UNREACHABLE, _CONNECT_FAILED),
        (TIMEOUT, _TIMED_OUT),
        (INTERRUPTED, _CUT_OFF),
        (UNREACHABLE, _NO_CONNECTION),
        (SERVER_ERROR, (openai.APIError,)),
    ):
        if any(isinstance(exc, classes) for exc in chain):
            return kinds, None
    if any(isinstance(exc, ValueError) and str(exc) == _EMPTY_STREAM for exc in chain):
        return NO_ANSWER, None
    return UNKNOWN, None


def explain_model_error(exc: BaseException) -> ModelError:
    """The readable ModelError for any failure of a model call (a ModelError is returned as
    is). Logs the kind and exception class, never the message content."""
    chain = list(_chain(exc))
    for link in chain:
        if isinstance(link, ModelError):
            return link
    kind, status = _kind_of(chain)
    log.warning(
        "model call failed: %s (%s%s)",
        kind,
        type(exc).__name__,
        f", status {status}" if status is not None else "",
    )
    error = ModelError(MESSAGES[kind], kind=kind)
    error.__cause__ = exc
    return error
