"""Benchmark: chat search (memory/search.py) beside the LIKE scan it replaced, on the same data.

Fills one database with conversations of 50 messages, one session in ten belonging to the
searching user (so 10% of all messages are theirs: 100k at 1M) and the others to users of 50
sessions each, written turn by turn with sessions interleaved, as real traffic arrives. Every
message has eight words from a 3,000-word vocabulary, plus words placed so that a one-word
search has:
  absent      0 hits anywhere
  rarely      5 of the user's messages
  percent     1% of the user's messages
  everywhere  every message of every user
  theirs      every message of the OTHER users, none of the user's
  ka          (a two-letter prefix: it expands over ~60 of the vocabulary's words)
and, for a second user whose messages are 5% of the total, in 20 long chats written one
after the other beside 40 short ones:
  steady      every message of the 20 long chats (fewer chats than results asked for, so a
              search that walks the hits newest first reads every one of them)
At each size it prints the median and 95th percentile of `ChatStore.search_sessions` (50
results, with snippets) and of the old `lower(content) LIKE '%word%'` query.

    .venv/bin/python -m bench.search_bench                          # SQLite and a throwaway PostgreSQL
    .venv/bin/python -m bench.search_bench --engines sqlite --sizes 10000,100000
    .venv/bin/python -m bench.search_bench --engines postgresql --database-url postgresql+psycopg://...

Rows are bulk-inserted (and indexed through memory.search.index_messages, the store's own
hook) in that interleaved order: writing 1M messages one API call at a time would measure the
writes, which are not what is compared here.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, Text, exists, func, literal, or_, select, text

from bench.databases import bench_database
from database import get_engine, utcnow, write_transaction
from database.engine import dispose_engine
from memory import ChatStore, open_store
from memory.models import ChatMessage, ChatSession
from memory.search import index_messages

MESSAGES_PER_SESSION = 50
SESSIONS_PER_OTHER_USER = 50
# Session n is the searching user's when n % MINE_EVERY == 0.
MINE_EVERY = 10
ME = "searcher"
WORDS = {
    "0 hits": "absent",
    "5 hits": "rarely",
    "1% of the user's": "percent",
    "every message": "everywhere",
    "only other users'": "theirs",
    "short prefix 'ka'": "ka",
}
LONG_TALKER = "longtalker"
LONG_CHATS, SHORT_CHATS = 20, 40
LONG_SHARE = 20  # the long talker holds 1/LONG_SHARE of the messages
RARELY_AT = {101, 303, 505, 707, 909}  # the user's message numbers holding "rarely"
SAMPLES = 40
INSERT_BATCH = 5_000
_sessions = ChatSession.__table__
_messages = ChatMessage.__table__


def vocabulary(rng: random.Random, size: int = 3_000) -> list[str]:
    """Pronounceable words of 2-4 syllables; none is a test word or a prefix of one."""
    consonants, vowels = "bdfgklmnpstvz", "aiou"
    words: set[str] = set()
    while len(words) < size:
        syllables = rng.randint(2, 4)
        words.add("".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(syllables)))
    return sorted(words)


class Filler:
    """Appends whole sessions, keeping count of the user's messages across calls."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.rng = random.Random(7)
        self.words = vocabulary(self.rng)
        self.sessions = 0
        self.mine = 0
        self.long_messages = 0

    def owner(self, number: int) -> str:
        if number % MINE_EVERY == 0:
            return ME
        return f"user{number // SESSIONS_PER_OTHER_USER}"

    def content(self, user: str) -> str:
        words = [self.rng.choice(self.words) for _ in range(8)] + ["everywhere"]
        if user == ME:
            if self.mine in RARELY_AT:
                words.append("rarely")
            if self.mine % 97 == 0:
                words.append("percent")
            self.mine += 1
        else:
            words.append("theirs")
        self.rng.shuffle(words)
        return " ".join(words).capitalize() + "."

    def fill_to(self, messages: int) -> None:
        wanted = messages // MESSAGES_PER_SESSION
        new = range(self.sessions, wanted)
        if not new:
            return
        now = utcnow()
        session_rows = [
            {
                "user_id": self.owner(number),
                "session_id": f"session{number}",
                "title": f"Chat number {number}",
                "ability": "general knowledge",
                "created_at": now,
                "updated_at": now,
                "message_count": MESSAGES_PER_SESSION,
                "last_turn": MESSAGES_PER_SESSION // 2,
            }
            for number in new
        ]
        rows: list[dict[str, Any]] = []
        for position in range(MESSAGES_PER_SESSION):
            for number in new:
                user = self.owner(number)
                rows.append(
                    {
                        "user_id": user,
                        "session_id": f"session{number}",
                        "turn": position // 2 + 1,
                        "role": "human" if position % 2 == 0 else "ai",
                        "content": self.content(user),
                        "status": "complete",
                        "created_at": now,
                    }
                )
        if self.sessions == 0:
            session_rows += [
                {
                    **session_rows[0],
                    "user_id": LONG_TALKER,
                    "session_id": f"{kind}{number}",
                    "message_count": 0,
                    "last_turn": 0,
                }
                for kind, count in (("long", LONG_CHATS), ("short", SHORT_CHATS))
                for number in range(count)
            ]
            for number in range(SHORT_CHATS):
                rows += self.long_talker_rows(f"short{number}", 2, "", now)
        per_chat = (messages // LONG_SHARE - self.long_messages) // LONG_CHATS
        for number in range(LONG_CHATS):
            rows += self.long_talker_rows(f"long{number}", per_chat, "steady", now)
        self.long_messages += per_chat * LONG_CHATS
        with write_transaction(self.engine) as conn:
            for start in range(0, len(session_rows), INSERT_BATCH):
                conn.execute(_sessions.insert(), session_rows[start : start + INSERT_BATCH])
            for start in range(0, len(rows), INSERT_BATCH):
                batch = rows[start : start + INSERT_BATCH]
                ids = conn.execute(
                    _messages.insert().returning(_messages.c.id, sort_by_parameter_order=True),
                    batch,
                ).scalars()
                index_messages(
                    conn,
                    [
                        (i, row["user_id"], row["content"])
                        for i, row in zip(ids, batch, strict=True)
                    ],
                )
        self.sessions = wanted

    def long_talker_rows(self, session_id: str, count: int, word: str, now: Any) -> list[dict]:
        return [
            {
                "user_id": LONG_TALKER,
                "session_id": session_id,
                "turn": position // 2 + 1,
                "role": "human" if position % 2 == 0 else "ai",
                "content": " ".join([*(self.rng.choice(self.words) for _ in range(8)), word]),
                "status": "complete",
                "created_at": now,
            }
            for position in range(count)
        ]


def like_search(engine: Engine, user_id: str, word: str, limit: int = 50) -> list[str]:
    """The search as it was before memory/search.py: a LIKE scan of the user's messages."""
    pattern = func.lower(literal(f"%{word}%", Text()))
    in_messages = exists().where(
        _messages.c.user_id == user_id,
        _messages.c.session_id == _sessions.c.session_id,
        func.lower(_messages.c.content).like(pattern, escape="\\"),
    )
    statement = (
        select(_sessions.c.session_id)
        .where(
            _sessions.c.user_id == user_id,
            or_(func.lower(_sessions.c.title).like(pattern, escape="\\"), in_messages),
        )
        .order_by(_sessions.c.updated_at.desc(), _sessions.c.session_id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        return list(conn.scalars(statement))


def timings_ms(action: Callable[[], Any], samples: int) -> tuple[float, float, Any]:
    result = action()  # warm: the first call pays for cold pages and plan caches
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        result = action()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)], result


# What each part of the search takes on disk, indexes included.
_SQLITE_SIZES = text(
    "SELECT CASE WHEN name LIKE 'message_search%' THEN 'message_search' "
    "WHEN name IN ('session_terms', 'ix_session_terms_newest') THEN 'session_terms' "
    "ELSE 'the rest' END, sum(pgsize) FROM dbstat GROUP BY 1 ORDER BY 1"
)
_PG_SIZES = text(
    "SELECT relname, pg_total_relation_size(oid) FROM pg_class "
    "WHERE relname IN ('chat_messages', 'message_search', 'session_terms') ORDER BY relname"
)


def storage(engine: Engine) -> str:
    """MB on disk of the messages, the message index and session_terms (SQLite: every page of
    the file, through dbstat)."""
    with engine.connect() as conn:
        sizes = conn.execute(_SQLITE_SIZES if engine.dialect.name == "sqlite" else _PG_SIZES)
        return ", ".join(f"{name} {size / 1e6:,.0f} MB" for name, size in sizes)


def analyze(engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")


def run(url: str, label: str, sizes: list[int], like_up_to: int) -> None:
    store: ChatStore = open_store(url)
    engine = get_engine(url)
    filler = Filler(engine)
    for size in sizes:
        started = time.perf_counter()
        filler.fill_to(size)
        analyze(engine)
        filled = time.perf_counter() - started
        print(
            f"{label}: {size + filler.long_messages + 2 * SHORT_CHATS:,} messages "
            f"({filler.mine:,} of the user's, {filler.long_messages + 2 * SHORT_CHATS:,} of "
            f"the long talker's), filled in {filled:.0f}s; {storage(engine)}"
        )
        cases = [(case, ME, word) for case, word in WORDS.items()]
        cases.append(("20 long chats' every", LONG_TALKER, "steady"))
        for case, user, word in cases:
            median, p95, found = timings_ms(
                lambda u=user, w=word: store.search_sessions(u, w), SAMPLES
            )
            if size <= like_up_to:
                samples = 10 if size <= 100_000 else 3
                old = timings_ms(lambda u=user, w=word: like_search(engine, u, w), samples)
                like = f"{old[0]:>10.2f} {old[1]:>9.2f}"
            else:
                like = f"{'(skipped)':>20}"
            print(
                f"  {label:<10} {size:>9,} {case:<20} {len(found):>4} "
                f"{median:>9.2f} {p95:>9.2f} {like}"
            )
    dispose_engine(url)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000", help="message counts")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--database-url", help="an EMPTY PostgreSQL database to use")
    parser.add_argument(
        "--like-up-to", type=int, default=1_000_000, help="skip the LIKE query above this size"
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    whole = MESSAGES_PER_SESSION * MINE_EVERY
    if any(size <= 0 or size % whole for size in sizes):
        parser.error(f"each size must be a positive multiple of {whole}")
    print(
        "one-word search of one user, 50 results; times in ms: this search (median, p95), "
        "then the LIKE scan it replaced (median, p95)"
    )
    print(
        f"  {'engine':<10} {'messages':>9} {'word':<20} {'hits':>4} {'median':>9} {'p95':>9} "
        f"{'LIKE med':>10} {'LIKE p95':>9}"
    )
    for engine in args.engines.split(","):
        with bench_database(engine, "search.db", args.database_url) as url:
            run(url, engine, sizes, args.like_up_to)


if __name__ == "__main__":
    main()
