"""The data directory holds every user's chats: it and everything the app creates in it (the
SQLite database with its -wal and -shm files, the generated key, the model server's log) can
be read by the app's own account only, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

import settings
from database import get_engine, migrate
from database.engine import dispose_engine


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """The usual umask (022): files would be world-readable unless created private."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "nested" / "data"
    monkeypatch.setenv("DATA_DIR", str(path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("AUTH_COOKIE_KEY", raising=False)
    monkeypatch.setenv("SECRETS_FILE", str(tmp_path / "no-secrets.toml"))
    settings.reload()
    return path


def test_the_data_directory_is_made_private(permissive_umask: None, data_dir: Path) -> None:
    assert settings.data_dir() == data_dir
    assert mode(data_dir) == 0o700


def test_the_database_and_its_wal_and_shm_files_are_private(
    permissive_umask: None, data_dir: Path
) -> None:
    url = settings.database_url()
    engine = get_engine(url)
    try:
        migrate(engine)
        with engine.connect() as conn:  # WAL mode keeps -wal and -shm while a connection is open
            conn.exec_driver_sql("SELECT 1")
            files = sorted(data_dir.glob("chat.db*"))
            assert [f.name for f in files] == ["chat.db", "chat.db-shm", "chat.db-wal"]
            assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    finally:
        dispose_engine(url)
    assert mode(data_dir) == 0o700


def test_the_generated_key_is_private(permissive_umask: None, data_dir: Path) -> None:
    settings.auth_cookie_key()
    assert mode(data_dir / settings.COOKIE_KEY_FILE) == 0o600


def test_an_existing_directory_keeps_the_mode_its_operator_gave_it(
    permissive_umask: None, data_dir: Path
) -> None:
    """Made by the operator on purpose (a shared group, say): not changed behind their back."""
    data_dir.mkdir(parents=True, mode=0o750)
    data_dir.chmod(0o750)
    settings.data_dir()
    assert mode(data_dir) == 0o750
