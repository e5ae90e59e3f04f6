"""The app's client sends the same Chat Completions request as langchain-openai's ChatOpenAI,
byte for byte in meaning, while skipping the SDK's per-message transform."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from llm.provider import ChatCompletionsClient
from tests.support.openai_stub import OpenAIStub

CONVERSATION = [
    SystemMessage("You are an assistant specialized in Java. Answer within 30 words."),
    HumanMessage("What is jvm?"),
    AIMessage("A virtual machine that runs Java bytecode."),
    HumanMessage('And "javac" — with ünïcödé, 東京 and 😀?'),
]


def request_of(client_class: type[ChatOpenAI], stub: OpenAIStub) -> dict:
    client = client_class(
        model="stub-model",
        base_url=stub.url,
        api_key=SecretStr("sk-test"),
        streaming=True,
        use_responses_api=False,
        max_tokens=64,
        temperature=0.2,
    )
    stub.requests.clear()
    answer = "".join(str(chunk.content) for chunk in client.stream(CONVERSATION))
    assert answer.startswith("Echo:")
    [body] = stub.requests
    return body


def test_the_request_body_is_what_chat_openai_sends(stub: OpenAIStub) -> None:
    ours = request_of(ChatCompletionsClient, stub)
    theirs = request_of(ChatOpenAI, stub)

    assert ours == theirs
    assert [m["role"] for m in ours["messages"]] == ["system", "user", "assistant", "user"]
    assert ours["messages"][-1]["content"] == 'And "javac" — with ünïcödé, 東京 and 😀?'
