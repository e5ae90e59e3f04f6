"""The thin adapter between the store and LangChain's BaseChatMessageHistory.

BaseChatMessageHistory and RunnableWithMessageHistory are deprecated for langchain-core 2.0;
this module and memory/chain.py are the only places that know them, so the move to LangGraph
persistence touches these two files and nothing in the store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    BaseMessageChunk,
    HumanMessage,
    SystemMessage,
    message_chunk_to_message,
)
from langchain_core.messages.utils import count_tokens_approximately

from memory.errors import InvalidContent
from memory.store import DEFAULT_ABILITY, INTERRUPTED, MessageCursor, StoredMessage, Turn
from memory.validation import check_id

if TYPE_CHECKING:
    from memory.store import ChatStore

_CLASS_OF_ROLE: dict[str, type[BaseMessage]] = {
    "human": HumanMessage,
    "ai": AIMessage,
    "system": SystemMessage,
}


def to_langchain(message: StoredMessage) -> BaseMessage:
    """A stored message as a LangChain message whose id is the row id."""
    return _message(message.id, message.role, message.content, message.status)


def _message(row_id: int, role: str, content: str, status: str) -> BaseMessage:
    extra = {"interrupted": True} if status == INTERRUPTED else {}
    return _CLASS_OF_ROLE[role](content=content, id=str(row_id), additional_kwargs=extra)


# Messages read per query while walking a conversation back from its newest message.
TAIL_PAGE_MESSAGES = 200


def recent_messages(
    store: ChatStore, user_id: str, session_id: str, *, window_tokens: int
) -> list[BaseMessage]:
    """The session's newest messages, oldest first: enough of them to more than fill a window
    of `window_tokens`, or all of them. Trimming these to the window keeps exactly what
    trimming the whole history would, and a turn reads what one window holds, not the chat."""
    newest_first: list[BaseMessage] = []
    tokens = 0
    before: MessageCursor | None = None
    while True:
        rows = store.load_conversation_before(
            user_id, session_id, before=before, limit=TAIL_PAGE_MESSAGES
        )
        for row_id, _turn, role, content, status in rows:
            message = _message(row_id, role, content, status)
            newest_first.append(message)
            # Counted one message at a time, each count rounds up by less than one token: the
            # total is then never more than the true count of these messages together.
            tokens += count_tokens_approximately([message]) - 1
        if len(rows) < TAIL_PAGE_MESSAGES or tokens > window_tokens:
            return newest_first[::-1]
        last_id, last_turn = rows[-1][0], rows[-1][1]
        before = MessageCursor(last_turn, last_id)


def role_of(message: BaseMessage) -> tuple[str, str]:
    """(role, text) of a LangChain message, streamed chunks normalised to plain messages."""
    if isinstance(message, BaseMessageChunk):
        message = message_chunk_to_message(message)
    if not isinstance(message.content, str):
        raise InvalidContent("only text message content can be stored")
    if isinstance(message, HumanMessage):
        return "human", message.content
    if isinstance(message, AIMessage):
        return "ai", message.content
    if isinstance(message, SystemMessage):
        return "system", message.content
    raise InvalidContent(f"unsupported message type {message.type!r}")


class SessionHistory(BaseChatMessageHistory):
    """The history of exactly one (user_id, session_id) pair.

    Inside a chain turn, `begin_turn` stores the question before the model runs; the
    `add_messages` call that RunnableWithMessageHistory makes after a successful answer then
    stores only the answer, into the same turn."""

    def __init__(
        self,
        store: ChatStore,
        user_id: str,
        session_id: str,
        *,
        window_tokens: int | None = None,
    ) -> None:
        self.store = store
        self.user_id = check_id(user_id, "user_id")
        self.session_id = check_id(session_id, "session_id")
        # Set by the chain: `messages` then reads only the newest messages a prompt of this
        # many tokens could use (see recent_messages); None reads the whole history.
        self.window_tokens = window_tokens
        self.open_turn: Turn | None = None
        # True when the caller stores the open turn's answer itself (see stream_reply).
        self.caller_stores_answer = False

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        if self.window_tokens is not None:
            return recent_messages(
                self.store, self.user_id, self.session_id, window_tokens=self.window_tokens
            )
        rows = self.store.load_conversation(self.user_id, self.session_id)
        return [_message(*row) for row in rows]

    def begin_turn(self, question: str, *, ability: str = DEFAULT_ABILITY) -> Turn:
        """Store the question now, as the open turn whose answer `add_messages` stores."""
        self.open_turn = self.store.begin_turn(
            self.user_id, self.session_id, question, ability=ability
        )
        self.caller_stores_answer = False
        return self.open_turn

    def adopt_turn(self, turn: Turn, question: str) -> Turn:
        """Take `turn`, stored by the caller, as the open turn; the caller stores its answer.
        The turn is checked to be this history's and this question's, never looked up."""
        if (turn.user_id, turn.session_id) != (self.user_id, self.session_id):
            raise ValueError("the turn belongs to another conversation than this history")
        if turn.question != question:
            raise ValueError("the input is not the question the turn stored")
        self.open_turn = turn
        self.caller_stores_answer = True
        return turn

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Store messages: the answer of the open turn, or else (role, text) pairs in order."""
        pairs = [role_of(message) for message in messages]
        turn, self.open_turn = self.open_turn, None
        if turn is not None and self.caller_stores_answer:
            return
        if turn is None:
            self.store.append_messages(self.user_id, self.session_id, pairs)
            return
        answers = [content for role, content in pairs if role != "human"]
        self.store.finish_turn(turn, "".join(answers))

    def clear(self) -> None:
        """Delete every message of this session; the session itself stays."""
        self.open_turn = None
        self.store.clear_session(self.user_id, self.session_id)
