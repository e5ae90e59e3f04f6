"""Long chats in Chromium against the running app (`streamlit run server.py`, as the browser tests
start it), answered by the deterministic stub with no delay between words (served from this
process), so that what is timed is the app and not a model. Helpers come from
tests/browser/conftest.py; chats are seeded straight into the app's database (up to a few
thousand messages through memory's ChatStore, the 100,000-message one by a bulk SQLAlchemy
core insert in the store's shape, past MAX_MESSAGES_PER_CHAT: a chat from before the cap).

    .venv/bin/python -m bench.long_chats [--hostile] [--runs 5] [--lengths 20,400,2000]

Part 1, for one user with one chat of each of --lengths messages, timed by the page's own clock;
the median of --runs rounds after a warm-up round, each round taking every length in turn (so
the machine's ups and downs fall on all of them alike); a chat grows by two messages a turn:
  open   navigation start (page.goto of the chat's URL) → the chat's last message drawn, with
         its newest page (MESSAGE_PAGE_SIZE messages, or all of a shorter chat) on the page;
  turn   keydown of Enter in the chat box → the answer drawn again from the database after
         the turn is stored (last message the answer, Stop gone, the run over, nothing stale
         left). Afterwards every question and answer is read back: each stored once, in order.
  A table gives the ratios longest/shortest (targets: open ≤ 1.5x, turn ≤ 1.3x), and how many
  messages the last turn sent to the model (the prompt budget, MODEL_CONTEXT_TOKENS, 16,000 by
  default, holds about 830 of these seeded messages: a turn's cost grows with its prompt up to
  there, and no further).

Part 2, with --hostile: user A has a small chat and a 100,000-message chat, user B a small one.
  In each round A's three tabs (one browser, one sign-in) navigate to one of A's chats at once
  and B presses Enter while they load; B's turn time is timed as above. First the rounds with
  A on the small chat only (a warm-up and --runs more), after which the app process's RSS
  (VmRSS of /proc/<pid>/status) is read; then, after a warm-up, --runs pairs of rounds, A on
  the 100k chat then on the small one, and the RSS again. Medians of B's turn: 100k / small
  (target ≤ 1.5x); RSS after / before the 100k rounds (target ≤ 1.2x). A's open time of the
  100k chat, three tabs at once, is printed for information.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

from accounts import find_account
from database import get_engine
from memory import ChatStore
from memory.store import MESSAGE_PAGE_SIZE, new_session_id
from tests.browser.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    RunningApp,
    app_database_url,
    app_env,
    bulk_seed_chat,
    seed_chat,
    seeded_text,
    settle,
    sign_up,
    start_app,
)
from tests.support.openai_stub import OpenAIStub

HUGE = 100_000
SMALL = 20
TABS = 3

# Run at the start of every page load: if the tab's sessionStorage names what the chat should
# show ({count, last}), sets `window.openedAt` to the milliseconds since navigation start at
# which that many messages are drawn and the last is the expected text.
WATCH_OPEN = """(() => {
    const wanted = JSON.parse(sessionStorage.getItem('expectOpen') || 'null');
    window.openedAt = null;
    if (!wanted) return;
    const drawn = () => {
        const all = document.querySelectorAll('[data-testid=stChatMessageContent]');
        return all.length === wanted.count
            && all[all.length - 1].innerText.trim() === wanted.last;
    };
    const observer = new MutationObserver(() => {
        if (drawn()) {
            window.openedAt = performance.now();
            observer.disconnect();
        }
    });
    observer.observe(document, {subtree: true, childList: true, characterData: true});
})();"""

# Installed before Enter is pressed: sets `window.turnSeconds` to the seconds from Enter's
# keydown until the answer `echo` is the last message of a settled page: Stop gone (the page
# was drawn again from the database after the answer was stored), the run over, nothing stale.
WATCH_TURN = """(echo) => {
    let pressed = null;
    window.turnSeconds = null;
    const onEnter = event => {
        if (event.key !== 'Enter') return;
        pressed = performance.now();
        document.removeEventListener('keydown', onEnter, {capture: true});
    };
    document.addEventListener('keydown', onEnter, {capture: true});
    const answered = () => {
        const app = document.querySelector('.stApp');
        const all = document.querySelectorAll('[data-testid=stChatMessageContent]');
        const last = all[all.length - 1];
        const labels = [...document.querySelectorAll('button')].map(button => button.innerText);
        return last !== undefined && last.innerText.trim() === echo
            && !labels.some(label => label.includes('Stop'))
            && app !== null && app.dataset.testScriptState === 'notRunning'
            && document.querySelector('[data-stale=true]') === null;
    };
    const observer = new MutationObserver(() => {
        if (pressed === null || !answered()) return;
        window.turnSeconds = (performance.now() - pressed) / 1000;
        observer.disconnect();
    });
    observer.observe(document.body, {
        subtree: true, childList: true, characterData: true,
        attributes: true, attributeFilter: ['data-test-script-state', 'data-stale'],
    });
}"""


@contextmanager
def running_app(data_dir: Path, model_url: str) -> Iterator[RunningApp]:
    data_dir.mkdir(parents=True, exist_ok=True)
    env = app_env(
        data_dir,
        AUTH_COOKIE_KEY=secrets.token_urlsafe(48),
        OPENAI_API_KEY="bench-key",
        OPENAI_BASE_URL=model_url,
        CHAT_MODEL="stub-echo",
    )
    app = start_app(env, data_dir / "app.log")
    try:
        yield app
    finally:
        app.stop()


def rss_mib(app: RunningApp) -> float:
    """The app process's resident set size, MiB."""
    for line in Path(f"/proc/{app.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def new_page(browser: Browser) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    page.set_default_timeout(120_000)
    page.context.add_init_script(WATCH_OPEN)
    return page


@dataclass
class Chat:
    """A chat of the bench's: its owner, id and stored length (kept up to date by `turn`)."""

    store: ChatStore
    user_id: str
    session_id: str
    length: int
    asked: list[str] = field(default_factory=list)

    def last_text(self) -> str:
        return f"Echo: {self.asked[-1]}" if self.asked else seeded_text(self.length - 1)

    def url(self, app: RunningApp) -> str:
        return f"{app.url}/?session={self.session_id}"


def user(browser: Browser, app: RunningApp, store: ChatStore, username: str) -> tuple[Page, str]:
    page = new_page(browser)
    sign_up(page, app.url, username)
    account = find_account(store.engine, username=username)
    assert account is not None
    return page, account.id


def seeded_chat(store: ChatStore, user_id: str, length: int) -> Chat:
    chat = Chat(store, user_id, new_session_id(), length)
    if length > store.max_messages_per_chat:
        bulk_seed_chat(store.engine, user_id, chat.session_id, length)
    else:
        seed_chat(store, user_id, chat.session_id, length)
    return chat


def start_open(page: Page, app: RunningApp, chat: Chat) -> None:
    """Navigate to the chat (back as soon as the navigation is committed), watching for its
    newest page to be drawn."""
    expected = {"count": min(chat.length, MESSAGE_PAGE_SIZE), "last": chat.last_text()}
    page.evaluate("(w) => sessionStorage.setItem('expectOpen', JSON.stringify(w))", expected)
    page.goto(chat.url(app), wait_until="commit")


def finish_open(page: Page) -> float:
    """Milliseconds from navigation start to the chat's newest page drawn."""
    opened = page.wait_for_function("() => window.openedAt").json_value()
    settle(page)
    return opened


def open_ms(page: Page, app: RunningApp, chat: Chat) -> float:
    start_open(page, app, chat)
    return finish_open(page)


def start_turn(page: Page, chat: Chat) -> None:
    question = f"Question {len(chat.asked)} in a chat of {chat.length:,}: what is 6 times 7?"
    page.evaluate(WATCH_TURN, f"Echo: {question}")
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    box.press("Enter")
    chat.asked.append(question)
    chat.length += 2


def finish_turn(page: Page) -> float:
    """Seconds from Enter to the answered page settled."""
    seconds = page.wait_for_function("() => window.turnSeconds").json_value()
    settle(page)
    return seconds


def turn_seconds(page: Page, chat: Chat) -> float:
    start_turn(page, chat)
    return finish_turn(page)


def audit(chat: Chat) -> int:
    """Questions of `chat` not stored exactly once with their answer right after them."""
    stored = chat.store.load_messages(chat.user_id, chat.session_id)
    contents = [message.content for message in stored]
    wrong = 0
    for question in chat.asked:
        where = [i for i, content in enumerate(contents) if content == question]
        answers = contents.count(f"Echo: {question}")
        if (
            len(where) != 1
            or answers != 1
            or contents[where[0] + 1] != f"Echo: {question}"
            or stored[where[0]].turn != stored[where[0] + 1].turn
        ):
            wrong += 1
    summary = chat.store.get_session(chat.user_id, chat.session_id)
    if summary is None or summary.message_count != len(stored) or len(stored) != chat.length:
        wrong += 1
    return wrong


def median_of(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float], unit: str, scale: float = 1.0) -> str:
    scaled = [value * scale for value in values]
    return (
        f"{median_of(scaled):,.0f} {unit} (min {min(scaled):,.0f}, max {max(scaled):,.0f}; "
        f"n={len(scaled)})"
    )


# Part 1 ---------------------------------------------------------------------------------------


@dataclass
class ByLength:
    opens: dict[int, list[float]]  # milliseconds
    turns: dict[int, list[float]]  # seconds
    prompt_messages: dict[int, int]  # messages the model was sent in the last turn
    wrong: int


def prompt_size(stub: OpenAIStub, question: str) -> int:
    return next(len(p) for p in reversed(stub.prompts) if p[-1].get("content") == question)


def by_length(
    browser: Browser,
    app: RunningApp,
    store: ChatStore,
    stub: OpenAIStub,
    lengths: list[int],
    runs: int,
) -> ByLength:
    """Open and turn times per chat length, in rounds that take every length in turn (one
    warm-up round first), so that the machine's ups and downs fall on all lengths alike."""
    page, user_id = user(browser, app, store, "lengths")
    chats = {length: seeded_chat(store, user_id, length) for length in lengths}
    opens: dict[int, list[float]] = {length: [] for length in lengths}
    turns: dict[int, list[float]] = {length: [] for length in lengths}
    try:
        for run in range(runs + 1):
            for length, chat in chats.items():
                opened, answered = open_ms(page, app, chat), turn_seconds(page, chat)
                if run:
                    opens[length].append(opened)
                    turns[length].append(answered)
    finally:
        page.context.close()
    result = ByLength(
        opens,
        turns,
        {length: prompt_size(stub, chat.asked[-1]) for length, chat in chats.items()},
        sum(audit(chat) for chat in chats.values()),
    )
    for length in lengths:
        print(
            f"{length:>7,} messages: open {spread(opens[length], 'ms')}; "
            f"turn {spread(turns[length], 'ms', 1000)}; "
            f"{result.prompt_messages[length]} messages sent to the model",
            flush=True,
        )
    return result


# Part 2 ---------------------------------------------------------------------------------------


@dataclass
class Hostile:
    baseline_turns: list[float]
    hostile_turns: list[float]
    rss_start: float
    rss_small: float
    rss_huge: float
    huge_opens: list[float]
    wrong: int


def b_turn_beside(
    app: RunningApp, a_tabs: list[Page], a_chat: Chat, b_page: Page, b_chat: Chat
) -> tuple[float, list[float]]:
    """B's turn seconds while A's tabs all load `a_chat`; and A's open milliseconds."""
    for tab in a_tabs:
        start_open(tab, app, a_chat)
    start_turn(b_page, b_chat)
    seconds = finish_turn(b_page)
    return seconds, [finish_open(tab) for tab in a_tabs]


def hostile(browser: Browser, app: RunningApp, store: ChatStore, runs: int) -> Hostile:
    """B's turns beside A's tabs loading a small chat, then (after the RSS is read) rounds
    alternating A's 100k chat and A's small chat, timed alike."""
    rss_start = rss_mib(app)
    a_first, a_id = user(browser, app, store, "hostile-a")
    b_page, b_id = user(browser, app, store, "hostile-b")
    a_tabs = [a_first, *(a_first.context.new_page() for _ in range(TABS - 1))]
    for tab in a_tabs[1:]:
        tab.set_default_timeout(120_000)
        tab.goto(app.url)  # signed in by the context's cookie; its sessionStorage now usable
        settle(tab)
    try:
        a_small, a_huge = seeded_chat(store, a_id, SMALL), seeded_chat(store, a_id, HUGE)
        b_chat = seeded_chat(store, b_id, SMALL)
        open_ms(b_page, app, b_chat)
        # A on the small chat only: a warm-up, then as many rounds as will be timed below.
        for _ in range(runs + 1):
            b_turn_beside(app, a_tabs, a_small, b_page, b_chat)
        rss_small = rss_mib(app)
        b_turn_beside(app, a_tabs, a_huge, b_page, b_chat)  # the 100k chat's warm-up
        baseline: list[float] = []
        worst: list[float] = []
        huge_opens: list[float] = []
        for _ in range(runs):
            seconds, opened = b_turn_beside(app, a_tabs, a_huge, b_page, b_chat)
            worst.append(seconds)
            huge_opens.extend(opened)
            baseline.append(b_turn_beside(app, a_tabs, a_small, b_page, b_chat)[0])
        rss_huge = rss_mib(app)
        print(f"B's turn, A on a {SMALL}-message chat: {spread(baseline, 'ms', 1000)}", flush=True)
        print(f"B's turn, A on the {HUGE:,}-message chat: {spread(worst, 'ms', 1000)}", flush=True)
        wrong = audit(b_chat)
    finally:
        a_first.context.close()
        b_page.context.close()
    return Hostile(baseline, worst, rss_start, rss_small, rss_huge, huge_opens, wrong)


# Report ---------------------------------------------------------------------------------------


def verdict(ratio: float, target: float) -> str:
    return "yes" if ratio <= target else "**no**"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per figure")
    parser.add_argument("--lengths", default="20,400,2000", help="chat lengths for part 1")
    parser.add_argument("--hostile", action="store_true", help="part 2 too")
    args = parser.parse_args(argv)
    lengths = [int(length) for length in args.lengths.split(",") if length]

    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="long-chats-"))
    with (
        sync_playwright() as playwright,
        OpenAIStub(delay=0.0) as stub,
        running_app(work / "app", stub.url) as app,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        store = ChatStore(get_engine(app_database_url(app)))
        part1 = by_length(browser, app, store, stub, lengths, args.runs)
        part2 = hostile(browser, app, store, args.runs) if args.hostile else None
        browser.close()
    load_after = os.getloadavg()[0]

    shortest, longest = lengths[0], lengths[-1]
    print()
    header = " | ".join(f"{length:,} msgs" for length in lengths)
    print(
        f"| figure (median of {args.runs}) | {header} | {longest:,}/{shortest:,} | target | met |"
    )
    print("|---|" + "---|" * len(lengths) + "---|---|---|")
    for name, values, scale, target in (
        ("open: navigation → last message drawn", part1.opens, 1.0, 1.5),
        ("turn: Enter → answer stored and drawn", part1.turns, 1000.0, 1.3),
    ):
        medians = {length: median_of(values[length]) * scale for length in lengths}
        ratio = medians[longest] / medians[shortest]
        cells = " | ".join(f"{medians[length]:,.0f} ms" for length in lengths)
        print(f"| {name} | {cells} | {ratio:.2f}x | ≤ {target}x | {verdict(ratio, target)} |")
    cells = " | ".join(str(part1.prompt_messages[length]) for length in lengths)
    ratio = part1.prompt_messages[longest] / part1.prompt_messages[shortest]
    print(f"| messages in the last turn's prompt | {cells} | {ratio:.1f}x | | |")
    print(f"\nTurns not stored exactly once in order: {part1.wrong}")

    if part2 is not None:
        small_turn, huge_turn = median_of(part2.baseline_turns), median_of(part2.hostile_turns)
        turn_ratio = huge_turn / small_turn
        rss_ratio = part2.rss_huge / part2.rss_small
        print()
        print(
            f"| hostile figure (median of {args.runs}) | A on a {SMALL}-message chat "
            f"| A on the {HUGE:,}-message chat | ratio | target | met |"
        )
        print("|---|---|---|---|---|---|")
        print(
            f"| B's turn, A's {TABS} tabs loading as B asks | {small_turn * 1000:,.0f} ms | "
            f"{huge_turn * 1000:,.0f} ms | {turn_ratio:.2f}x | ≤ 1.5x | "
            f"{verdict(turn_ratio, 1.5)} |"
        )
        print(
            f"| app RSS (VmRSS) | {part2.rss_small:,.0f} MiB | {part2.rss_huge:,.0f} MiB | "
            f"{rss_ratio:.2f}x | ≤ 1.2x | {verdict(rss_ratio, 1.2)} |"
        )
        print(
            f"\nApp RSS before part 2: {part2.rss_start:,.0f} MiB. "
            f"A's open of the 100k chat, {TABS} tabs at once: {spread(part2.huge_opens, 'ms')}. "
            f"B's turns not stored exactly once in order: {part2.wrong}"
        )
    print(
        f"Machine load average (1 min), start / end: {load_before:.1f} / {load_after:.1f} "
        f"on {os.cpu_count()} cores. Data: {work}"
    )


if __name__ == "__main__":
    main()
