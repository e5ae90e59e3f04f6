"""One app process's share of test_turns_across_processes.py, run as
`python -m tests.quotas.turns_worker URL USER_ID FIRST COUNT`.

It opens its own Engine on URL, prints "ready", waits for a line on stdin (so that both
processes ask at the same moment), then runs COUNT chat turns at once as the chat page runs
them: the quota first, then the question stored, the answer streamed through the chain and
stored, the real cost settled. It prints one JSON line: how many turns were answered, how many
times the model was called, and any failure other than a refused quota."""

from __future__ import annotations

import json
import sys

from database import get_engine
from database.engine import dispose_engine
from memory import ChatStore, build_chain, stream_reply
from memory.chain import TurnCost, question_tokens
from quotas import QuotaExceeded, admit_question, settle_tokens
from tests.accounts.at_once import run_at_once
from tests.support.fake_chat import RecordingChatModel


def one_turn(store: ChatStore, chain, user_id: str, number: int) -> str:
    question = f"question {number}"
    reservation = admit_question(
        store.engine, user_id, tokens=question_tokens(question, ability="Java")
    )
    turn = store.begin_turn(user_id, f"chat-{number}", question, ability="Java")
    cost = TurnCost()
    answer = "".join(stream_reply(chain, store, turn, ability="Java", cost=cost))
    settle_tokens(store.engine, reservation, tokens=cost.tokens)
    return answer


def main(url: str, user_id: str, first: int, count: int) -> None:
    store = ChatStore(get_engine(url))
    model = RecordingChatModel(replies=[], prompts=[])
    chain = build_chain(model, store)
    print("ready", flush=True)
    sys.stdin.readline()
    outcomes = run_at_once(
        [
            lambda number=number: one_turn(store, chain, user_id, number)
            for number in range(first, first + count)
        ]
    )
    report = {
        "answered": sum(isinstance(outcome, str) for outcome in outcomes),
        "model_calls": len(model.prompts),
        "unexpected": [
            repr(outcome)
            for outcome in outcomes
            if isinstance(outcome, Exception) and not isinstance(outcome, QuotaExceeded)
        ],
    }
    print(json.dumps(report), flush=True)
    dispose_engine(url)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
