"""Load: many simulated users chatting at once through the real chain, then an exact audit.

Each simulated user is a thread with its own user id and session, sending numbered questions
through `build_chain` (RunnableWithMessageHistory over the real store) with an instant model
that echoes the question. Afterwards every session is read back and checked: every question
and answer present (0 lost), in its own user's session and right after its question
(0 misplaced), exactly once (0 duplicated). Prints throughput and turn latency percentiles.

    .venv/bin/python -m bench.load                      # SQLite file and a throwaway PostgreSQL
    .venv/bin/python -m bench.load --users 50 --turns 20 --engines sqlite
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from bench.databases import bench_database
from memory import build_chain, open_store

warnings.filterwarnings("ignore")


class EchoChatModel(BaseChatModel):
    """Answers instantly with the question it was asked, so answers can be matched."""

    @property
    def _llm_type(self) -> str:
        return "echo"

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        return ChatResult(
            generations=[ChatGeneration(message=AIMessage(content=f"re: {messages[-1].content}"))]
        )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def chat_as_users(
    url: str, first: int, users: int, turns: int
) -> tuple[list[float], list[str], float]:
    """Users first .. first+users-1 chat `turns` turns each at once, one thread per user;
    returns the turn latencies, the errors and the wall time."""
    store = open_store(url)
    chain = build_chain(EchoChatModel(), store)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start_line = threading.Barrier(users)

    def simulated_user(number: int) -> None:
        user, session = f"load-user-{number}", "chat"
        start_line.wait()
        for turn in range(turns):
            started = time.perf_counter()
            try:
                chain.invoke(
                    {"ability": "testing", "input": f"{user} question {turn}"},
                    config={"configurable": {"user_id": user, "session_id": session}},
                )
            except Exception as error:  # counted and reported, never hidden
                with lock:
                    errors.append(f"{user} turn {turn}: {error!r}")
                continue
            with lock:
                latencies.append(time.perf_counter() - started)

    threads = [
        threading.Thread(target=simulated_user, args=(n,)) for n in range(first, first + users)
    ]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors, time.perf_counter() - began


def audit_sessions(url: str, users: int, turns: int) -> dict[str, int]:
    """Read every simulated user's session back: lost, misplaced and duplicated messages."""
    store = open_store(url)
    lost = misplaced = duplicated = 0
    for number in range(users):
        user = f"load-user-{number}"
        rows = store.load_messages(user, "chat")
        expected = set(_expected_messages(user, turns))
        got = [(row.role, row.content) for row in rows]
        lost += len(expected - set(got))
        duplicated += len(got) - len(set(got))
        # Misplaced: a message that is not this user's, or an answer not right after its question.
        misplaced += sum(1 for item in got if item not in expected)
        misplaced += sum(
            1
            for index, (role, content) in enumerate(got)
            if role == "ai" and (index == 0 or got[index - 1] != ("human", content[len("re: ") :]))
        )
    return {"lost": lost, "misplaced": misplaced, "duplicated": duplicated}


def run(url: str, users: int, turns: int) -> dict[str, float]:
    latencies, errors, wall = chat_as_users(url, 0, users, turns)
    return {
        "turns": len(latencies),
        "errors": len(errors),
        **audit_sessions(url, users, turns),
        "turns_per_s": len(latencies) / wall,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else 0.0,
        "p95_ms": percentile(latencies, 0.95) * 1000 if latencies else 0.0,
        "p99_ms": percentile(latencies, 0.99) * 1000 if latencies else 0.0,
        "first_error": errors[0] if errors else "",
    }


def _expected_messages(user: str, turns: int) -> Iterator[tuple[str, str]]:
    for turn in range(turns):
        question = f"{user} question {turn}"
        yield ("human", question)
        yield ("ai", f"re: {question}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--engines", default="sqlite,postgresql")
    args = parser.parse_args()
    print(f"{args.users} users x {args.turns} turns, instant model, one app process")
    print(
        f"{'engine':<11}{'turns':>6}{'errors':>7}{'lost':>6}{'misplaced':>10}{'dup':>5}"
        f"{'turns/s':>9}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}"
    )
    for engine in args.engines.split(","):
        with bench_database(engine, "load.db") as url:
            result = run(url, args.users, args.turns)
        print(
            f"{engine:<11}{result['turns']:>6}{result['errors']:>7}{result['lost']:>6}"
            f"{result['misplaced']:>10}{result['duplicated']:>5}{result['turns_per_s']:>9.0f}"
            f"{result['p50_ms']:>8.1f}{result['p95_ms']:>8.1f}{result['p99_ms']:>8.1f}"
        )
        if result["first_error"]:
            print("  first error:", result["first_error"])


if __name__ == "__main__":
    main()
