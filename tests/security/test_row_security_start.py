"""A real app process (`streamlit run server.py`) on PostgreSQL refuses to start as a role that
row security would not hold, and says why; as the app's own role it starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.browser.conftest import PROJECT_DIR, app_env, free_port, start_app
from tests.support.postgres import PostgresCluster


def _server(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "streamlit", "run", "server.py"),
            *("--server.port", str(free_port()), "--server.address", "127.0.0.1"),
            *("--server.headless", "true"),
        ],
        cwd=PROJECT_DIR,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def test_an_app_process_connected_as_a_superuser_stops_with_the_reason(
    postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    superuser_url = postgres_cluster.create_database()
    env = app_env(
        tmp_path / "data",
        DATABASE_URL=superuser_url,
        AUTH_COOKIE_KEY="k" * 48,
        OPENAI_API_KEY="test-key",
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",
    )
    log = tmp_path / "app.log"
    process = _server(env, log)
    try:
        status = process.wait(timeout=90)
    finally:
        process.kill()
    assert status != 0
    text = log.read_text()
    assert "The app will not start: its PostgreSQL role could read every user's chats" in text
    assert "role postgres is a superuser" in text


def test_the_same_process_as_the_apps_own_role_starts(
    postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    app_url = postgres_cluster.create_app_database()
    assert make_url(app_url).username == "chat_app"
    env = app_env(
        tmp_path / "data",
        DATABASE_URL=app_url,
        AUTH_COOKIE_KEY="k" * 48,
        OPENAI_API_KEY="test-key",
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",
    )
    running = start_app(env, tmp_path / "app.log")
    try:
        assert running.process.poll() is None
    finally:
        running.process.kill()
        running.process.wait(timeout=30)
