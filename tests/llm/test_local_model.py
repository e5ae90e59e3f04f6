"""End to end with the real local model (SmolLM2-135M on llama.cpp), started as the app does:
answers stream into a real store; a server killed mid-answer loses no question; every app
process gets its own server, which dies with it."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from langchain_openai import ChatOpenAI
from sqlalchemy import Engine

import llm.local_server
import settings
from llm import (
    DEFAULT_LOCAL_MODEL_PATH,
    LocalModelServer,
    ModelChoice,
    ModelError,
    build_chat_model,
    default_local_server,
    explain_model_error,
    start_default_model,
    stop_default_model,
)
from memory import ChatStore, build_chain, stream_reply
from memory.store import COMPLETE, INTERRUPTED, TITLE_BY_MODEL
from memory.titles import write_title
from settings import PROJECT_DIR
from tests.llm.conftest import MODEL_SETTINGS

pytestmark = pytest.mark.local_model

USER, SESSION = "bob", "local-1"


@pytest.fixture(scope="module")
def local_model(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ModelChoice, ChatOpenAI]]:
    """The app's default model, started once for the module: nothing configured, so local."""
    folder = tmp_path_factory.mktemp("local-model")
    with pytest.MonkeyPatch.context() as patch:
        for name in MODEL_SETTINGS:
            patch.delenv(name, raising=False)
        patch.setenv(settings.SECRETS_FILE_ENV, str(folder / "no-secrets.toml"))
        patch.setenv("DATA_DIR", str(folder / "data"))
        settings.reload()
        stop_default_model()
        yield start_default_model()
        stop_default_model()
    settings.reload()


def running_server() -> LocalModelServer:
    server = default_local_server()
    assert server is not None and server.running
    return server


def serves(url: str) -> list[str]:
    """The model ids a server lists at GET /models."""
    with urllib.request.urlopen(f"{url}/models", timeout=5) as response:
        return [entry["id"] for entry in json.load(response)["data"]]


def stored(store: ChatStore) -> list[tuple[str, str, str]]:
    return [(m.role, m.content, m.status) for m in store.load_messages(USER, SESSION)]


def is_gone(pid: int) -> bool:
    """No such process, or only a zombie (an orphan's reaper may be slow in a container)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def exits_within(pid: int, seconds: float) -> bool:
    """True once the process has ended, polling for at most `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if is_gone(pid):
            return True
        time.sleep(0.1)
    return False


def test_no_configuration_starts_the_packaged_model_on_a_loopback_port(
    local_model: tuple[ModelChoice, ChatOpenAI],
) -> None:
    choice, _ = local_model
    server = running_server()
    assert choice.label == "local: SmolLM2-135M-Instruct (llama.cpp)"
    assert choice.context_tokens == 2048
    assert choice.base_url == server.url
    assert server.url.startswith("http://127.0.0.1:")
    assert serves(server.url) == [server.model_alias]


def test_the_server_log_goes_to_the_data_dir(local_model: tuple[ModelChoice, ChatOpenAI]) -> None:
    server = running_server()
    assert server.log_path is not None
    assert server.log_path.parent.name == "data"
    assert f"Uvicorn running on http://127.0.0.1:{server.port}" in server.log_path.read_text()


def test_the_local_model_writes_a_chat_title_from_its_first_turn(
    engine: Engine, local_model: tuple[ModelChoice, ChatOpenAI]
) -> None:
    _, model = local_model
    store = ChatStore(engine)
    turn = store.begin_turn(USER, SESSION, "How do I bake sourdough bread at home?")
    store.finish_turn(turn, "Mix flour, water and starter, let it rise overnight, then bake.")
    title = write_title(model, store, USER, SESSION)
    summary = store.get_session(USER, SESSION)
    # The tiny model's words vary; what it must give is a title: short, plain, stored.
    assert title is not None, "the local model's reply was no title"
    assert (summary.title, summary.title_source) == (title, TITLE_BY_MODEL)
    assert 0 < len(title.split()) <= 6 and len(title) <= 80
    assert stored(store) == [
        ("human", "How do I bake sourdough bread at home?", COMPLETE),
        ("ai", "Mix flour, water and starter, let it rise overnight, then bake.", COMPLETE),
    ]


def test_a_local_answer_streams_into_the_store_as_a_complete_answer(
    engine: Engine, local_model: tuple[ModelChoice, ChatOpenAI]
) -> None:
    choice, model = local_model
    store = ChatStore(engine)
    chain = build_chain(model, store, context_tokens=choice.context_tokens)
    parts = list(
        stream_reply(
            chain, store, store.begin_turn(USER, SESSION, "What is the JVM?"), ability="Java"
        )
    )
    answer = "".join(parts)
    assert len(parts) > 1
    assert answer.strip()
    assert stored(store) == [
        ("human", "What is the JVM?", COMPLETE),
        ("ai", answer, COMPLETE),
    ]


def test_killing_the_server_mid_answer_keeps_the_question_and_retry_answers_it(
    engine: Engine, local_model: tuple[ModelChoice, ChatOpenAI]
) -> None:
    choice, _ = local_model
    # A server of its own, so the module's server lives on for the other tests.
    with LocalModelServer(model_path=choice.model_path, n_ctx=choice.local_ctx) as victim:
        model = build_chat_model(
            dataclasses.replace(choice, base_url=victim.url), model_name=victim.model_alias
        )
        store = ChatStore(engine)
        chain = build_chain(model, store, context_tokens=choice.context_tokens)
        question = "Tell me about dragons."
        reply = stream_reply(
            chain, store, store.begin_turn(USER, SESSION, question), ability="stories"
        )
        parts = [next(reply)]
        killed = victim.pid
        assert killed is not None
        os.kill(killed, signal.SIGKILL)
        with pytest.raises(openai.APIConnectionError) as caught:
            parts.extend(reply)
        explained = explain_model_error(caught.value)
        assert explained.user_message == "The model server went away in the middle of the answer."
        assert stored(store) == [
            ("human", question, COMPLETE),
            ("ai", "".join(parts), INTERRUPTED),
        ]

        # The server comes back on the same port by itself; Retry answers the same question.
        assert comes_back_within(victim, 60)
        assert victim.pid != killed
        # The tiny model samples its words and once in a long while (seen once in CI) ends an
        # answer before its first word: then the user presses Retry again, as here.
        for _ in range(3):
            answer = "".join(stream_reply(chain, store, store.reopen_last_turn(USER, SESSION)))
            if answer.strip():
                break
        assert answer.strip()
        assert stored(store) == [("human", question, COMPLETE), ("ai", answer, COMPLETE)]


def comes_back_within(server: LocalModelServer, seconds: float) -> bool:
    """True once the server answers again, polling for at most `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.running and server.healthy():
            return True
        time.sleep(0.2)
    return False


def test_a_question_too_long_for_the_local_window_is_explained_and_kept(
    engine: Engine, local_model: tuple[ModelChoice, ChatOpenAI]
) -> None:
    choice, model = local_model
    store = ChatStore(engine)
    chain = build_chain(model, store, context_tokens=choice.context_tokens)
    question = "Please summarise this. " + "word " * 4000
    # llama.cpp's server answers an overflowing streamed prompt with an empty 200 stream.
    with pytest.raises(ValueError, match="No generation chunks") as caught:
        list(stream_reply(chain, store, store.begin_turn(USER, SESSION, question)))
    assert explain_model_error(caught.value).user_message == (
        "The model returned no answer; the message may be too long for it."
    )
    assert stored(store) == [("human", question, COMPLETE)]


def test_a_second_server_runs_beside_the_first_on_its_own_port(
    local_model: tuple[ModelChoice, ChatOpenAI],
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="llm")
    first = running_server()
    with LocalModelServer(model_path=DEFAULT_LOCAL_MODEL_PATH) as second:
        assert second.port != first.port
        assert serves(first.url) == [first.model_alias]
        assert serves(second.url) == [second.model_alias]
        model = build_chat_model(
            dataclasses.replace(local_model[0], base_url=second.url),
            model_name=second.model_alias,
        )
        assert model.invoke("Say hi.").content
    assert not second.running
    assert first.running
    # The server writes to its log file, never to the app's console; the app logs its life.
    assert "Uvicorn" not in "".join(capfd.readouterr())
    assert f"local model server started: {DEFAULT_LOCAL_MODEL_PATH.name} on port {second.port}" in (
        caplog.text
    )
    assert f"local model server stopped: port {second.port}" in caplog.text


def test_a_port_taken_before_the_server_binds_it_is_skipped(
    local_model: tuple[ModelChoice, ChatOpenAI], monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = running_server().port
    # As if another app process had started its server on the port this one just probed.
    ports = iter([taken, llm.local_server.free_port()])
    monkeypatch.setattr(llm.local_server, "free_port", lambda: next(ports))
    with LocalModelServer(model_path=DEFAULT_LOCAL_MODEL_PATH) as server:
        assert server.port != taken
        assert serves(server.url) == [server.model_alias]


def test_port_and_api_key_in_the_app_environment_do_not_reach_the_server(
    local_model: tuple[ModelChoice, ChatOpenAI], monkeypatch: pytest.MonkeyPatch
) -> None:
    # llama_cpp.server reads PORT, HOST and API_KEY from the environment; scripts/start sets PORT.
    monkeypatch.setenv("PORT", str(running_server().port))
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("API_KEY", "would-lock-us-out")
    with LocalModelServer(model_path=DEFAULT_LOCAL_MODEL_PATH) as server:
        assert serves(server.url) == [server.model_alias]


def test_a_file_that_is_not_a_model_fails_to_start_with_the_server_log(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf file" * 100)
    with pytest.raises(ModelError) as caught:
        LocalModelServer(model_path=broken, log_path=tmp_path / "server.log").start()
    assert caught.value.kind == "startup"
    assert caught.value.user_message.startswith("The local model could not be started")
    assert "Failed to load model" in caught.value.detail


PARENT = """
import sys, time
from llm import LocalModelServer
server = LocalModelServer(model_path=sys.argv[1], log_path=sys.argv[2]).start()
print(server.pid, flush=True)
if sys.argv[3] == "wait":
    time.sleep(600)
"""


def start_parent(tmp_path: Path, ending: str) -> tuple[subprocess.Popen[str], int]:
    """An app-like process that starts a server; returns it and the server's pid."""
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            PARENT,
            str(DEFAULT_LOCAL_MODEL_PATH),
            str(tmp_path / "log"),
            ending,
        ],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    return parent, int(parent.stdout.readline())


def test_the_server_stops_when_its_app_process_exits(tmp_path: Path) -> None:
    parent, server_pid = start_parent(tmp_path, "exit")
    assert parent.wait(timeout=60) == 0
    assert exits_within(server_pid, 15)


def test_the_server_dies_when_its_app_process_is_killed(tmp_path: Path) -> None:
    parent, server_pid = start_parent(tmp_path, "wait")
    parent.kill()
    parent.wait()
    assert exits_within(server_pid, 15)
