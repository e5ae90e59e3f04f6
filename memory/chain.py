"""The chain: the seed prompt, history trimmed to the model's window, and
RunnableWithMessageHistory keyed on two ConfigurableFieldSpecs, user_id and session_id."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, SystemMessage
from langchain_core.messages.utils import count_tokens_approximately, trim_messages
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import (
    ConfigurableFieldSpec,
    RunnableConfig,
    RunnableLambda,
    RunnablePassthrough,
)
from langchain_core.runnables.history import RunnableWithMessageHistory

from memory.history import SessionHistory
from memory.store import DEFAULT_ABILITY, INTERRUPTED, ChatStore, Turn
from memory.validation import check_content

SYSTEM_PROMPT = "You are an assistant specialized in {ability}. Answer within 30 words."
# Room kept free in the model's window for the answer itself.
ANSWER_RESERVE_TOKENS = 256
# Used when the caller does not say how large the model's window is.
DEFAULT_CONTEXT_TOKENS = 16_000


def build_prompt() -> ChatPromptTemplate:
    """System line with the ability, then the history, then the user's input."""
    return ChatPromptTemplate.from_messages(
        [("system", SYSTEM_PROMPT), MessagesPlaceholder("history"), ("human", "{input}")]
    )


@dataclass(frozen=True)
class PromptWindow:
    """The part of a history sent to the model, and how many earlier messages were left out."""

    messages: list[BaseMessage]
    omitted: int


def fit_history(
    history: list[BaseMessage],
    *,
    ability: str,
    question: str,
    context_tokens: int = DEFAULT_CONTEXT_TOKENS,
) -> PromptWindow:
    """Keep the newest whole turns of `history` that fit beside the system line, the question
    and the answer reserve. The stored history is untouched; only the prompt is trimmed."""
    fixed = count_tokens_approximately(
        [SystemMessage(SYSTEM_PROMPT.format(ability=ability)), ("human", question)]
    )
    budget = context_tokens - fixed - ANSWER_RESERVE_TOKENS
    if budget <= 0 or not history:
        return PromptWindow([], len(history))
    kept = trim_messages(
        history,
        max_tokens=budget,
        token_counter=count_tokens_approximately,
        strategy="last",
        start_on="human",
        allow_partial=False,
    )
    return PromptWindow(kept, len(history) - len(kept))


def _history_before(history: list[BaseMessage], turn: Turn) -> list[BaseMessage]:
    # The turn's own question is already stored (it is read back with the history); the
    # prompt must carry it once, as the input, and nothing stored after it.
    for index, message in enumerate(history):
        if message.id == str(turn.question_id):
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
            history.open_turn = given
        turn = history.begin_turn(question, ability=ability)
        window = fit_history(
            _history_before(inputs["history"], turn),
            ability=ability,
            question=question,
            context_tokens=context_tokens,
        )
        return window.messages

    inner = RunnablePassthrough.assign(history=RunnableLambda(open_turn_and_fit_history))
    # Deprecated for langchain-core 2.0, which requirements.txt excludes; the warning would
    # only repeat at every app start what memory/history.py documents.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return _with_history(inner | build_prompt() | llm, store)


def _with_history(runnable: Any, store: ChatStore) -> RunnableWithMessageHistory:
    return RunnableWithMessageHistory(
        runnable,
        store.get_history,
        input_messages_key="input",
        history_messages_key="history",
        history_factory_config=[
            ConfigurableFieldSpec(
                id="user_id",
                annotation=str,
                name="User ID",
                description="Owner of the conversation.",
                default="",
                is_shared=True,
            ),
            ConfigurableFieldSpec(
                id="session_id",
                annotation=str,
                name="Session ID",
                description="The conversation, within that user's sessions.",
                default="",
                is_shared=True,
            ),
        ],
    )


def stream_reply(
    chain: RunnableWithMessageHistory,
    store: ChatStore,
    *,
    user_id: str,
    session_id: str,
    question: str,
    ability: str = DEFAULT_ABILITY,
    retry: bool = False,
) -> Iterator[str]:
    """Stream the answer to `question` (or, with retry=True, answer the session's last question
    again), yielding text as it arrives.

    The question is stored before the model is called. If the stream ends early (an error, the
    consumer closing the generator on stop or rerun), what arrived is stored as an interrupted
    answer and the exception goes on to the caller."""
    if retry:
        turn = store.reopen_last_turn(user_id, session_id)
        if turn is None:
            return
    else:
        turn = store.begin_turn(user_id, session_id, question, ability=ability)
    config: RunnableConfig = {
        "configurable": {"user_id": user_id, "session_id": session_id, "turn": turn}
    }
    parts: list[str] = []
    finished = False
    try:
        for chunk in chain.stream({"ability": ability, "input": turn.question}, config=config):
            text = chunk.content if isinstance(chunk.content, str) else ""
            if text:
                parts.append(text)
                yield text
        finished = True
    finally:
        if not finished and parts:
            store.finish_turn(turn, "".join(parts), status=INTERRUPTED)
