"""How fast the local model answers, through the app's own client (ChatOpenAI, streaming).

    python -m bench.model_latency [--runs 10] [--starts 3]

Prints the local server's start-up time (start to healthy), then for the seed prompt ("Answer
within 30 words"): time to the first token and to the complete answer, median of `--runs`
questions after one warm-up, and the median answer length in words.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time

from langchain_core.messages import HumanMessage, SystemMessage

from llm import LocalModelServer, build_chat_model, choose_provider
from memory.chain import SYSTEM_PROMPT

QUESTIONS = [
    ("Java", "What is the JVM?"),
    ("cooking", "How do I boil an egg?"),
    ("math", "What is a prime number?"),
    ("history", "Who built the pyramids?"),
    ("biology", "What does a cell membrane do?"),
    ("music", "What is a chord?"),
    ("geography", "Why are deserts dry?"),
    ("physics", "What is gravity?"),
    ("Python", "What is a list comprehension?"),
    ("gardening", "When should I water tomatoes?"),
]


def median_start_seconds(starts: int) -> tuple[float, LocalModelServer]:
    """Start the server `starts` times; the median seconds to healthy, and the last one running."""
    choice = choose_provider()
    assert choice.model_path is not None, "set no OPENAI_API_KEY: this measures the local model"
    log_dir = tempfile.mkdtemp(prefix="model-latency-")
    timings: list[float] = []
    server: LocalModelServer | None = None
    for index in range(starts):
        if server is not None:
            server.stop()
        server = LocalModelServer(
            model_path=choice.model_path, n_ctx=choice.local_ctx, log_path=f"{log_dir}/{index}.log"
        )
        began = time.perf_counter()
        server.start()
        timings.append(time.perf_counter() - began)
    assert server is not None
    return statistics.median(timings), server


def measure(server: LocalModelServer, runs: int) -> dict[str, float]:
    """Median time to first token and to the whole answer, and median words per answer."""
    choice = dataclasses.replace(choose_provider(), base_url=server.url)
    model = build_chat_model(choice, model_name=server.model_alias)
    first_tokens: list[float] = []
    totals: list[float] = []
    words: list[int] = []
    for index in range(runs + 1):
        ability, question = QUESTIONS[index % len(QUESTIONS)]
        prompt = [SystemMessage(SYSTEM_PROMPT.format(ability=ability)), HumanMessage(question)]
        began = time.perf_counter()
        first: float | None = None
        parts: list[str] = []
        for chunk in model.stream(prompt):
            if chunk.content and first is None:
                first = time.perf_counter() - began
            parts.append(str(chunk.content))
        total = time.perf_counter() - began
        if index == 0:
            continue  # warm-up: the first request pages the model in
        first_tokens.append(first if first is not None else total)
        totals.append(total)
        words.append(len("".join(parts).split()))
    return {
        "first_token_s": statistics.median(first_tokens),
        "answer_s": statistics.median(totals),
        "answer_words": statistics.median(words),
        "first_token_max_s": max(first_tokens),
        "answer_max_s": max(totals),
        "slowest_answer_words": words[totals.index(max(totals))],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--starts", type=int, default=3)
    args = parser.parse_args()
    start_s, server = median_start_seconds(args.starts)
    try:
        figures = measure(server, args.runs)
    finally:
        server.stop()
    print(f"local model: {server.model_path.name}, n_ctx {server.n_ctx}")
    print(f"server start-up (median of {args.starts}): {start_s:.2f} s")
    print(
        f"time to first token (median of {args.runs}): {figures['first_token_s']:.3f} s "
        f"(max {figures['first_token_max_s']:.3f} s)"
    )
    print(
        f"complete answer (median of {args.runs}): {figures['answer_s']:.3f} s "
        f"(max {figures['answer_max_s']:.3f} s), {figures['answer_words']:.0f} words; "
        f"the slowest had {figures['slowest_answer_words']} words"
    )


if __name__ == "__main__":
    main()
