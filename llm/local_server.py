"""The local model: llama.cpp's OpenAI-compatible server (`llama_cpp.server`) run as a child of
this app process, on a free loopback port of its own.

Each app process starts its own server, so two processes never share (or fight over) one port.
The child dies with its parent however the parent ends: `stop()` at exit (atexit), and a
watchdog in the child that exits when a pipe from the parent closes, which the kernel does
even when the parent is killed with SIGKILL. (prctl's PR_SET_PDEATHSIG would fire when the
*thread* that started the child ends, and Streamlit runs each script run on a new thread.)

A server that dies on its own (a crash, the OOM killer) is started again on the same port, so
the app's client keeps working: the answer in flight is lost, the user's Retry then works.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from llm.errors import STARTUP, ModelConfigError, ModelError

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
STARTUP_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 10.0
LOG_FILE_NAME = "local-model.log"
# The shared log is moved aside when it grows past this, so it never fills the disk.
LOG_ROTATE_BYTES = 10_000_000
LOG_TAIL_CHARS = 1_500
_PORT_ATTEMPTS = 3
# A server that keeps dying has a cause restarts will not fix; its log says which.
MAX_RESTARTS = 3

# Only these variables reach the child: llama_cpp.server reads HOST, PORT, API_KEY, MODEL and
# its other settings from the environment (scripts/start sets PORT for Streamlit), and the
# app's secrets have no business in the model server.
_ENV_KEPT = ("PATH", "HOME", "USER", "LANG", "LANGUAGE", "TMPDIR", "TZ", "LD_LIBRARY_PATH")
_ENV_KEPT_PREFIXES = ("LC_", "OMP_", "GGML_")

# Runs in the child before llama_cpp.server: a thread waits on the pipe from the parent; when
# it closes (the parent is gone), the server is asked to stop, then killed if it lingers.
_WATCHDOG = """\
import os, runpy, signal, sys, threading, time
def _watch(fd):
    while os.read(fd, 1):
        pass
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)
    os._exit(1)
fd = int(sys.argv.pop(1))
threading.Thread(target=_watch, args=(fd,), daemon=True).start()
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""

_QUANT_SUFFIX = re.compile(r"[.-](?:I?Q\d\w*|BF16|F16|F32)$", re.IGNORECASE)


def model_display_name(model_path: Path) -> str:
    """A GGUF file's name without the extension and quantisation suffix (`SmolLM2-135M-Instruct`)."""
    return _QUANT_SUFFIX.sub("", Path(model_path).stem) or Path(model_path).name


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _child_env() -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name in _ENV_KEPT or name.startswith(_ENV_KEPT_PREFIXES)
    }
    env["PYTHONUNBUFFERED"] = "1"
    return env


class LocalModelServer:
    """One llama.cpp server for one GGUF, on a free loopback port, owned by this process.

    server = LocalModelServer(model_path=path).start()   # waits until it answers /v1/models
    ChatOpenAI(base_url=server.url, model=server.model_alias, api_key="local", ...)
    server.stop()
    """

    def __init__(
        self,
        *,
        model_path: Path | str,
        n_ctx: int = 2048,
        log_path: Path | str | None = None,
        startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
        restart_on_crash: bool = True,
    ) -> None:
        self.model_path = Path(model_path)
        self.n_ctx = n_ctx
        self.log_path = Path(log_path) if log_path is not None else None
        self.startup_timeout = startup_timeout
        self.restart_on_crash = restart_on_crash
        self.restarts = 0
        # A name only this server answers to: the health check proves that the process on the
        # port is ours, not another app process's server that took the port first.
        self.model_alias = f"{model_display_name(self.model_path)}-{secrets.token_hex(4)}"
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._watchdog_fd: int | None = None
        self._log_offset = 0
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The OpenAI-compatible base URL, e.g. http://127.0.0.1:41234/v1."""
        if self.port is None:
            raise RuntimeError("the local model server is not started")
        return f"http://{HOST}:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        """The server process's id, while it runs."""
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self.process is not None and self.process.poll() is None

    def start(self) -> LocalModelServer:
        """Start the server and wait until it answers; ModelError (with the tail of its log)
        when it cannot start within `startup_timeout` seconds."""
        with self._lock:
            if self.running:
                return self
            self._check_can_start()
            began = time.monotonic()
            for attempt in range(1, _PORT_ATTEMPTS + 1):
                self._spawn(free_port())
                outcome = self._wait_until_healthy(began + self.startup_timeout)
                if outcome == "healthy":
                    break
                # Another process can take the port between our probe and the server's bind.
                if outcome == "port taken" and attempt < _PORT_ATTEMPTS:
                    log.info("local model server port %s was taken; trying another", self.port)
                    self._terminate()
                    continue
                tail = self.log_tail()
                self._terminate()
                log.error("local model server failed to start (%s): %s", outcome, tail)
                raise ModelError(
                    f"The local model could not be started ({outcome}).",
                    kind=STARTUP,
                    detail=f"last lines of {self.log_path}:\n{tail}",
                )
            _live_servers.add(self)
            self._supervise_in_background()
        log.info(
            "local model server started: %s on port %s, pid %s, in %.1f s",
            self.model_path.name,
            self.port,
            self.pid,
            time.monotonic() - began,
        )
        return self

    def stop(self, *, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Stop the server (SIGTERM, then SIGKILL after `timeout` seconds); safe to repeat."""
        with self._lock:
            if self.process is None:
                return
            was_running = self.running
            self._terminate(timeout=timeout)
            _live_servers.discard(self)
        if was_running:
            log.info("local model server stopped: port %s", self.port)
        else:
            log.warning("local model server on port %s had already exited", self.port)

    def healthy(self) -> bool:
        """True when this server answers its health check right now."""
        return self.port is not None and self._answers()

    def log_tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        """The end of what this server wrote to its log since it was started."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as handle:
            handle.seek(self._log_offset)
            text = handle.read().decode("utf-8", errors="replace")
        return text[-chars:].strip()

    def __enter__(self) -> LocalModelServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _check_can_start(self) -> None:
        if not self.model_path.is_file():
            raise ModelConfigError(
                f"LOCAL_MODEL_PATH points to {self.model_path}, which is not a file."
            )
        import importlib.util

        if importlib.util.find_spec("llama_cpp") is None:
            raise ModelConfigError(
                "The local model server (llama-cpp-python) is not installed; "
                "install requirements.txt or set OPENAI_API_KEY."
            )

    def _open_log(self) -> int:
        if self.log_path is None:
            import settings

            self.log_path = settings.data_dir() / LOG_FILE_NAME
        self.log_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            if self.log_path.stat().st_size > LOG_ROTATE_BYTES:
                self.log_path.replace(self.log_path.with_suffix(".log.1"))
        except FileNotFoundError:
            pass
        # Several app processes append to one file; each remembers where its own part begins.
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        when = time.strftime("%Y-%m-%d %H:%M:%S")
        header = f"\n=== {when} app pid {os.getpid()}: local model on port {self.port}\n".encode()
        os.write(fd, header)
        self._log_offset = os.lseek(fd, 0, os.SEEK_END) - len(header)
        return fd

    def _spawn(self, port: int) -> None:
        if self._watchdog_fd is not None:  # the pipe of a previous, dead server process
            os.close(self._watchdog_fd)
            self._watchdog_fd = None
        self.port = port
        log_fd = self._open_log()
        read_end, write_end = os.pipe()
        command = [
            sys.executable,
            "-c",
            _WATCHDOG,
            str(read_end),
            "--model",
            str(self.model_path),
            "--model_alias",
            self.model_alias,
            "--host",
            HOST,
            "--port",
            str(port),
            "--n_ctx",
            str(self.n_ctx),
            # Per-request timing lines would grow the log without bound.
            "--verbose",
            "False",
        ]
        try:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=subprocess.STDOUT,
                pass_fds=(read_end,),
                env=_child_env(),
                # Its own session: a Ctrl-C in the app's terminal stops the app, which then
                # stops the server in order, instead of killing it under a running answer.
                start_new_session=True,
            )
        except BaseException:
            os.close(write_end)
            raise
        finally:
            os.close(read_end)
            os.close(log_fd)
        self._watchdog_fd = write_end

    def _wait_until_healthy(self, deadline: float) -> str:
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                if "address already in use" in self.log_tail().lower():
                    return "port taken"
                return f"the server exited with code {self.process.returncode}"
            if self._answers():
                return "healthy"
            time.sleep(0.1)
        return f"no answer within {self.startup_timeout:g} s"

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/models", timeout=2) as response:
                models = json.load(response)
        except (OSError, ValueError):
            return False
        return any(entry.get("id") == self.model_alias for entry in models.get("data", []))

    def _supervise_in_background(self) -> None:
        if self.restart_on_crash and self.process is not None:
            threading.Thread(
                target=self._restart_when_it_dies,
                args=(self.process,),
                name=f"local-model-supervisor-{self.port}",
                daemon=True,
            ).start()

    def _restart_when_it_dies(self, process: subprocess.Popen[bytes]) -> None:
        code = process.wait()
        with self._lock:
            # stop() and start() replace self.process first: only an unexpected death is left.
            if self.process is not process or self.port is None:
                return
            if self.restarts >= MAX_RESTARTS:
                log.error(
                    "local model server on port %s exited (code %s) again; not restarting: %s",
                    self.port,
                    code,
                    self.log_tail(),
                )
                return
            self.restarts += 1
            log.error(
                "local model server on port %s exited unexpectedly (code %s); restarting it",
                self.port,
                code,
            )
            self._spawn(self.port)
            outcome = self._wait_until_healthy(time.monotonic() + self.startup_timeout)
            if outcome != "healthy":
                log.error("local model server did not restart (%s): %s", outcome, self.log_tail())
                self._terminate()
                _live_servers.discard(self)
                return
            log.info("local model server restarted on port %s, pid %s", self.port, self.pid)
            self._supervise_in_background()

    def _terminate(self, *, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        process, self.process = self.process, None
        if self._watchdog_fd is not None:
            os.close(self._watchdog_fd)
            self._watchdog_fd = None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_live_servers: set[LocalModelServer] = set()


@atexit.register
def _stop_live_servers() -> None:
    for server in list(_live_servers):
        server.stop()
