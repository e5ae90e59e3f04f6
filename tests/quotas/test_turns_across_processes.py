"""Two app processes on one PostgreSQL database, 50 questions at once, a limit of 10: exactly
10 are answered. Each process (tests/quotas/turns_worker.py) runs 25 of the chat page's turns
on 25 threads at the same moment as the other; a refused question is neither stored nor sent to
the model."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sqlalchemy import func, select

import accounts
from database.engine import dispose_engine
from memory import open_store
from memory.models import ChatMessage
from quotas import Limits, QuotaExceeded, admit_question, set_default_limits, todays_use
from tests.browser.conftest import PROJECT_DIR
from tests.support.databases import whole_database
from tests.support.postgres import PostgresCluster

QUESTIONS_PER_PROCESS = 25
LIMIT = 10


def test_fifty_questions_from_two_processes_with_a_limit_of_ten_get_ten_answers(
    postgres_cluster: PostgresCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSWORD_HASH_ROUNDS", "4")
    postgres_url = postgres_cluster.create_app_database()
    store = open_store(postgres_url)
    ada = accounts.create_account(store.engine, username="ada", password="correct horse b")
    set_default_limits(store.engine, Limits(messages_per_day=LIMIT))
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.quotas.turns_worker",
                postgres_url,
                ada.id,
                str(index * QUESTIONS_PER_PROCESS),
                str(QUESTIONS_PER_PROCESS),
            ],
            cwd=PROJECT_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for index in range(2)
    ]
    try:
        for worker in workers:
            assert worker.stdout.readline().strip() == "ready"
        for worker in workers:  # both ask at once
            worker.stdin.write("go\n")
            worker.stdin.flush()
        reports = [json.loads(worker.communicate(timeout=180)[0]) for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    assert [worker.returncode for worker in workers] == [0, 0]

    assert [report["unexpected"] for report in reports] == [[], []]
    assert sum(report["answered"] for report in reports) == LIMIT
    # The model was called for the admitted questions only, and only they were stored.
    assert sum(report["model_calls"] for report in reports) == LIMIT
    with whole_database(store.engine).connect() as conn:
        by_role = dict(
            conn.execute(select(ChatMessage.role, func.count()).group_by(ChatMessage.role)).all()
        )
    assert by_role == {"human": LIMIT, "ai": LIMIT}
    status = todays_use(store.engine, [ada.id])[ada.id]
    assert status.messages_used == LIMIT and status.tokens_used > 0
    with pytest.raises(QuotaExceeded):
        admit_question(store.engine, ada.id, tokens=1)
    dispose_engine(postgres_url)
