"""Benchmark: creating accounts in bulk (accounts/bulk_import.py), as `python -m manage
import-users` does: reading and checking the CSV, hashing each temporary password, and the one
transaction that inserts the accounts and their audit events. On SQLite and PostgreSQL, beside
what the same rows would cost through `create_account` one by one at the default bcrypt cost
(measured on --sample accounts and scaled, since 10,000 of them would take most of an hour).

    .venv/bin/python -m bench.bulk_import --rows 10000
"""

from __future__ import annotations

import argparse
import os
import time

from accounts import create_account
from accounts.bulk_import import import_accounts, read_accounts_csv
from accounts.passwords import DEFAULT_HASH_ROUNDS
from bench.databases import bench_database
from database import get_engine, migrate
from database.engine import dispose_engine


def class_csv(rows: int) -> str:
    return "username,display_name,role,email\n" + "".join(
        f"pupil{number:05d},Pupil {number},user,pupil{number}@school.example\n"
        for number in range(rows)
    )


def timed_import(url: str, text: str) -> tuple[float, float, int]:
    """Seconds to read the file, seconds to create its accounts, and how many were created."""
    engine = get_engine(url)
    migrate(engine)
    create_account(engine, username="root", password="the admin's password")
    started = time.perf_counter()
    rows = read_accounts_csv(text, engine=engine)
    read = time.perf_counter() - started
    started = time.perf_counter()
    created = import_accounts(engine, rows, actor_id=None)
    seconds = time.perf_counter() - started
    dispose_engine(url)
    return read, seconds, len(created)


def one_by_one(url: str, sample: int) -> float:
    """Seconds per account through create_account at the default cost."""
    os.environ["PASSWORD_HASH_ROUNDS"] = str(DEFAULT_HASH_ROUNDS)
    engine = get_engine(url)
    migrate(engine)
    started = time.perf_counter()
    for number in range(sample):
        create_account(
            engine, username=f"single{number}", password="a chosen password", via_signup=False
        )
    dispose_engine(url)
    return (time.perf_counter() - started) / sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=10, help="accounts made one by one")
    parser.add_argument("--engines", default="sqlite,postgresql")
    args = parser.parse_args()
    text = class_csv(args.rows)
    print(
        f"| engine | rows | read + check | create (hash + insert + audit) | total | "
        f"one by one at cost {DEFAULT_HASH_ROUNDS} (scaled) |"
    )
    print("|---|---|---|---|---|---|")
    for engine in args.engines.split(","):
        with bench_database(engine, "bulk.db") as url:
            read, seconds, created = timed_import(url, text)
        with bench_database(engine, "single.db") as url:
            single = one_by_one(url, args.sample)
        print(
            f"| {engine} | {created:,} | {read:.2f} s | {seconds:.2f} s | {read + seconds:.2f} s"
            f" | {single * args.rows / 60:,.0f} min |"
        )


if __name__ == "__main__":
    main()
