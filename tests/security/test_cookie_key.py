"""settings.auth_cookie_key: the key that signs sign-in cookies is never a published default,
never short, always configured where processes share a database, and otherwise generated once,
privately, into the data directory."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import settings
from settings import (
    COOKIE_KEY_FILE,
    KNOWN_DEFAULT_COOKIE_KEYS,
    MIN_COOKIE_KEY_CHARS,
    ConfigurationError,
    auth_cookie_key,
)

PROJECT_DIR = Path(__file__).resolve().parents[2]
PRINT_KEY = "import settings; print(settings.auth_cookie_key())"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private DATA_DIR, no secrets file, no AUTH_COOKIE_KEY and no DATABASE_URL."""
    for name in ("AUTH_COOKIE_KEY", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRETS_FILE", str(tmp_path / "no-secrets.toml"))
    directory = tmp_path / "data"
    monkeypatch.setenv("DATA_DIR", str(directory))
    settings.reload()
    yield directory
    settings.reload()


def key_in_new_process(data_dir: Path) -> subprocess.Popen:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("AUTH_COOKIE_KEY", "DATABASE_URL")
    }
    env.update(DATA_DIR=str(data_dir), SECRETS_FILE=str(data_dir / "no-secrets.toml"))
    return subprocess.Popen(
        [sys.executable, "-c", PRINT_KEY],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def output_of(process: subprocess.Popen) -> str:
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    return out.strip()


@pytest.mark.parametrize("key", sorted(KNOWN_DEFAULT_COOKIE_KEYS))
def test_every_published_default_key_is_refused(
    key: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTH_COOKIE_KEY", key)
    with pytest.raises(ConfigurationError, match="published default"):
        auth_cookie_key()


@pytest.mark.parametrize("key", [" Some_Signature_Key ", "SECRET", "\tchangeme\n"])
def test_a_published_default_in_other_case_or_padded_is_refused_too(
    key: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTH_COOKIE_KEY", key)
    with pytest.raises(ConfigurationError, match="published default"):
        auth_cookie_key()


def test_a_published_default_in_the_secrets_file_is_refused(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets_file = tmp_path / "secrets.toml"
    secrets_file.write_text('AUTH_COOKIE_KEY = "random_signature_key"\n')
    monkeypatch.setenv("SECRETS_FILE", str(secrets_file))
    settings.reload()
    with pytest.raises(ConfigurationError, match="published default"):
        auth_cookie_key()


def test_a_key_shorter_than_the_minimum_is_refused(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    short = secrets.token_urlsafe(48)[: MIN_COOKIE_KEY_CHARS - 1]
    monkeypatch.setenv("AUTH_COOKIE_KEY", short)
    with pytest.raises(ConfigurationError, match=f"{MIN_COOKIE_KEY_CHARS - 1} characters"):
        auth_cookie_key()


def test_a_random_key_of_the_minimum_length_is_used_as_given(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = secrets.token_urlsafe(48)[:MIN_COOKIE_KEY_CHARS]
    monkeypatch.setenv("AUTH_COOKIE_KEY", key)
    assert auth_cookie_key() == key
    assert not (data_dir / COOKIE_KEY_FILE).exists()


def test_no_key_with_a_shared_database_is_refused(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://chat@db.example/chat")
    with pytest.raises(ConfigurationError, match="AUTH_COOKIE_KEY is not set"):
        auth_cookie_key()
    # Generating a key of its own would sign cookies no other process accepts: none is made.
    assert not (data_dir / COOKIE_KEY_FILE).exists()


def test_the_embedded_default_generates_one_private_key_and_keeps_it(data_dir: Path) -> None:
    key = auth_cookie_key()
    path = data_dir / COOKIE_KEY_FILE
    assert path.read_text().strip() == key
    assert len(key) >= MIN_COOKIE_KEY_CHARS
    assert key.strip().lower() not in KNOWN_DEFAULT_COOKIE_KEYS
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert auth_cookie_key() == key
    # No draft file is left beside it.
    assert sorted(entry.name for entry in data_dir.iterdir()) == [COOKIE_KEY_FILE]


def test_another_process_on_the_same_data_directory_reuses_the_key(data_dir: Path) -> None:
    key = auth_cookie_key()
    assert output_of(key_in_new_process(data_dir)) == key


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "shared-data"
    processes = [key_in_new_process(data_dir) for _ in range(4)]
    keys = {output_of(process) for process in processes}
    assert keys == {(data_dir / COOKIE_KEY_FILE).read_text().strip()}
    assert stat.S_IMODE((data_dir / COOKIE_KEY_FILE).stat().st_mode) == 0o600


def test_each_data_directory_gets_its_own_random_key(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = auth_cookie_key()
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "other-data"))
    assert auth_cookie_key() != first


@pytest.mark.parametrize("content", ["", "\n", "too-short", "x" * (MIN_COOKIE_KEY_CHARS - 1)])
def test_a_damaged_key_file_is_refused_not_replaced(data_dir: Path, content: str) -> None:
    data_dir.mkdir(parents=True)
    path = data_dir / COOKIE_KEY_FILE
    path.write_text(content)
    with pytest.raises(ConfigurationError, match="damaged"):
        auth_cookie_key()
    # Replacing it silently would sign everyone out; the operator decides.
    assert path.read_text() == content
