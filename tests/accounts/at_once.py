"""Run calls on threads released together, to provoke the races the accounts core must win."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def run_at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Start every call at the same moment; return each one's result or raised exception."""
    start = threading.Barrier(len(calls))
    outcomes: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        start.wait()
        try:
            outcomes[index] = calls[index]()
        except Exception as error:  # handed back to the test, which asserts on it
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes
