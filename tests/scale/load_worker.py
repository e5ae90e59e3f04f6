"""One app process's share of the load test through PgBouncer, run as
`python -m tests.scale.load_worker URL FIRST USERS TURNS`: it prints "ready", waits for a line
on stdin (so that every process starts at once), runs bench/load.py's simulated users FIRST ..
FIRST+USERS-1 through the real chain and store, and prints one JSON line: turns answered and
the errors."""

from __future__ import annotations

import json
import sys

from bench.load import chat_as_users


def main(url: str, first: int, users: int, turns: int) -> None:
    print("ready", flush=True)
    sys.stdin.readline()
    latencies, errors, _wall = chat_as_users(url, first, users, turns)
    print(json.dumps({"turns": len(latencies), "errors": errors[:5]}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
