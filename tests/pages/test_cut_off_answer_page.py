"""An answer whose model server dies mid-stream, with no finish_reason and no [DONE], is shown
and stored as interrupted, with a sentence and Retry, never as a complete answer."""

from __future__ import annotations

import pytest

from accounts import Account
from memory import ChatStore
from memory.store import COMPLETE, INTERRUPTED
from tests.pages.app_driver import button, errors, page_text, send, signed_in, transcript
from tests.support import openai_stub
from tests.support.openai_stub import OpenAIStub


@pytest.mark.parametrize("cut", [openai_stub.CUT_HTTP10, openai_stub.CUT_CHUNKED])
def test_a_cut_off_answer_is_marked_interrupted_and_retry_answers_it(
    store: ChatStore, model: OpenAIStub, bob: Account, cut: str
) -> None:
    model.mode = cut
    at = send(signed_in("bob"), "what is a jvm")

    assert any("cut off" in error for error in errors(at))
    session_id = at.query_params["session"]
    assert [(m.role, m.content, m.status) for m in store.load_messages(bob.id, session_id)] == [
        ("human", "what is a jvm", COMPLETE),
        ("ai", "Echo: what is", INTERRUPTED),
    ]

    model.mode = openai_stub.NORMAL
    at = at.run()  # the next run draws the stored chat
    assert "This answer was interrupted." in page_text(at)
    at = button(at, "Retry").click().run()

    assert transcript(at)[-1] == ("assistant", "Echo: what is a jvm")
    assert [m.status for m in store.load_messages(bob.id, session_id)] == [COMPLETE, COMPLETE]
