"""A minimal reverse proxy on a free loopback port that says which client it forwards: it adds
`X-Forwarded-For: <address>` to the first request of every connection it passes to the app.

Browser tests use one per simulated client address. Playwright's extra_http_headers would be
simpler, but Chromium (150, Debian's) leaves them off the WebSocket upgrade, the request that
Streamlit takes the client's address from."""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.support.postgres import free_port

_HEAD_END = b"\r\n\r\n"


class ForwardingProxy:
    def __init__(self, app_port: int, forwarded_for: str) -> None:
        self.app_port = app_port
        self.forwarded_for = forwarded_for
        self.port = free_port()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._closed = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ForwardingProxy:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def close(self) -> None:
        self._closed = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with contextlib.suppress(OSError), client:
            head = b""
            while _HEAD_END not in head:
                chunk = client.recv(65536)
                if not chunk:
                    return
                head += chunk
            request_line, rest = head.split(b"\r\n", 1)
            header = f"X-Forwarded-For: {self.forwarded_for}\r\n".encode()
            with socket.create_connection(("127.0.0.1", self.app_port)) as upstream:
                upstream.sendall(request_line + b"\r\n" + header + rest)
                back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
                back.start()
                _pipe(client, upstream)
                back.join()


def _pipe(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := source.recv(65536):
            target.sendall(chunk)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)
