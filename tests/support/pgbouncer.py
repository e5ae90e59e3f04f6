"""Debian's PgBouncer in transaction mode in front of a throwaway PostgreSQL cluster, on a free
loopback port: the production layout of the README ("PostgreSQL behind PgBouncer")."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from tests.support.postgres import APP_ROLE, PostgresCluster, free_port

PGBOUNCER_CANDIDATES = (Path("/usr/sbin/pgbouncer"), Path("/usr/bin/pgbouncer"))


def find_pgbouncer() -> Path:
    for candidate in PGBOUNCER_CANDIDATES:
        if candidate.exists():
            return candidate
    found = shutil.which("pgbouncer")
    if found:
        return Path(found)
    raise RuntimeError("PgBouncer not found: apt-get install -y pgbouncer")


class PgBouncer:
    """One pgbouncer process; `url(database)` is the app role's URL through it."""

    def __init__(self, cluster: PostgresCluster, *, pool_size: int = 20) -> None:
        self.cluster = cluster
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="chat-pgbouncer-"))
        self.pool_size = pool_size
        self.process: subprocess.Popen[bytes] | None = None

    def _write_config(self) -> Path:
        users = self.root / "users.txt"
        users.write_text(f'"{APP_ROLE}" ""\n"postgres" ""\n')
        config = self.root / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"* = host=127.0.0.1 port={self.cluster.port}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {users}\n"
            # Transaction mode: a server connection serves one transaction, then another
            # client's. Nothing set outside a transaction may be relied on.
            "pool_mode = transaction\n"
            f"default_pool_size = {self.pool_size}\n"
            "max_client_conn = 2000\n"
            "max_db_connections = 0\n"
            "server_reset_query =\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
            f"logfile = {self.root / 'pgbouncer.log'}\n"
        )
        return config

    def start(self) -> PgBouncer:
        config = self._write_config()
        command = [str(find_pgbouncer()), str(config)]
        if os.geteuid() == 0:
            # PgBouncer refuses to run as root.
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            for path in self.root.iterdir():
                os.chown(path, entry.pw_uid, entry.pw_gid)
            command = ["runuser", "-u", "postgres", "--", *command]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.root
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with psycopg.connect(
                    f"host=127.0.0.1 port={self.port} user={APP_ROLE} dbname=postgres",
                    connect_timeout=2,
                    prepare_threshold=None,
                ):
                    return self
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = self.root / "pgbouncer.log"
                    raise RuntimeError(
                        "PgBouncer did not start: "
                        + (log.read_text() if log.exists() else "no log")
                    ) from None
                time.sleep(0.1)

    def url(self, database: str) -> str:
        """The app role's URL of `database`, through PgBouncer (with DATABASE_POOLER=pgbouncer)."""
        return f"postgresql+psycopg://{APP_ROLE}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
            if self.process.poll() is None:
                self.process.kill()
        shutil.rmtree(self.root, ignore_errors=True)
