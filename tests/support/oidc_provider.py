"""A real OpenID provider (node's certified `oidc-provider`, see tests/support/oidc/) on a loopback port.

    with start_oidc_provider(client_id="chat", client_secret="s3cret",
                             redirect_uri="http://127.0.0.1:8501/") as idp:
        idp.issuer        # "http://127.0.0.1:<port>"
        idp.metadata_url  # "<issuer>/.well-known/openid-configuration"

Login happens on the provider's built-in development pages: any login name, any password.
`mode` selects a misbehaviour for refusal tests (see MODES). Needs `node` (>= 20) and `npm` on
PATH; `npm ci` runs in tests/support/oidc the first time (its node_modules/ is not committed).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import requests

OIDC_DIR = Path(__file__).resolve().parent / "oidc"

MODES = {
    "normal": "a well-behaved provider",
    "bad-signature": "ID tokens signed with a key other than the one the JWKS publishes (same kid)",
    "expired": "provider clock runs `skew_seconds` behind, ID tokens live 60 s: they arrive expired",
    "not-yet-valid": "provider clock runs `skew_seconds` ahead: iat and auth_time lie in the future",
    "wrong-issuer": "tokens say iss=<issuer>/wrong-issuer while discovery advertises <issuer>",
    "wrong-metadata-issuer": "discovery and tokens say http://localhost:<port>, not <issuer>",
}

_install_lock = threading.Lock()


class OidcProviderError(RuntimeError):
    pass


@dataclass
class OidcProvider:
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    mode: str
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def port(self) -> int:
        return int(self.issuer.rsplit(":", 1)[1])

    @staticmethod
    def sub_for(login: str) -> str:
        """The `sub` claim the provider issues for a login name typed in its login form."""
        return hashlib.sha256(f"chat-tests:{login}".encode()).hexdigest()[:32]

    @staticmethod
    def email_for(login: str) -> str:
        return login if "@" in login else f"{login}@example.test"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        _terminate(self.process)


def ensure_node_modules() -> None:
    """`npm ci` in tests/support/oidc unless oidc-provider is already installed there."""
    with _install_lock:
        if (OIDC_DIR / "node_modules" / "oidc-provider" / "package.json").exists():
            return
        npm = shutil.which("npm")
        if npm is None:
            raise OidcProviderError(
                "npm not found: node >= 20 and npm are needed for the OIDC tests"
            )
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=OIDC_DIR,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            raise OidcProviderError(f"npm ci failed in {OIDC_DIR}:\n{done.stdout}\n{done.stderr}")


@contextlib.contextmanager
def start_oidc_provider(
    *,
    client_id: str,
    client_secret: str,
    redirect_uri: str | list[str],
    mode: str = "normal",
    port: int = 0,
    skew_seconds: int = 600,
    client_metadata: dict[str, object] | None = None,
    startup_timeout: float = 30.0,
) -> Iterator[OidcProvider]:
    """Run `node provider.mjs` until the block exits.

    port=0 (the default) lets the node process bind a free port itself, so there is no race
    between choosing and binding. `client_metadata` is merged into the registered client
    (e.g. {"token_endpoint_auth_method": "client_secret_post"}). The client's subjects are
    pairwise (sub = OidcProvider.sub_for(login)), which needs all redirect URIs on one host;
    {"subject_type": "public"} lifts that and makes sub the login name itself.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
    node = shutil.which("node")
    if node is None:
        raise OidcProviderError("node not found: node >= 20 is needed for the OIDC tests")
    ensure_node_modules()

    redirect_uris = [redirect_uri] if isinstance(redirect_uri, str) else list(redirect_uri)
    client = {
        "client_id": client_id,
        "client_secret": client_secret,
        "redirect_uris": redirect_uris,
        **(client_metadata or {}),
    }
    env = {
        **os.environ,
        "OIDC_CLIENT": json.dumps(client),
        "OIDC_MODE": mode,
        "OIDC_PORT": str(port),
        "OIDC_SKEW_SECONDS": str(skew_seconds),
        "NODE_ENV": "test",
    }
    log_fd, log_name = tempfile.mkstemp(prefix="oidc-provider-", suffix=".log")
    log_path = Path(log_name)
    # stdout and stderr both go to a file: no pipe to drain, and the log survives for debugging
    with os.fdopen(log_fd, "wb") as log_file:
        process = subprocess.Popen(
            [node, "provider.mjs"],
            cwd=OIDC_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        issuer = _wait_for_ready(process, log_path, startup_timeout)
        provider = OidcProvider(
            issuer=issuer,
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri=redirect_uris[0],
            mode=mode,
            log_path=log_path,
            process=process,
        )
        yield provider
    finally:
        _terminate(process)
        if os.environ.get("KEEP_OIDC_LOG") is None:
            log_path.unlink(missing_ok=True)


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait_for_ready(process: subprocess.Popen[bytes], log_path: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log_path.read_text(errors="replace").splitlines():
            if line.startswith("ready "):
                return line.split(" ", 1)[1].strip()
        if process.poll() is not None:
            raise OidcProviderError(
                f"oidc provider exited with {process.returncode}:\n{log_path.read_text(errors='replace')}"
            )
        time.sleep(0.05)
    raise OidcProviderError(
        f"oidc provider not ready in {timeout}s:\n{log_path.read_text(errors='replace')}"
    )


def log_in_at_provider(authorization_url: str, login: str, *, redirect_uri: str) -> str:
    """Sign `login` in at the provider's development pages without a browser (the login form,
    then the consent form), and return the URL the provider sends the browser back to (the
    relying party's callback, which is not fetched)."""
    forms = {"login": {"prompt": "login", "login": login, "password": "any"}}
    forms["consent"] = {"prompt": "consent"}
    with requests.Session() as session:
        url = authorization_url
        for _ in range(20):
            if url.startswith(redirect_uri):
                return url
            response = session.get(url, allow_redirects=False, timeout=10)
            if response.is_redirect:
                url = urljoin(url, response.headers["location"])
                continue
            prompt = re.search(r'name="prompt" value="(\w+)"', response.text)
            action = re.search(r'<form[^>]*action="([^"]+)"', response.text)
            if prompt is None or action is None or prompt.group(1) not in forms:
                raise OidcProviderError(
                    f"unexpected provider page at {url}:\n{response.text[:500]}"
                )
            response = session.post(
                urljoin(url, action.group(1)),
                data=forms[prompt.group(1)],
                allow_redirects=False,
                timeout=10,
            )
            url = urljoin(url, response.headers["location"])
    raise OidcProviderError("the provider never sent the browser back")
