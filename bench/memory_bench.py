"""Benchmark: the memory store beside langchain_community's SQLChatMessageHistory.

Fills one database, on the same engine for both, with the same conversations: sessions of 20
messages (10 turns), 50 sessions per user (so the user count grows with the size and every
listing returns a full page), written turn by turn with sessions interleaved, as real traffic
arrives, so one session's rows are spread across the whole table. At 20k, 200k and 1M messages
it prints the median time to
  - load one session's history (`.messages` of each library's BaseChatMessageHistory),
  - list one user's 50 newest sessions (the anchor has no users: its nearest query is shown),
  - run one chain turn (RunnableWithMessageHistory with an instant model) for each.

    .venv/bin/python -m bench.memory_bench                 # SQLite, 20k / 200k / 1M
    .venv/bin/python -m bench.memory_bench --sizes 20000   # quick
    .venv/bin/python -m bench.memory_bench --database-url postgresql+psycopg://...

Rows are bulk-inserted in that interleaved order (writing 1M messages one API call at a time
would take most of an hour and measure the writes, which are not what is compared here).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, HumanMessage, message_to_dict
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory
from sqlalchemy import Engine, text

from database import get_engine, utcnow
from memory import build_chain, open_store
from memory.models import ChatMessage, ChatSession

MESSAGES_PER_SESSION = 20
# Every user has exactly this many sessions at every size, so listing returns a full page.
SESSIONS_PER_USER = 50
SAMPLES = 200
warnings.filterwarnings("ignore")


def median_ms(action: Callable[[], Any], samples: int = SAMPLES) -> float:
    timings = []
    for _ in range(samples):
        start = time.perf_counter()
        action()
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


def anchor_table(engine: Engine) -> None:
    from langchain_community.chat_message_histories import SQLChatMessageHistory

    # Creating one history creates its table, exactly as a user of the library would get it.
    SQLChatMessageHistory(session_id="setup", connection=engine)


def fill(engine: Engine, first_session: int, sessions: int) -> None:
    """Append `sessions` new sessions of 20 messages to both schemas, turn by turn."""
    now = utcnow()
    session_rows = []
    for number in range(first_session, first_session + sessions):
        session_rows.append(
            {
                "user_id": f"user{number // SESSIONS_PER_USER}",
                "session_id": f"session{number}",
                "title": f"Question {number}",
                "ability": "Java",
                "created_at": now,
                "updated_at": now,
                "message_count": MESSAGES_PER_SESSION,
                "last_turn": MESSAGES_PER_SESSION // 2,
            }
        )
    ours, theirs = [], []
    for turn in range(1, MESSAGES_PER_SESSION // 2 + 1):
        for number in range(first_session, first_session + sessions):
            user, session = f"user{number // SESSIONS_PER_USER}", f"session{number}"
            for role, content in (
                ("human", f"question {turn} of {session}: what is the JVM?"),
                ("ai", f"answer {turn}: the Java Virtual Machine runs bytecode."),
            ):
                ours.append(
                    {
                        "user_id": user,
                        "session_id": session,
                        "turn": turn,
                        "role": role,
                        "content": content,
                        "status": "complete",
                        "created_at": now,
                    }
                )
                message = HumanMessage(content) if role == "human" else AIMessage(content)
                theirs.append(
                    {
                        "session_id": f"{user}/{session}",
                        "message": json.dumps(message_to_dict(message)),
                    }
                )
    with engine.begin() as conn:
        conn.execute(ChatSession.__table__.insert(), session_rows)
        for start in range(0, len(ours), 20_000):
            conn.execute(ChatMessage.__table__.insert(), ours[start : start + 20_000])
            conn.execute(
                text(
                    "INSERT INTO message_store (session_id, message) VALUES (:session_id, :message)"
                ),
                theirs[start : start + 20_000],
            )


def anchor_chain(engine: Engine) -> RunnableWithMessageHistory:
    from langchain_community.chat_message_histories import SQLChatMessageHistory

    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "You are an assistant specialized in {ability}. Answer within 30 words."),
            MessagesPlaceholder("history"),
            ("human", "{input}"),
        ]
    )
    return RunnableWithMessageHistory(
        prompt | FakeListChatModel(responses=["ok"] * 10_000),
        lambda session_id: SQLChatMessageHistory(session_id=session_id, connection=engine),
        input_messages_key="input",
        history_messages_key="history",
    )


def measure(
    engine: Engine, total_sessions: int, rng: random.Random
) -> dict[str, tuple[float, float]]:
    from langchain_community.chat_message_histories import SQLChatMessageHistory

    store = open_store(str(engine.url.render_as_string(hide_password=False)))
    users = total_sessions // SESSIONS_PER_USER

    def pick() -> tuple[str, str]:
        number = rng.randrange(total_sessions)
        return f"user{number // SESSIONS_PER_USER}", f"session{number}"

    def ours_history() -> None:
        user, session = pick()
        assert len(store.get_history(user, session).messages) >= MESSAGES_PER_SESSION

    def theirs_history() -> None:
        user, session = pick()
        history = SQLChatMessageHistory(session_id=f"{user}/{session}", connection=engine)
        assert len(history.messages) >= MESSAGES_PER_SESSION

    def ours_list() -> None:
        assert len(store.list_sessions(f"user{rng.randrange(users)}", 50)) == SESSIONS_PER_USER

    def theirs_list() -> None:
        # The anchor keys on one string and has no sessions table: the nearest query a user
        # would write groups every message of the user's sessions.
        with engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT session_id, max(id) AS newest FROM message_store "
                    "WHERE session_id LIKE :prefix GROUP BY session_id "
                    "ORDER BY newest DESC LIMIT 50"
                ),
                {"prefix": f"user{rng.randrange(users)}/%"},
            ).all()

    ours = build_chain(FakeListChatModel(responses=["ok"] * 10_000), store)
    theirs = anchor_chain(engine)
    scratch = iter(range(10**9))

    def ours_turn() -> None:
        ours.invoke(
            {"ability": "Java", "input": "What is jvm?"},
            config={"configurable": {"user_id": "bench", "session_id": f"t{next(scratch)}"}},
        )

    def theirs_turn() -> None:
        theirs.invoke(
            {"ability": "Java", "input": "What is jvm?"},
            config={"configurable": {"session_id": f"bench/t{next(scratch)}"}},
        )

    anchor_samples = 20 if total_sessions * MESSAGES_PER_SESSION >= 200_000 else 60
    return {
        "load one session's history": (
            median_ms(ours_history),
            median_ms(theirs_history, anchor_samples),
        ),
        "list a user's 50 newest sessions": (
            median_ms(ours_list),
            median_ms(theirs_list, anchor_samples),
        ),
        "one chain turn (instant model)": (
            median_ms(ours_turn, 100),
            median_ms(theirs_turn, anchor_samples),
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", default="20000,200000,1000000", help="message counts, comma-separated"
    )
    parser.add_argument(
        "--database-url", help="an EMPTY database (default: a temporary SQLite file)"
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    whole_users = MESSAGES_PER_SESSION * SESSIONS_PER_USER
    if any(size <= 0 or size % whole_users for size in sizes):
        parser.error(f"each size must be a positive multiple of {whole_users} (whole users)")
    url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    store = open_store(url)
    engine = get_engine(url)
    anchor_table(engine)
    rng = random.Random(7)
    sessions = 0
    print(
        f"engine: {engine.dialect.name}; sessions of {MESSAGES_PER_SESSION} messages, "
        f"{SESSIONS_PER_USER} per user"
    )
    print(
        f"{'messages':>10}  {'operation':<34} {'this store':>11} "
        f"{'SQLChatMessageHistory':>22} {'ratio':>8}"
    )
    for size in sizes:
        wanted = size // MESSAGES_PER_SESSION
        if wanted > sessions:
            fill(engine, sessions, wanted - sessions)
            sessions = wanted
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
        for operation, (ours, theirs) in measure(engine, sessions, rng).items():
            print(
                f"{size:>10,}  {operation:<34} {ours:>9.3f}ms {theirs:>20.3f}ms "
                f"{theirs / ours:>7.0f}x"
            )
    del store


if __name__ == "__main__":
    main()
