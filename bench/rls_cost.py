"""Benchmark: what PostgreSQL's row-level security (migration 0013) costs on history load,
sidebar list and one chain turn.

One throwaway cluster and database, filled as bench/memory_bench.py fills it (sessions of 20
messages, 50 per user). The same operations are timed through the app's own role, which row
security holds, and through the owner (a superuser, which row security skips: the app before
this issue, except that each transaction still names its user). The two take turns sample by
sample (app, owner, owner, app, ...) on the same random chats, so whatever else runs on the
machine falls on both columns alike; timing one role after the other swung a ratio by ±50%
between two runs on a shared 2-core machine. Printed: medians and the ratio.

    .venv/bin/python -m bench.rls_cost                    # 200k messages
    .venv/bin/python -m bench.rls_cost --size 20000       # quick
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from sqlalchemy import text

from bench.memory_bench import MESSAGES_PER_SESSION, SESSIONS_PER_USER, anchor_table, fill
from database import get_engine
from database.row_security import act_for
from memory import build_chain, open_store
from tests.support.postgres import APP_ROLE, PostgresCluster

SAMPLES = 400
TURN_SAMPLES = 100


def set_config_ms(url: str, samples: int = 2000) -> float:
    """The median cost of naming the user in a transaction: one extra round trip."""
    engine = get_engine(url)
    times = []
    with engine.connect() as conn:
        for _ in range(samples):
            started = time.perf_counter()
            act_for(conn, "user1")
            times.append(time.perf_counter() - started)
            conn.rollback()
    times.sort()
    return times[len(times) // 2] * 1000


def measure_in_turn(
    urls: dict[str, str], total_sessions: int, rng: random.Random
) -> dict[str, dict[str, float]]:
    """{operation: {label: median ms}} for each store, the stores alternating sample by
    sample (ABBA, so neither always goes first) on the same chats."""
    stores = {label: open_store(url) for label, url in urls.items()}
    chains = {
        label: build_chain(FakeListChatModel(responses=["ok"] * 10_000), store)
        for label, store in stores.items()
    }
    users = total_sessions // SESSIONS_PER_USER
    scratch = iter(range(10**9))

    def history(label: str, number: int) -> None:
        user, session = f"user{number // SESSIONS_PER_USER}", f"session{number}"
        assert len(stores[label].get_history(user, session).messages) >= MESSAGES_PER_SESSION

    def listing(label: str, number: int) -> None:
        sessions = stores[label].list_sessions(f"user{number % users}", 50)
        assert len(sessions) == SESSIONS_PER_USER

    def turn(label: str, _number: int) -> None:
        chains[label].invoke(
            {"ability": "Java", "input": "What is jvm?"},
            config={"configurable": {"user_id": "bench", "session_id": f"t{next(scratch)}"}},
        )

    operations: dict[str, tuple[Callable[[str, int], None], int]] = {
        "load one session's history": (history, SAMPLES),
        "list a user's 50 newest sessions": (listing, SAMPLES),
        "one chain turn (instant model)": (turn, TURN_SAMPLES),
    }
    medians: dict[str, dict[str, float]] = {}
    labels = list(urls)
    for operation, (action, samples) in operations.items():
        timings: dict[str, list[float]] = {label: [] for label in labels}
        for sample in range(samples):
            number = rng.randrange(total_sessions)
            for label in labels if sample % 2 == 0 else reversed(labels):
                started = time.perf_counter()
                action(label, number)
                timings[label].append((time.perf_counter() - started) * 1000)
        medians[operation] = {label: statistics.median(timings[label]) for label in labels}
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=200_000, help="messages in the database")
    args = parser.parse_args()
    cluster = PostgresCluster().start()
    try:
        app_url = cluster.create_app_database()
        owner_url = app_url.replace(f"{APP_ROLE}@", "postgres@", 1)
        owner = get_engine(owner_url)
        anchor_table(owner)
        sessions = args.size // MESSAGES_PER_SESSION
        fill(owner, 0, sessions)
        with owner.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
        # The owner is a superuser: the app would refuse it, the benchmark says it on purpose.
        os.environ["DATABASE_ALLOW_RLS_BYPASS"] = "1"
        results = measure_in_turn({"app": app_url, "owner": owner_url}, sessions, random.Random(7))
        print(f"PostgreSQL, {args.size:,} messages; median ms of this store")
        print(f"{'operation':<34} {'with RLS':>9} {'without':>9} {'cost':>7}")
        for operation, medians in results.items():
            on, off = medians["app"], medians["owner"]
            print(f"{operation:<34} {on:>9.3f} {off:>9.3f} {(on / off - 1) * 100:>6.1f}%")
        print(f"naming the user (set_config), alone: {set_config_ms(app_url):.3f} ms")
        with get_engine(app_url).connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM chat_messages")) == 0
    finally:
        cluster.destroy()


if __name__ == "__main__":
    main()
