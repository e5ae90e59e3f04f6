"""A new chat's welcome: a line and starter prompts that fit the specialty; one click sends one
as if it had been typed."""

from __future__ import annotations

from accounts import Account
from memory import ChatStore
from tests.pages.app_driver import shown, signed_in, transcript
from tests.support.openai_stub import OpenAIStub


def stored(store: ChatStore, user: Account, session_id: str) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in store.load_messages(user.id, session_id)]


def test_a_new_chat_offers_starter_prompts_for_its_specialty_and_one_click_sends_one(
    store: ChatStore, model: OpenAIStub, bob: Account
) -> None:
    at = signed_in("bob")
    specialty = next(w for w in at.text_input if w.label == "Assistant's specialty")
    at = specialty.set_value("Java").run()
    starters = [w for w in at.main.button if (w.key or "").startswith("starter-")]
    assert [shown(w.label) for w in starters] == [
        "Explain the difference between an interface and an abstract class",
        "How do I read a file line by line?",
        "What does the final keyword do?",
    ]

    at = starters[1].click().run()

    session_id = at.query_params["session"]
    question = "How do I read a file line by line?"
    assert transcript(at) == [("user", question), ("assistant", f"Echo: {question}")]
    assert stored(store, bob, session_id) == [("human", question), ("ai", f"Echo: {question}")]
    assert store.get_session(bob.id, session_id).ability == "Java"
    # A stored chat has no welcome any more.
    assert not [w for w in at.main.button if (w.key or "").startswith("starter-")]
