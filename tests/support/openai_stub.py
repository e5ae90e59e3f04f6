"""A small OpenAI-compatible HTTP server for tests: real HTTP on a free 127.0.0.1 port.

It serves GET /v1/models and POST /v1/chat/completions, streamed (SSE `data: {...}` chunks,
then `data: [DONE]`, over chunked transfer encoding like uvicorn) or not. The answer is
deterministic: "Echo: <last user message>", streamed word by word, `delay` seconds apart.

The mode can change at any time (`stub.mode = DROP`):
  normal        answers
  unauthorized  401, as for a wrong API key
  server_error  500
  rate_limited  429
  hang          accepts the request and never answers (the client must time out)
  drop          sends the first half of the answer, then closes the connection mid-stream
  slow          answers with SLOW_DELAY seconds between chunks (unless `delay` is set)
  too_long      400 context_length_exceeded, as for a prompt larger than the model's window

In-process, it records what it receives: `prompts` (the messages of each chat request),
`requests` (whole bodies) and `api_keys`. As a process, for tests that start the real app:

    python -m tests.support.openai_stub --port 8765 [--delay 0.05] [--mode normal]

prints `listening on http://127.0.0.1:PORT/v1` and serves until SIGTERM or Ctrl-C; the mode
can be changed with POST /_stub/mode {"mode": "hang", "delay": 0.1}, and GET /_stub/prompts
returns the recorded prompts as JSON.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

NORMAL = "normal"
UNAUTHORIZED = "unauthorized"
SERVER_ERROR = "server_error"
RATE_LIMITED = "rate_limited"
HANG = "hang"
DROP = "drop"
SLOW = "slow"
TOO_LONG = "too_long"
# Half the answer, then the server is gone with no finish_reason and no [DONE]: over HTTP/1.0
# the body simply ends as the connection closes; over HTTP/1.1 the chunked body ends cleanly.
CUT_HTTP10 = "cut_http10"
CUT_CHUNKED = "cut_chunked"
MODES = (
    NORMAL,
    UNAUTHORIZED,
    SERVER_ERROR,
    RATE_LIMITED,
    HANG,
    DROP,
    SLOW,
    TOO_LONG,
    CUT_HTTP10,
    CUT_CHUNKED,
)
SLOW_DELAY = 0.3
MODEL_ID = "stub-model"

_STATUS = {
    UNAUTHORIZED: (401, "invalid_api_key", "Incorrect API key provided."),
    SERVER_ERROR: (500, "server_error", "The server had an error."),
    RATE_LIMITED: (429, "rate_limit_exceeded", "Rate limit reached."),
    TOO_LONG: (400, "context_length_exceeded", "This model's maximum context length is 128."),
}


def echo_of(messages: list[dict[str, Any]]) -> str:
    """The stub's answer to a conversation: "Echo: " and the last user message."""
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):  # the content-parts form
                content = " ".join(part.get("text", "") for part in content)
            return f"Echo: {content}"
    return "Echo:"


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [word if index == 0 else " " + word for index, word in enumerate(words)]


class OpenAIStub:
    """The stub server, run on a thread of this process; use as a context manager."""

    def __init__(self, *, mode: str = NORMAL, delay: float = 0.0, port: int = 0) -> None:
        self.mode = mode
        self.delay = delay
        self.prompts: list[list[dict[str, Any]]] = []
        self.requests: list[dict[str, Any]] = []
        self.api_keys: list[str] = []
        self._port = port
        self._server: _QuietServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._record_lock = threading.Lock()

    @property
    def mode(self) -> str:
        """How the next request is answered (one of MODES)."""
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"unknown stub mode {value!r}; one of {', '.join(MODES)}")
        self._mode = value

    @property
    def port(self) -> int:
        """The port it listens on."""
        if self._server is None:
            raise RuntimeError("the stub is not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """The OpenAI base URL, for OPENAI_BASE_URL or ChatOpenAI(base_url=...)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def chunk_delay(self) -> float:
        """Seconds between streamed chunks in the current mode."""
        if self.mode == SLOW and self.delay <= 0:
            return SLOW_DELAY
        return self.delay

    def record(self, body: dict[str, Any], api_key: str) -> None:
        """Keep a chat request for tests to inspect."""
        with self._record_lock:
            self.requests.append(body)
            self.prompts.append(list(body.get("messages", [])))
            self.api_keys.append(api_key)

    def start(self) -> OpenAIStub:
        """Listen on 127.0.0.1 (a free port unless one was given) and serve on a thread."""
        self._stopping.clear()
        self._server = _QuietServer(("127.0.0.1", self._port), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="openai-stub",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release hanging requests, stop serving and close the port."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_while_hanging(self) -> None:
        """Block a request in `hang` mode until the stub stops (or the mode changes)."""
        while self.mode == HANG and not self._stopping.wait(0.05):
            pass

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or give up reset their connections; that is the point of
        # several modes, not a failure of the stub.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler_for(stub: OpenAIStub) -> type[BaseHTTPRequestHandler]:
    class Handler(_StubHandler):
        pass

    Handler.stub = stub
    return Handler


class _StubHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 for chunked streaming: a dropped connection is then visibly incomplete.
    protocol_version = "HTTP/1.1"
    stub: OpenAIStub

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read results, not access logs

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            self._send_json(200, {"object": "list", "data": [{"id": MODEL_ID, "object": "model"}]})
        elif self.path == "/_stub/prompts":
            self._send_json(200, {"prompts": self.stub.prompts})
        else:
            self._send_json(404, _error_body("not_found", f"no route {self.path}"))

    def do_POST(self) -> None:
        body = self._read_json()
        if self.path == "/_stub/mode":
            try:
                self.stub.mode = body.get("mode", self.stub.mode)
            except ValueError as error:
                self._send_json(400, _error_body("bad_mode", str(error)))
                return
            self.stub.delay = float(body.get("delay", self.stub.delay))
            self._send_json(200, {"mode": self.stub.mode, "delay": self.stub.delay})
            return
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_json(404, _error_body("not_found", f"no route {self.path}"))
            return
        auth = self.headers.get("Authorization", "")
        self.stub.record(body, auth.removeprefix("Bearer "))
        mode = self.stub.mode
        if mode in _STATUS:
            status, code, message = _STATUS[mode]
            # A short retry-after keeps the client's one retry quick.
            extra = {"retry-after-ms": "20"} if mode == RATE_LIMITED else {}
            self._send_json(status, _error_body(code, message), extra)
            return
        if mode == HANG:
            self.stub.wait_while_hanging()
            self.close_connection = True
            return
        body.setdefault("messages", [])
        answer = echo_of(body["messages"])
        model = body.get("model") or MODEL_ID
        if body.get("stream"):
            prompt_words = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
            usage = _usage(prompt_words, len(answer.split())) if _wants_usage(body) else None
            if mode in (CUT_HTTP10, CUT_CHUNKED):
                self._cut_stream(answer, model, chunked=mode == CUT_CHUNKED)
                return
            self._stream(answer, model, drop=mode == DROP, usage=usage)
        else:
            self._send_json(200, _completion(answer, model))

    def _read_json(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            parsed = json.loads(raw or b"{}")
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}

    def _send_json(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _event(self, payload: dict[str, Any] | str) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        self._chunk(f"data: {text}\n\n".encode())

    def _cut_stream(self, answer: str, model: str, *, chunked: bool) -> None:
        words = _words(answer)
        created = int(time.time())
        if not chunked:
            self.protocol_version = "HTTP/1.0"  # no length, no chunks: the close ends the body
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for index, word in enumerate(words[: max(1, (len(words) + 1) // 2)]):
            delta = {"role": "assistant", "content": word} if index == 0 else {"content": word}
            event = f"data: {json.dumps(_chunk_payload(model, created, delta, None))}\n\n"
            if chunked:
                self._chunk(event.encode())
            else:
                self.wfile.write(event.encode())
        if chunked:
            self._chunk(b"")
        self.wfile.flush()
        self.close_connection = True

    def _stream(self, answer: str, model: str, *, drop: bool, usage: dict[str, int] | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        words = _words(answer)
        send = words[: max(1, (len(words) + 1) // 2)] if drop else words
        created = int(time.time())
        for index, word in enumerate(send):
            if index:
                time.sleep(self.stub.chunk_delay())
            delta = {"role": "assistant", "content": word} if index == 0 else {"content": word}
            self._event(_chunk_payload(model, created, delta, None))
        if drop:
            # Close the socket under the response: the client sees an incomplete chunked body,
            # as when a model server process dies in the middle of an answer.
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self._event(_chunk_payload(model, created, {}, "stop"))
        if usage is not None:
            self._event(
                {
                    "id": "chatcmpl-stub",
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
            )
        self._event("[DONE]")
        self._chunk(b"")  # the terminating zero-length chunk


def _wants_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options") or {}
    return bool(options.get("include_usage"))


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _chunk_payload(
    model: str, created: int, delta: dict[str, str], finish_reason: str | None
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def _completion(answer: str, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": "stop",
            }
        ],
        "usage": _usage(0, len(answer.split())),
    }


def _error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": code, "param": None, "code": code}}


def main(argv: list[str] | None = None) -> None:
    """Run the stub as a process until SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between chunks")
    parser.add_argument("--mode", choices=MODES, default=NORMAL)
    args = parser.parse_args(argv)
    stub = OpenAIStub(mode=args.mode, delay=args.delay, port=args.port).start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    print(f"listening on {stub.url}", flush=True)
    try:
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        stub.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
