"""One import file is capped in bytes, in messages, and in messages per chat; a file over a cap
is refused with a sentence that says which, and nothing is stored."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import Engine

from memory import ChatStore, InvalidContent
from memory.errors import ImportTooLarge
from memory.export import (
    check_import_size,
    export_user_json,
    import_limits,
    import_user_json,
    read_export_file,
)


@pytest.fixture
def store(engine: Engine) -> ChatStore:
    return ChatStore(engine, max_messages_per_chat=10)


def export_of(store: ChatStore, chats: int, turns: int) -> dict:
    for chat in range(chats):
        pairs = []
        for turn in range(turns):
            pairs += [("human", f"q{chat}.{turn}"), ("ai", f"a{chat}.{turn}")]
        store.append_messages("ann", f"chat{chat}", pairs)
    return export_user_json(store, user_id="ann")


class Unread(io.BytesIO):
    """A file that records how much of it was read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


def test_a_file_over_the_byte_cap_is_refused_before_it_is_parsed() -> None:
    huge = Unread(b'{"sessions": [' + b" " * 5_000 + b"]}")

    with pytest.raises(ImportTooLarge, match="larger than"):
        read_export_file(huge, max_bytes=1_000)

    assert huge.bytes_read == 1_001  # one byte past the cap, never the rest


def test_a_file_within_the_cap_is_parsed_and_a_broken_one_is_a_clear_error() -> None:
    assert read_export_file(io.BytesIO(b'{"sessions": []}'), max_bytes=100) == {"sessions": []}
    with pytest.raises(InvalidContent, match="not valid JSON"):
        read_export_file(io.BytesIO(b'{"sessions": ['), max_bytes=100)
    with pytest.raises(InvalidContent, match="not UTF-8"):
        read_export_file(io.BytesIO(b"\xff\xfe{}"), max_bytes=100)


def test_a_chat_longer_than_a_chat_may_be_is_refused_and_nothing_is_stored(
    store: ChatStore, engine: Engine
) -> None:
    data = export_of(ChatStore(engine, max_messages_per_chat=100), chats=1, turns=6)

    with pytest.raises(ImportTooLarge, match="chat 1 of the file holds 12 messages"):
        import_user_json(store, user_id="bob", data=data)

    assert store.list_sessions("bob") == []


def test_a_file_with_more_messages_than_one_import_may_hold_is_refused(
    store: ChatStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = export_of(store, chats=3, turns=2)  # 12 messages in chats of 4
    monkeypatch.setenv("MAX_IMPORT_MESSAGES", "10")

    with pytest.raises(ImportTooLarge, match="more than 10 messages"):
        import_user_json(store, user_id="bob", data=data)
    assert store.list_sessions("bob") == []

    monkeypatch.setenv("MAX_IMPORT_MESSAGES", "12")
    assert import_user_json(store, user_id="bob", data=data) == 3


def test_the_caps_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_IMPORT_MB", "3")
    monkeypatch.setenv("MAX_IMPORT_MESSAGES", "7")

    limits = import_limits()

    assert (limits.max_bytes, limits.max_messages) == (3 * 1024 * 1024, 7)
    payload = json.dumps({"sessions": [{"messages": [{}] * 8}]})
    with pytest.raises(ImportTooLarge):
        check_import_size(json.loads(payload), max_messages_per_chat=100)
