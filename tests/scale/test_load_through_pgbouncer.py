"""Scale-out as the README lays it out: three app processes on one PostgreSQL database
through PgBouncer in transaction mode, each as the app's own role held by row security.
bench/load.py's load, 50 users x 20 turns through the real chain and store (an instant model),
split over the three processes at once: every message is stored once, in its own user's chat,
each answer right after its question."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy.engine import make_url

from bench.load import audit_sessions
from database.engine import dispose_engine
from tests.browser.conftest import PROJECT_DIR
from tests.support.pgbouncer import PgBouncer
from tests.support.postgres import PostgresCluster

USERS = 50
TURNS = 20
PROCESSES = 3


def test_three_processes_through_pgbouncer_lose_misplace_and_duplicate_nothing(
    postgres_cluster: PostgresCluster, pgbouncer: PgBouncer, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = make_url(postgres_cluster.create_app_database()).database or ""
    url = pgbouncer.url(database)
    environment = {**os.environ, "DATABASE_POOLER": "pgbouncer"}
    shares = [USERS // PROCESSES + (1 if index < USERS % PROCESSES else 0) for index in range(3)]
    firsts = [sum(shares[:index]) for index in range(PROCESSES)]
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.scale.load_worker",
                url,
                *map(str, (first, share, TURNS)),
            ],
            cwd=PROJECT_DIR,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for first, share in zip(firsts, shares, strict=True)
    ]
    try:
        for worker in workers:
            assert worker.stdout.readline().strip() == "ready"
        for worker in workers:  # all three at once
            worker.stdin.write("go\n")
            worker.stdin.flush()
        reports = [json.loads(worker.communicate(timeout=600)[0]) for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    assert [worker.returncode for worker in workers] == [0] * PROCESSES
    assert [report["errors"] for report in reports] == [[]] * PROCESSES
    assert sum(report["turns"] for report in reports) == USERS * TURNS

    monkeypatch.setenv("DATABASE_POOLER", "pgbouncer")
    try:
        assert audit_sessions(url, USERS, TURNS) == {"lost": 0, "misplaced": 0, "duplicated": 0}
    finally:
        dispose_engine(url)
