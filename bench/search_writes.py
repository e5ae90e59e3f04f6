"""Benchmark: what keeping the search index exact costs the writes that touch it.

One user with 20 chats of 2,000 messages (12 words each from a 3,000-word vocabulary), then:
  turn      a question of 15 words and an answer of 30 (begin_turn + finish_turn), median of 100
  retry     a Retry's new answer of 30 words stored beside the old one (reopen_last_turn +
            finish_turn: since migration 0009 nothing is deleted), median of 20
  chat      deleting a 2,000-message chat, median of 3
  erase     erasing the user's other messages (delete_user_content)
These are the store's own calls, with no model and no page. Run it on a tree before and after
a change to the index to see what the change costs.

    .venv/bin/python -m bench.search_writes                 # SQLite and a throwaway PostgreSQL
    .venv/bin/python -m bench.search_writes --engines sqlite
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from bench.databases import bench_database
from database import get_engine
from database.engine import dispose_engine
from memory import open_store
from memory.erasure import delete_user_content

CHATS, MESSAGES_PER_CHAT, APPEND_BATCH = 20, 2_000, 500
USER = "writer"


def elapsed_ms(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def run(url: str, label: str) -> None:
    store = open_store(url)
    rng = random.Random(3)
    words = [f"w{number}" for number in range(3_000)]

    def content(count: int = 12) -> str:
        return " ".join(rng.choice(words) for _ in range(count))

    for chat in range(CHATS):
        for _ in range(0, MESSAGES_PER_CHAT, APPEND_BATCH):
            batch = [("human" if n % 2 == 0 else "ai", content()) for n in range(APPEND_BATCH)]
            store.append_messages(USER, f"chat{chat}", batch)
    # A database in use has its statistics (autovacuum analyses PostgreSQL's tables): without
    # them PostgreSQL plans the index's searches blind.
    with get_engine(url).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
    newest = f"chat{CHATS - 1}"

    def turn() -> None:
        store.finish_turn(store.begin_turn(USER, newest, content(15)), content(30))

    turns = [elapsed_ms(turn) for _ in range(100)]
    retries = []
    for _ in range(20):
        retries.append(
            elapsed_ms(lambda: store.finish_turn(store.reopen_last_turn(USER, newest), content(30)))
        )
        turn()
    chats = [elapsed_ms(lambda n=n: store.delete_session(USER, f"chat{n}")) for n in range(3)]
    erased = []
    erase = elapsed_ms(lambda: erased.append(delete_user_content(store, user_id=USER)))
    print(
        f"  {label:<10} turn {statistics.median(turns):6.2f} ms   "
        f"retry {statistics.median(retries):6.2f} ms   "
        f"delete a {MESSAGES_PER_CHAT:,}-message chat {statistics.median(chats):5.0f} ms   "
        f"erase {erased[0].messages:,} messages {erase:6.0f} ms"
    )
    dispose_engine(url)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engines", default="sqlite,postgresql")
    args = parser.parse_args()
    for engine in args.engines.split(","):
        with bench_database(engine, "writes.db") as url:
            run(url, engine)


if __name__ == "__main__":
    main()
