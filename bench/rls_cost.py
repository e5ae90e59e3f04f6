"""Benchmark: what PostgreSQL's row-level security (migration 0013) costs on history load,
sidebar list and one chain turn.

One throwaway cluster and database, filled as bench/memory_bench.py fills it (sessions of 20
messages, 50 per user). The same operations are timed through the app's own role, which row
security holds, and through the owner (a superuser, which row security skips: the app before
this issue, except that each transaction still names its user). Printed: medians and the ratio.

    .venv/bin/python -m bench.rls_cost                    # 200k messages
    .venv/bin/python -m bench.rls_cost --size 20000       # quick
"""

from __future__ import annotations

import argparse
import os
import random
import time

from sqlalchemy import text

from bench.memory_bench import MESSAGES_PER_SESSION, anchor_table, fill, measure
from database import get_engine
from database.row_security import act_for
from tests.support.postgres import APP_ROLE, PostgresCluster


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
        results = {
            "row security (app role)": measure(get_engine(app_url), sessions, random.Random(7)),
            "no row security (owner)": measure(owner, sessions, random.Random(7)),
        }
        print(f"PostgreSQL, {args.size:,} messages; median ms of this store")
        print(f"{'operation':<34} {'with RLS':>9} {'without':>9} {'cost':>7}")
        with_rls, without = results.values()
        for operation in with_rls:
            on, off = with_rls[operation][0], without[operation][0]
            print(f"{operation:<34} {on:>9.3f} {off:>9.3f} {(on / off - 1) * 100:>6.1f}%")
        print(f"naming the user (set_config), alone: {set_config_ms(app_url):.3f} ms")
        with get_engine(app_url).connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM chat_messages")) == 0
    finally:
        cluster.destroy()


if __name__ == "__main__":
    main()
