"""Temporary chats: conversations that live in this process's memory only, never in SQL or on
disk, for as long as the browser session that opened them.

A temporary chat is a LangChain InMemoryChatMessageHistory keyed on (user_id, session_id), as a
stored chat is a SQL history keyed on the same pair, and it is reached through the same
RunnableWithMessageHistory subclass, ConfigurableFieldSpecs, prompt and window trimming as
memory/chain.py's `build_chain`. Nothing here imports the store's tables or any file API, so
there is no path by which its text could reach the database or the data directory.

Lifetime: `TemporaryChats.open` hands out a `TemporaryChat` lease. The UI keeps the lease in
st.session_state; when Streamlit drops the browser session, the lease is garbage collected and
its history forgotten (weakref.finalize). `close()` forgets it at once.

The turn conventions are the store's (memory/store.py, memory/chain.py's `stream_reply`): the
question is kept before the model runs, so a failing model keeps it; the answer joins it when
the model finishes; an answer that ends early is kept marked interrupted
(additional_kwargs={"interrupted": True}, as memory/history.py marks a stored one).
"""

from __future__ import annotations

import threading
import uuid
import warnings
import weakref
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.chat_history import BaseChatMessageHistory, InMemoryChatMessageHistory
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.runnables.history import RunnableWithMessageHistory

import settings
from memory.chain import (
    COST_KEY,
    DEFAULT_CONTEXT_TOKENS,
    TurnCost,
    _ListenedAtTheRoot,
    _with_history,
    answer_text,
    build_prompt,
    costed,
    fit_history,
    history_before,
)
from memory.errors import ChatFull, SessionNotFound
from memory.history import role_of
from memory.store import DEFAULT_ABILITY, DEFAULT_MAX_MESSAGES_PER_CHAT, new_session_id
from memory.validation import check_content, check_id

# The configurable key by which `stream_temporary_reply` hands the chain the question it kept.
QUESTION_KEY = "question"
_MESSAGE_OF_ROLE: dict[str, type[BaseMessage]] = {
    "human": HumanMessage,
    "ai": AIMessage,
    "system": SystemMessage,
}


def _new_message_id() -> str:
    # Messages are told apart by id, never by text: two identical questions are two turns.
    return uuid.uuid4().hex


class TemporaryChats:
    """Every temporary chat of this process, keyed on (user_id, session_id). Thread-safe; share
    one per process (the app's reruns run on many threads)."""

    def __init__(self, *, max_messages_per_chat: int | None = None) -> None:
        # The same cap as a stored chat's: one temporary chat cannot grow the process without
        # bound either.
        self.max_messages_per_chat = max_messages_per_chat or settings.get_int(
            "MAX_MESSAGES_PER_CHAT", DEFAULT_MAX_MESSAGES_PER_CHAT
        )
        self._chats: dict[tuple[str, str], InMemoryChatMessageHistory] = {}
        self._lock = threading.Lock()
        # Chats whose lease was collected while the lock was held. The garbage collector runs
        # finalizers on whichever thread it interrupts, possibly this registry's own inside a
        # locked section: waiting there for the Lock would deadlock, and an RLock would let
        # the finalizer change the dict under an operation that is iterating it. So a
        # finalizer only queues its key (deque.append is atomic) and every operation forgets
        # the queued keys first.
        self._pending: deque[tuple[str, str]] = deque()

    def full_message(self) -> str:
        """What to tell a user whose temporary chat has reached MAX_MESSAGES_PER_CHAT."""
        return (
            f"This temporary chat holds {self.max_messages_per_chat:,} messages, the most one "
            "chat may hold. Start a new chat to go on."
        )

    # Leases ---------------------------------------------------------------------------------

    def open(self, user_id: str) -> TemporaryChat:
        """A new, empty temporary chat of `user_id`, forgotten when the lease returned is
        closed or garbage collected."""
        key = (check_id(user_id, "user_id"), new_session_id())
        with self._lock:
            self._forget_pending()
            self._chats[key] = InMemoryChatMessageHistory()
        return TemporaryChat(self, *key)

    def _forget_later(self, key: tuple[str, str]) -> None:
        """A lease's finalizer: forget its chat now if the lock is free, else at the next
        operation (see `_pending`)."""
        self._pending.append(key)
        if self._lock.acquire(blocking=False):
            try:
                self._forget_pending()
            finally:
                self._lock.release()

    def _forget_pending(self) -> None:
        # Called with the lock held.
        while self._pending:
            self._chats.pop(self._pending.popleft(), None)

    # Reading --------------------------------------------------------------------------------

    def history(self, user_id: str, session_id: str) -> InMemoryChatMessageHistory:
        """The chat's LangChain history, created empty on first use. Read it; write through
        `add_question`/`add_answer`/`append`, which check content and the cap under the lock."""
        key = (check_id(user_id, "user_id"), check_id(session_id, "session_id"))
        with self._lock:
            self._forget_pending()
            return self._chats.setdefault(key, InMemoryChatMessageHistory())

    def messages(self, user_id: str, session_id: str) -> list[BaseMessage]:
        """The chat's messages, oldest first (a copy of the list); [] for an unknown chat."""
        key = (check_id(user_id, "user_id"), check_id(session_id, "session_id"))
        with self._lock:
            self._forget_pending()
            chat = self._chats.get(key)
            return [] if chat is None else list(chat.messages)

    def count(self, user_id: str) -> int:
        """How many temporary chats `user_id` has open in this process."""
        check_id(user_id, "user_id")
        with self._lock:
            self._forget_pending()
            return sum(1 for owner, _ in self._chats if owner == user_id)

    def __len__(self) -> int:
        with self._lock:
            self._forget_pending()
            return len(self._chats)

    # Writing --------------------------------------------------------------------------------

    def add_question(
        self, user_id: str, session_id: str, question: str, *, opened: bool = False
    ) -> HumanMessage:
        """Keep the user's question as a new turn, before any model is called, creating the
        chat on first use, unless `opened`: then only a chat opened by a lease and not yet
        forgotten takes it (SessionNotFound otherwise), so a lease closed a moment earlier
        never leaves a chat behind with no lease to forget it. The message returned is what
        the answer joins (`add_answer`).

        As `ChatStore.begin_turn`: the same question still unanswered at the end of the chat
        (sent again after a failure) is that turn again, not a second copy; and a question is
        refused with ChatFull unless the chat has room for it and its answer."""
        key = (check_id(user_id, "user_id"), check_id(session_id, "session_id"))
        question = check_content(question, allow_empty=False)
        with self._lock:
            self._forget_pending()
            if opened and key not in self._chats:
                raise SessionNotFound("this temporary chat was closed: its messages are gone")
            messages = self._chats.setdefault(key, InMemoryChatMessageHistory()).messages
            last = messages[-1] if messages else None
            if isinstance(last, HumanMessage) and last.content == question:
                return last
            if len(messages) + 2 > self.max_messages_per_chat:
                raise ChatFull(self.full_message())
            message = HumanMessage(content=question, id=_new_message_id())
            messages.append(message)
            return message

    def add_answer(
        self,
        user_id: str,
        session_id: str,
        question: HumanMessage,
        answer: str,
        *,
        interrupted: bool = False,
    ) -> AIMessage:
        """Keep `answer` right after `question`, replacing any earlier answer to it (so a
        repeated save never duplicates). Raises SessionNotFound if the chat was forgotten
        meanwhile: a closed temporary chat is never brought back by a late answer."""
        key = (check_id(user_id, "user_id"), check_id(session_id, "session_id"))
        answer = check_content(answer)
        extra = {"interrupted": True} if interrupted else {}
        message = AIMessage(content=answer, id=_new_message_id(), additional_kwargs=extra)
        with self._lock:
            self._forget_pending()
            chat = self._chats.get(key)
            if chat is None:
                raise SessionNotFound("the temporary chat was closed before the answer arrived")
            messages = chat.messages
            at = next((i for i, m in enumerate(messages) if m.id == question.id), None)
            if at is None:
                raise SessionNotFound("the question is not in this temporary chat")
            end = at + 1
            while end < len(messages) and not isinstance(messages[end], HumanMessage):
                end += 1
            messages[at + 1 : end] = [message]
        return message

    def append(self, user_id: str, session_id: str, messages: Sequence[BaseMessage]) -> None:
        """Append messages in order, checked as the store checks them (text only, human, ai or
        system, within the cap), creating the chat on first use."""
        key = (check_id(user_id, "user_id"), check_id(session_id, "session_id"))
        checked: list[BaseMessage] = []
        for given in messages:
            role, content = role_of(given)
            message_class = _MESSAGE_OF_ROLE[role]
            checked.append(message_class(content=check_content(content), id=_new_message_id()))
        with self._lock:
            self._forget_pending()
            chat = self._chats.setdefault(key, InMemoryChatMessageHistory())
            if len(chat.messages) + len(checked) > self.max_messages_per_chat:
                raise ChatFull(self.full_message())
            chat.messages.extend(checked)

    # Forgetting -----------------------------------------------------------------------------

    def clear(self, user_id: str, session_id: str) -> None:
        """Remove every message of the chat; the chat itself stays open."""
        key = (check_id(user_id, "user_id"), check_id(session_id, "session_id"))
        with self._lock:
            self._forget_pending()
            chat = self._chats.get(key)
            if chat is not None:
                chat.clear()

    def forget(self, user_id: str, session_id: str) -> bool:
        """Drop the chat and its messages from memory; False if there was no such chat."""
        key = (check_id(user_id, "user_id"), check_id(session_id, "session_id"))
        with self._lock:
            self._forget_pending()
            return self._chats.pop(key, None) is not None

    def forget_user(self, user_id: str) -> int:
        """Drop every temporary chat of `user_id` (sign-out, erasure); how many there were."""
        check_id(user_id, "user_id")
        with self._lock:
            self._forget_pending()
            keys = [key for key in self._chats if key[0] == user_id]
            for key in keys:
                del self._chats[key]
            return len(keys)


class TemporaryChat:
    """A lease on one temporary chat: while it lives, so does the chat. Keep it where the
    browser session keeps its state (st.session_state); when that is dropped and the lease is
    garbage collected, or on `close()`, the chat's messages are forgotten."""

    def __init__(self, chats: TemporaryChats, user_id: str, session_id: str) -> None:
        self.user_id = user_id
        self.session_id = session_id
        self._chats = chats
        # The finalizer holds the registry and the key, never the lease itself, or the lease
        # would keep itself alive. It runs once: at close(), at collection or at exit.
        self._forget = weakref.finalize(self, chats._forget_later, (user_id, session_id))

    @property
    def closed(self) -> bool:
        return not self._forget.alive

    def messages(self) -> list[BaseMessage]:
        """The chat's messages, oldest first; [] once closed."""
        return [] if self.closed else self._chats.messages(self.user_id, self.session_id)

    def close(self) -> None:
        """Forget the chat now (a second call does nothing)."""
        self._forget()

    def __repr__(self) -> str:
        # Ids only: a lease may be logged, its chat's text never.
        state = "closed" if self.closed else "open"
        return f"TemporaryChat(user_id={self.user_id!r}, session_id={self.session_id!r}, {state})"


class TemporaryHistory(BaseChatMessageHistory):
    """One temporary chat as the chain's BaseChatMessageHistory, made per call.

    Inside a chain turn, `keep_question` keeps the question before the model runs; the
    `add_messages` call RunnableWithMessageHistory makes after the answer then keeps only the
    answer, joined to that question. After `adopt_question` (stream_temporary_reply) the caller
    keeps the answer itself and that call keeps nothing: a stream closed early ends the run as
    if it were complete, and its partial text must be kept once, marked interrupted."""

    def __init__(self, chats: TemporaryChats, user_id: str, session_id: str) -> None:
        self.chats = chats
        self.user_id = check_id(user_id, "user_id")
        self.session_id = check_id(session_id, "session_id")
        self.open_question: HumanMessage | None = None
        self.caller_keeps_answer = False

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        return self.chats.messages(self.user_id, self.session_id)

    def keep_question(self, question: str) -> HumanMessage:
        """Keep the question now, as the open turn whose answer `add_messages` keeps."""
        self.open_question = self.chats.add_question(self.user_id, self.session_id, question)
        self.caller_keeps_answer = False
        return self.open_question

    def adopt_question(self, kept: HumanMessage, question: str) -> HumanMessage:
        """Take `kept`, kept by the caller in this chat, as the open turn; the caller keeps its
        answer. It is checked to be this chat's message and this input, never looked up by
        text."""
        if not any(message.id == kept.id for message in self.messages):
            raise ValueError("the question belongs to another conversation than this history")
        if kept.content != question:
            raise ValueError("the input is not the question the chat kept")
        self.open_question = kept
        self.caller_keeps_answer = True
        return kept

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Keep messages: the answer of the open turn, or else all of them in order."""
        question, self.open_question = self.open_question, None
        if question is not None and self.caller_keeps_answer:
            return
        if question is None:
            self.chats.append(self.user_id, self.session_id, messages)
            return
        answers = [content for role, content in map(role_of, messages) if role != "human"]
        self.chats.add_answer(self.user_id, self.session_id, question, "".join(answers))

    def clear(self) -> None:
        self.open_question = None
        self.chats.clear(self.user_id, self.session_id)


def build_temporary_chain(
    llm: BaseChatModel | Any,
    chats: TemporaryChats,
    *,
    context_tokens: int = DEFAULT_CONTEXT_TOKENS,
) -> RunnableWithMessageHistory:
    """The seed chain over temporary chats: `build_chain`'s prompt, trimming and
    RunnableWithMessageHistory, with histories from `chats`. Invoke with {"ability", "input"}
    and config={"configurable": {"user_id": ..., "session_id": ...}}."""

    def keep_question_and_fit_history(inputs: dict[str, Any], config: RunnableConfig) -> list:
        history: TemporaryHistory = config["configurable"]["message_history"]
        question = check_content(inputs["input"], allow_empty=False)
        ability = inputs.get("ability") or DEFAULT_ABILITY
        given: HumanMessage | None = config["configurable"].get(QUESTION_KEY)
        if given is not None:
            kept = history.adopt_question(given, question)
        else:
            kept = history.keep_question(question)
        window = fit_history(
            history_before(inputs["history"], str(kept.id)),
            ability=ability,
            question=question,
            context_tokens=context_tokens,
        )
        return costed(window, config)

    def with_fitted_history(inputs: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        return {**inputs, "history": keep_question_and_fit_history(inputs, config)}

    def history_of(user_id: str, session_id: str) -> TemporaryHistory:
        return TemporaryHistory(chats, user_id, session_id)

    inner = RunnableLambda(with_fitted_history)
    # As in build_chain: the deprecation for langchain-core 2.0 is documented, not repeated.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return _with_history(_ListenedAtTheRoot(bound=inner | build_prompt() | llm), history_of)


def stream_temporary_reply(
    chain: RunnableWithMessageHistory,
    chats: TemporaryChats,
    chat: TemporaryChat,
    question: str,
    *,
    ability: str = DEFAULT_ABILITY,
    cost: TurnCost | None = None,
) -> Iterator[str]:
    """Keep `question` in `chat` now, then stream its answer, yielding text as it arrives.

    `stream_reply`'s promises, in memory: the question is kept at this call, before the
    model runs (a failing model, or a stream never read, keeps it; InvalidContent, ChatFull
    and SessionNotFound for a closed chat are raised here). The answer is kept when the stream
    ends. If it ends early (an error, the consumer closing the generator on stop or rerun),
    what arrived is kept marked interrupted and the exception goes on to the caller. A stream
    that ends without the model's finish_reason is interrupted too, and raises AnswerCutOff.
    `cost`, if given, is filled in with the prompt's and the answer's approximate tokens."""
    if chat.closed:
        raise SessionNotFound("this temporary chat was closed: its messages are gone")
    kept = chats.add_question(chat.user_id, chat.session_id, question, opened=True)
    return _stream_answer(chain, chats, chat, kept, ability=ability, cost=cost)


def _stream_answer(
    chain: RunnableWithMessageHistory,
    chats: TemporaryChats,
    chat: TemporaryChat,
    question: HumanMessage,
    *,
    ability: str,
    cost: TurnCost | None,
) -> Iterator[str]:
    # `chat` is held for the whole stream: the lease cannot be collected under its answer.
    config: RunnableConfig = {
        "configurable": {
            "user_id": chat.user_id,
            "session_id": chat.session_id,
            QUESTION_KEY: question,
            COST_KEY: cost,
        }
    }

    def keep_answer(text: str, complete: bool) -> None:
        chats.add_answer(chat.user_id, chat.session_id, question, text, interrupted=not complete)

    stream = chain.stream({"ability": ability, "input": question.content}, config=config)
    yield from answer_text(stream, keep_answer, cost)
