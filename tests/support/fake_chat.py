"""A fake chat model for unit tests of logic: it records every prompt it receives, answers
from a script, streams word by word, and can fail on purpose after some words."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult


class RecordingChatModel(BaseChatModel):
    """Answers "answer N" (or the next scripted reply) and keeps each prompt in `prompts`."""

    replies: list[str] = []
    prompts: list[list[BaseMessage]] = []
    fail_after_words: int | None = None
    error: type[Exception] = ConnectionError
    # A stream that just stops, as one whose server died with the connection closed.
    end_without_finish_reason: bool = False

    @property
    def _llm_type(self) -> str:
        return "recording-fake"

    def _next_reply(self, messages: list[BaseMessage]) -> str:
        self.prompts.append(list(messages))
        if self.replies:
            return self.replies.pop(0)
        return f"answer {len(self.prompts)}"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = self._next_reply(messages)
        if self.fail_after_words is not None:
            raise self.error("model failed on purpose")
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=reply))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        reply = self._next_reply(messages)
        for index, word in enumerate(reply.split(" ")):
            if self.fail_after_words is not None and index >= self.fail_after_words:
                raise self.error("model failed on purpose mid-stream")
            text = word if index == 0 else " " + word
            yield ChatGenerationChunk(message=AIMessageChunk(content=text))
        if not self.end_without_finish_reason:
            # As an OpenAI-compatible server ends every answer it completes.
            yield ChatGenerationChunk(
                message=AIMessageChunk(content=""), generation_info={"finish_reason": "stop"}
            )
