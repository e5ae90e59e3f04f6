"""Benchmark: does the model's title delay an answer? With the real local model (or the
configured provider), for each of N fresh chats it times, with model titles off and then on:
  - the first answer: Enter to its last word stored (the title is asked for only after that);
  - asking for the title (`TitleWriter.request`): what the page's run spends on it;
  - the second question sent at once after the first answer, while the title is being
    written: Enter to its first word, and to its last word stored;
  - how long the title took to be stored (on only).

    .venv/bin/python -m bench.titles --runs 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from llm import start_default_model, stop_default_model
from memory import build_chain, open_store, stream_reply
from memory.titles import TitleWriter

QUESTIONS = (
    "How do I bake sourdough bread at home?",
    "What should I pack for a week of hiking in the Alps?",
    "How do tides work?",
    "Which houseplants need little light?",
    "How do I start learning the piano as an adult?",
)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    choice, model = start_default_model()
    print(f"model: {choice.label}")
    with tempfile.TemporaryDirectory() as directory:
        store = open_store(f"sqlite:///{Path(directory) / 'bench.db'}")
        chain = build_chain(model, store, context_tokens=choice.context_tokens)
        writer = TitleWriter(model, store)
        chain.invoke(
            {"ability": "cooking", "input": "warm up"},
            config={"configurable": {"user_id": "warm", "session_id": "up"}},
        )
        for titles in (False, True):
            first, second_first_word, second, asking, titled = [], [], [], [], []
            for run in range(args.runs):
                session = f"{'on' if titles else 'off'}-{run}"
                question = QUESTIONS[run % len(QUESTIONS)]
                started = time.perf_counter()
                for _ in stream_reply(chain, store, store.begin_turn("bench", session, question)):
                    pass
                first.append(time.perf_counter() - started)
                if titles:
                    asked = time.perf_counter()
                    future = writer.request("bench", session)
                    asking.append(time.perf_counter() - asked)
                started = time.perf_counter()
                # As the chat page streams it: inside the gate, to which a title gives way.
                with writer.gate.answering():
                    reply = stream_reply(chain, store, store.begin_turn("bench", session, "Why?"))
                    next(reply)
                    second_first_word.append(time.perf_counter() - started)
                    for _ in reply:
                        pass
                    second.append(time.perf_counter() - started)
                if titles:
                    future.result(timeout=60)
                    titled.append(time.perf_counter() - asked)
            label = "titles on " if titles else "titles off"
            print(
                f"{label}: first answer {ms(statistics.median(first))}; next question: first "
                f"word {ms(statistics.median(second_first_word))}, whole answer "
                f"{ms(statistics.median(second))} (medians of {args.runs})"
            )
            if titles:
                print(
                    f"  asking for the title: {statistics.median(asking) * 1e6:,.0f} us; "
                    f"title stored after {ms(statistics.median(titled))}"
                )
                for run in range(args.runs):
                    summary = store.get_session("bench", f"on-{run}")
                    print(f"  {summary.title_source:>8}: {summary.title}")
        writer.close()
    stop_default_model()


if __name__ == "__main__":
    main()
