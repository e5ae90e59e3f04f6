"""The chain: the seed prompt, history trimmed to the model's window, and
RunnableWithMessageHistory keyed on two ConfigurableFieldSpecs, user_id and session_id."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import (
    ConfigurableFieldSpec,
    RunnableBinding,
    RunnableConfig,
    RunnableLambda,
)
from langchain_core.runnables.config import merge_configs
from langchain_core.runnables.history import RunnableWithMessageHistory
from langchain_core.tracers.root_listeners import RootListenersTracer

from memory.errors import InvalidId
from memory.history import SessionHistory, recent_messages
from memory.store import COMPLETE, DEFAULT_ABILITY, INTERRUPTED, ChatStore, Turn
from memory.validation import MAX_CONTENT_CHARS, check_content

SYSTEM_PROMPT = "You are an assistant specialized in {ability}. Answer within 30 words."
# Room kept free in the model's window for the answer itself.
ANSWER_RESERVE_TOKENS = 256
# Used when the caller does not say how large the model's window is.
DEFAULT_CONTEXT_TOKENS = 16_000
# The configurable keys that pick a history; both are required on every call.
HISTORY_KEYS = ("user_id", "session_id")


def build_prompt() -> ChatPromptTemplate:
    """System line with the ability, then the history, then the user's input."""
    return ChatPromptTemplate.from_messages(
        [("system", SYSTEM_PROMPT), MessagesPlaceholder("history"), ("human", "{input}")]
    )


@dataclass(frozen=True)
class PromptWindow:
    """The part of a history sent to the model, how many earlier messages were left out, and
    the approximate tokens of the whole prompt (system line, kept history and question)."""

    messages: list[BaseMessage]
    omitted: int
    tokens: int = 0


@dataclass
class TurnCost:
    """What one turn costs in approximate tokens, filled in as it runs: the prompt once the
    chain has fitted the history, the answer once it is kept. Quotas count its total."""

    prompt_tokens: int = 0
    answer_tokens: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.answer_tokens


def question_tokens(question: str, *, ability: str) -> int:
    """The approximate tokens of a question with its system line: what a turn costs at least,
    known before its history is read."""
    return count_tokens_approximately(
        [SystemMessage(SYSTEM_PROMPT.format(ability=ability)), HumanMessage(question)]
    )


def answer_tokens(answer: str) -> int:
    return count_tokens_approximately([AIMessage(answer)]) if answer else 0


# The configurable key under which a caller hands the chain the TurnCost to fill in.
COST_KEY = "cost"


def costed(window: PromptWindow, config: RunnableConfig) -> list[BaseMessage]:
    """The window's messages, its tokens noted in the caller's TurnCost (if it gave one):
    what both chains' history step returns as the model is about to be called."""
    cost: TurnCost | None = config["configurable"].get(COST_KEY)
    if cost is not None:
        cost.prompt_tokens = window.tokens
    return window.messages


def fit_history(
    history: list[BaseMessage],
    *,
    ability: str,
    question: str,
    context_tokens: int = DEFAULT_CONTEXT_TOKENS,
) -> PromptWindow:
    """Keep the newest whole turns of `history` that fit beside the system line, the question
    and the answer reserve. The stored history is untouched; only the prompt is trimmed."""
    fixed = question_tokens(question, ability=ability)
    budget = context_tokens - fixed - ANSWER_RESERVE_TOKENS
    if budget <= 0 or not history:
        return PromptWindow([], len(history), fixed)
    kept, kept_tokens = _newest_turns_within(history, budget)
    return PromptWindow(kept, len(history) - len(kept), fixed + kept_tokens)


def _newest_turns_within(history: list[BaseMessage], budget: int) -> tuple[list[BaseMessage], int]:
    """What trim_messages(strategy="last", start_on="human", allow_partial=False) keeps, in
    one pass from the newest message: its binary search recounted the whole window at each
    step (about 25 ms of a turn at 800 messages). A list's approximate count is the sum of
    its messages' counts, so counting each message once gives the same cut. Returns the kept
    messages and their tokens."""
    counts: list[int] = []
    used = 0
    start = len(history)
    while start > 0:
        counts.append(count_tokens_approximately([history[start - 1]]))
        if used + counts[-1] > budget:
            counts.pop()
            break
        used += counts[-1]
        start -= 1
    # The window opens on a question: an answer whose question was cut would mislead.
    while start < len(history) and history[start].type != "human":
        used -= counts.pop()
        start += 1
    return history[start:], used


def session_window(
    store: ChatStore,
    user_id: str,
    session_id: str,
    *,
    ability: str,
    context_tokens: int = DEFAULT_CONTEXT_TOKENS,
) -> PromptWindow:
    """What the next turn of this session would send the model, and how many messages of
    its active path it would leave out, read from the end of the chat only."""
    recent = recent_messages(store, user_id, session_id, window_tokens=context_tokens)
    window = fit_history(recent, ability=ability, question="", context_tokens=context_tokens)
    if len(window.messages) == len(recent):
        # What was read more than fills the window unless it is the whole path: all of it fit.
        return PromptWindow(window.messages, 0)
    omitted = store.count_path(user_id, session_id) - len(window.messages)
    return PromptWindow(window.messages, max(0, omitted))


def history_before(history: list[BaseMessage], message_id: str) -> list[BaseMessage]:
    """The history before the message `message_id`: the turn's own question is already kept
    (it is read back with the history); the prompt must carry it once, as the input, and
    nothing kept after it."""
    for index, message in enumerate(history):
        if message.id == message_id:
            return history[:index]
    return history


def build_chain(
    llm: BaseChatModel | Any,
    store: ChatStore,
    *,
    context_tokens: int = DEFAULT_CONTEXT_TOKENS,
) -> RunnableWithMessageHistory:
    """The seed chain over `store`. Invoke with {"ability", "input"} and
    config={"configurable": {"user_id": ..., "session_id": ...}}. The user's input is stored
    before the model is called; the answer joins it when the model succeeds."""

    def open_turn_and_fit_history(inputs: dict[str, Any], config: RunnableConfig) -> list:
        history: SessionHistory = config["configurable"]["message_history"]
        question = check_content(inputs["input"], allow_empty=False)
        ability = inputs.get("ability") or DEFAULT_ABILITY
        given: Turn | None = config["configurable"].get("turn")
        if given is not None:
            # The caller (stream_reply) stored this turn's question and stores its answer
            # itself: closing a stream early makes RunnableWithMessageHistory save the partial
            # text as if it were complete.
            turn = history.adopt_turn(given, question)
        else:
            turn = history.begin_turn(question, ability=ability)
        window = fit_history(
            history_before(inputs["history"], str(turn.question_id)),
            ability=ability,
            question=question,
            context_tokens=context_tokens,
        )
        return costed(window, config)

    def with_fitted_history(inputs: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        return {**inputs, "history": open_turn_and_fit_history(inputs, config)}

    # A plain lambda, not RunnablePassthrough.assign: assign runs its branch on a thread pool
    # started per call, which cost about a millisecond of every turn.
    inner = RunnableLambda(with_fitted_history)

    def history_of(user_id: str, session_id: str) -> SessionHistory:
        # Reads back only what the model's window could hold: a turn in a chat of any length
        # costs what a window costs.
        return SessionHistory(store, user_id, session_id, window_tokens=context_tokens)

    # Deprecated for langchain-core 2.0, which requirements.txt excludes; the warning would
    # only repeat at every app start what memory/history.py documents.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return _with_history(_ListenedAtTheRoot(bound=inner | build_prompt() | llm), history_of)


class _RootRunTracer(RootListenersTracer):
    """RootListenersTracer without a copy of the model's input messages.

    RunnableWithMessageHistory listens for the end of the root run only, yet the stock tracer
    serialises every message of every chat model run below it (dumpd of each history message:
    nearly half of a turn's own time with 800 messages in the prompt). Those inputs are never
    read, so the chat model run is recorded without them."""

    def _create_chat_model_run(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        return super()._create_chat_model_run(serialized, [], *args, **kwargs)


class _ListenedAtTheRoot(RunnableBinding):
    """The chain RunnableWithMessageHistory wraps: its listeners get _RootRunTracer."""

    def with_listeners(
        self, *, on_start: Any = None, on_end: Any = None, on_error: Any = None
    ) -> Any:
        def tracer(config: RunnableConfig) -> dict[str, Any]:
            return {
                "callbacks": [
                    _RootRunTracer(
                        config=config, on_start=on_start, on_end=on_end, on_error=on_error
                    )
                ]
            }

        return RunnableBinding(bound=self, config_factories=[tracer])


class _HistoryByUserAndSession(RunnableWithMessageHistory):
    """RunnableWithMessageHistory that names a missing user_id or session_id with InvalidId.

    With two ConfigurableFieldSpecs, langchain-core raises a bare ValueError for a missing key
    and never applies the spec's default; the UI shows InvalidId messages, so raise that."""

    def _merge_configs(self, *configs: RunnableConfig | None) -> RunnableConfig:
        configurable = merge_configs(self.config, *configs).get("configurable") or {}
        for key in HISTORY_KEYS:
            if key not in configurable:
                raise InvalidId(
                    f"{key} is missing: pass config={{'configurable': "
                    f"{{'user_id': ..., 'session_id': ...}}}}"
                )
        return super()._merge_configs(*configs)


def _with_history(
    runnable: Any, history_of: Callable[[str, str], BaseChatMessageHistory]
) -> RunnableWithMessageHistory:
    """`runnable` behind the one RunnableWithMessageHistory of this app: every chain, stored
    or temporary, picks its history by the same two ConfigurableFieldSpecs."""
    return _HistoryByUserAndSession(
        runnable,
        history_of,
        input_messages_key="input",
        history_messages_key="history",
        history_factory_config=[
            ConfigurableFieldSpec(
                id="user_id",
                annotation=str,
                name="User ID",
                description="Owner of the conversation.",
                is_shared=True,
            ),
            ConfigurableFieldSpec(
                id="session_id",
                annotation=str,
                name="Session ID",
                description="The conversation, within that user's sessions.",
                is_shared=True,
            ),
        ],
    )


class AnswerCutOff(Exception):
    """The model's stream ended without saying it had finished: the answer is incomplete."""

    def __init__(self) -> None:
        super().__init__(
            "The answer was cut off before the model finished it. What arrived is saved and "
            "marked interrupted: Retry to answer again."
        )


def stream_reply(
    chain: RunnableWithMessageHistory,
    store: ChatStore,
    turn: Turn,
    *,
    ability: str = DEFAULT_ABILITY,
    cost: TurnCost | None = None,
) -> Iterator[str]:
    """Stream the answer to `turn`, whose question is already stored (`ChatStore.begin_turn`,
    or `reopen_last_turn` to answer it again), yielding text as it arrives.

    The turn itself travels to the code that stores its answer: nothing finds it again by its
    text. The answer is stored when the stream ends. If it ends early (an error, the consumer
    closing the generator on stop or rerun), what arrived is stored as an interrupted answer
    and the exception goes on to the caller. A stream that ends without the model's
    finish_reason is interrupted too, and raises AnswerCutOff. `cost`, if given, is filled in
    with the prompt's and the answer's approximate tokens as the turn runs."""
    config: RunnableConfig = {
        "configurable": {
            "user_id": turn.user_id,
            "session_id": turn.session_id,
            "turn": turn,
            COST_KEY: cost,
        }
    }

    def store_answer(text: str, complete: bool) -> None:
        store.finish_turn(turn, text, status=COMPLETE if complete else INTERRUPTED)

    stream = chain.stream({"ability": ability, "input": turn.question}, config=config)
    yield from answer_text(stream, store_answer, cost)


def answer_text(
    stream: Iterator[Any], keep: Callable[[str, bool], None], cost: TurnCost | None = None
) -> Iterator[str]:
    """The text of a chain's streamed answer as it arrives. When the stream ends, however it
    ends, what arrived goes to `keep(text, complete)` (nothing, if nothing arrived of an
    unfinished answer), its tokens to `cost`, then the model's stream is closed. A stream that
    ends without the model's finish_reason is not complete, and raises AnswerCutOff once
    kept. The moment the model says it is done, one empty string is yielded: the answer is
    then complete, so a page can take its Stop away before the answer is stored."""
    parts: list[str] = []
    length = 0
    finished = ended_by_model = False
    try:
        for chunk in stream:
            # OpenAI-compatible servers end every answer with a finish_reason ("stop",
            # "length"...). A stream that just stops without one was cut off: its server died
            # and closed the connection, which over HTTP/1.0 looks like a normal end of body.
            finish = bool(getattr(chunk, "response_metadata", {}).get("finish_reason"))
            text = chunk.content if isinstance(chunk.content, str) else ""
            # An answer longer than a message may be is cut where the limit falls and kept,
            # marked interrupted, rather than lost when it could not be stored whole.
            text = text[: MAX_CONTENT_CHARS - length]
            if text:
                parts.append(text)
                length += len(text)
                yield text
            if finish and not ended_by_model:
                ended_by_model = True
                yield ""
            if length >= MAX_CONTENT_CHARS:
                break
        else:
            finished = ended_by_model
            if not finished:
                raise AnswerCutOff()
    finally:
        try:
            if cost is not None:
                cost.answer_tokens = answer_tokens("".join(parts))
            if finished or parts:
                # Complete once the model said so, even when the stream was closed after that
                # (a click landing as the page takes Stop away), unless cut to the limit.
                complete = finished or (ended_by_model and length < MAX_CONTENT_CHARS)
                keep("".join(parts), complete)
        finally:
            # Close the model's stream now rather than whenever the garbage collector finds
            # it, so its connection is released on this rerun and no part of it runs later.
            close = getattr(stream, "close", None)
            if close is not None:
                close()
