"""The chat page, driven through app.py by a user signed in with the real form: what is sent
is stored under that user's session and shown; the sidebar opens, renames, deletes and finds
only that user's chats; Retry answers again without a second copy of the question."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Button as ButtonElement

from accounts import Account
from memory import DEFAULT_ABILITY, MAX_CONTENT_CHARS, ChatStore
from memory.deleted import delete_chat
from tests.pages.app_driver import (
    blocks_of_type,
    button,
    errors,
    page_text,
    send,
    shown,
    sidebar_chats,
    signed_in,
    text_input,
    titles,
    transcript,
)
from tests.support.openai_stub import NORMAL, SERVER_ERROR, OpenAIStub
from ui.deleting import DELETED_KEY, UNDO_BUTTON_KEY
from ui.text import plain


def stored_chat(
    store: ChatStore, user: Account, question: str, *, title: str = "", answer: str = ""
) -> str:
    """A chat of `user` with one answered question, made through the store's API; its id."""
    session_id = store.create_session(user.id, title=title).session_id
    turn = store.begin_turn(user.id, session_id, question)
    store.finish_turn(turn, answer or f"Echo: {question}")
    return session_id


def stored(store: ChatStore, user: Account, session_id: str) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in store.load_messages(user.id, session_id)]


def test_a_new_chat_asks_for_the_specialty_and_stores_question_and_answer_for_the_user(
    store: ChatStore, model: OpenAIStub, ada: Account, bob: Account
) -> None:
    at = signed_in("bob")
    assert titles(at) == ["New chat"]
    specialty = text_input(at, "Assistant's specialty")
    assert specialty.value == DEFAULT_ABILITY

    specialty.input("Java").run()
    at = send(at, "What is jvm?")

    assert not at.exception
    assert transcript(at) == [("user", "What is jvm?"), ("assistant", "Echo: What is jvm?")]
    session_id = at.query_params["session"]
    [summary] = store.list_sessions(bob.id)
    assert (summary.session_id, summary.ability, summary.title) == (
        session_id,
        "Java",
        "What is jvm?",
    )
    assert stored(store, bob, session_id) == [
        ("human", "What is jvm?"),
        ("ai", "Echo: What is jvm?"),
    ]
    assert store.list_sessions(ada.id) == []
    # The model was asked as a Java specialist, with the question once.
    [prompt] = model.prompts
    assert "Java" in prompt[0]["content"] and prompt[0]["role"] == "system"
    assert [m["content"] for m in prompt if m["role"] == "user"] == ["What is jvm?"]
    # The stored chat is now the page's: its title, its specialty, listed in the sidebar.
    assert titles(at) == ["What is jvm?"]
    assert any("Java" in caption.value for caption in at.caption)
    assert sidebar_chats(at) == {session_id: "What is jvm?"}


def test_an_empty_message_is_ignored(store: ChatStore, model: OpenAIStub, bob: Account) -> None:
    at = signed_in("bob")

    at = send(at, "   \n  ")

    assert not at.exception
    assert transcript(at) == []
    assert errors(at) == []
    assert store.list_sessions(bob.id) == []
    assert model.requests == []


def test_an_over_long_message_is_refused_with_its_text_shown_back(
    store: ChatStore, model: OpenAIStub, bob: Account
) -> None:
    at = signed_in("bob")
    text = "x" * MAX_CONTENT_CHARS + " the end"

    at = send(at, text)

    assert not at.exception
    [error] = errors(at)
    assert f"{len(text):,} characters" in error and f"{MAX_CONTENT_CHARS:,}" in error
    assert "not sent" in error
    assert [code.value for code in at.code] == [text]
    assert transcript(at) == []
    assert store.list_sessions(bob.id) == []
    assert model.requests == []


def test_a_message_of_exactly_the_limit_is_accepted_and_stored(
    store: ChatStore, model: OpenAIStub, bob: Account
) -> None:
    at = signed_in("bob")
    # One long word: the stub echoes word by word, and this keeps its answer to two chunks.
    text = "x" * MAX_CONTENT_CHARS

    at = send(at, text)

    assert not at.exception
    assert not any("not sent" in error for error in errors(at))
    assert [code.value for code in at.code] == []
    [summary] = store.list_sessions(bob.id)
    assert stored(store, bob, summary.session_id)[0] == ("human", text)
    assert len(model.requests) == 1


def test_an_answer_longer_than_the_limit_is_stored_cut_to_the_limit_not_lost(
    store: ChatStore, model: OpenAIStub, bob: Account
) -> None:
    """finish_turn refuses more than MAX_CONTENT_CHARS, so stream_reply stops the answer at the
    limit and keeps it, marked interrupted, instead of losing what the user watched stream."""
    at = signed_in("bob")
    text = "x" * MAX_CONTENT_CHARS  # the stub answers "Echo: " + text: 6 characters too many

    at = send(at, text)

    [summary] = store.list_sessions(bob.id)
    messages = store.load_messages(bob.id, summary.session_id)
    assert [m.role for m in messages] == ["human", "ai"]
    assert messages[1].content.startswith("Echo: xxx")
    assert len(messages[1].content) <= MAX_CONTENT_CHARS


def test_new_chat_opens_an_empty_chat_and_keeps_the_previous_one(
    store: ChatStore, bob: Account
) -> None:
    at = signed_in("bob")
    at = send(at, "What is jvm?")
    first = at.query_params["session"]

    at = button(at.sidebar, "New chat").click().run()

    second = at.query_params["session"]
    assert second != first
    assert titles(at) == ["New chat"]
    assert transcript(at) == []
    assert sidebar_chats(at) == {first: "What is jvm?"}
    # Sending in the new chat stores a second chat; the first is untouched.
    at = send(at, "What is gc?")
    assert at.query_params["session"] == second
    assert stored(store, bob, second) == [("human", "What is gc?"), ("ai", "Echo: What is gc?")]
    assert stored(store, bob, first) == [("human", "What is jvm?"), ("ai", "Echo: What is jvm?")]


def test_clicking_a_chat_in_the_sidebar_opens_it(store: ChatStore, bob: Account) -> None:
    jvm = stored_chat(store, bob, "What is jvm?")
    pasta = stored_chat(store, bob, "How long do I boil pasta?")
    at = signed_in("bob")
    assert sidebar_chats(at) == {jvm: "What is jvm?", pasta: "How long do I boil pasta?"}

    at = at.sidebar.button(key=f"open-{jvm}").click().run()

    assert at.query_params["session"] == jvm
    assert transcript(at) == [("user", "What is jvm?"), ("assistant", "Echo: What is jvm?")]
    assert at.sidebar.button(key=f"open-{jvm}").proto.type == "primary"
    assert at.sidebar.button(key=f"open-{pasta}").proto.type == "tertiary"

    at = at.sidebar.button(key=f"open-{pasta}").click().run()

    assert at.query_params["session"] == pasta
    assert transcript(at) == [
        ("user", "How long do I boil pasta?"),
        ("assistant", "Echo: How long do I boil pasta?"),
    ]


def test_the_session_in_the_url_opens_that_chat(store: ChatStore, bob: Account) -> None:
    jvm = stored_chat(store, bob, "What is jvm?")
    stored_chat(store, bob, "How long do I boil pasta?")
    at = signed_in("bob")

    at.query_params["session"] = jvm
    at = at.run()

    assert transcript(at) == [("user", "What is jvm?"), ("assistant", "Echo: What is jvm?")]
    assert titles(at) == ["What is jvm?"]


def test_renaming_a_chat_changes_its_title_on_the_page_and_in_the_sidebar(
    store: ChatStore, bob: Account
) -> None:
    jvm = stored_chat(store, bob, "What is jvm?")
    at = signed_in("bob")
    at.query_params["session"] = jvm
    at = at.run()

    text_input(at, "New title", form="rename").input("JVM basics")
    at = button(at, "Save").click().run()

    assert not at.exception
    assert store.get_session(bob.id, jvm).title == "JVM basics"
    assert titles(at) == ["JVM basics"]
    # Saved, the Rename popover closes.
    assert at.session_state["rename-popover"] is False
    assert sidebar_chats(at) == {jvm: "JVM basics"}


def test_renaming_a_chat_to_nothing_is_refused(store: ChatStore, bob: Account) -> None:
    jvm = stored_chat(store, bob, "What is jvm?")
    at = signed_in("bob")
    at.query_params["session"] = jvm
    at = at.run()

    text_input(at, "New title", form="rename").input("   ")
    at = button(at, "Save").click().run()

    assert errors(at) == ["The title is empty."]
    assert store.get_session(bob.id, jvm).title == "What is jvm?"


def test_deleting_a_chat_asks_first_then_removes_it_and_only_it(
    store: ChatStore, bob: Account
) -> None:
    jvm = stored_chat(store, bob, "What is jvm?")
    pasta = stored_chat(store, bob, "How long do I boil pasta?")
    at = signed_in("bob")
    at.query_params["session"] = jvm
    at = at.run()

    # The page offers "Delete" as a popover: its only action is the confirming button, under
    # the warning; showing it deletes nothing.
    [popover] = [p for p in blocks_of_type(at, "popover") if p.proto.popover.label == "Delete"]
    assert "undo it for a few seconds" in " ".join(m.value for m in popover.markdown)
    assert [b.label for b in popover.button] == ["Delete chat"]
    assert store.get_session(bob.id, jvm) is not None

    at = popover.button[0].click().run()

    assert not at.exception
    assert store.get_session(bob.id, jvm) is None
    assert store.load_messages(bob.id, jvm) == []
    assert at.query_params["session"] not in (jvm, pasta)
    assert titles(at) == ["New chat"]
    assert sidebar_chats(at) == {pasta: "How long do I boil pasta?"}
    assert len(stored(store, bob, pasta)) == 2


def undo_button(at: AppTest) -> list[ButtonElement]:
    return [b for b in at.main.button if b.key == UNDO_BUTTON_KEY]


def deleted_from_its_header(store: ChatStore, user: Account) -> tuple[str, AppTest]:
    """A chat of `user` opened, then deleted with its header's Delete: its id, and the page."""
    jvm = stored_chat(store, user, "What is jvm?")
    at = signed_in(user.username)
    at.query_params["session"] = jvm
    at = at.run()
    [popover] = [p for p in blocks_of_type(at, "popover") if p.proto.popover.label == "Delete"]
    return jvm, popover.button[0].click().run()


def test_undo_after_a_delete_brings_the_chat_back_open_with_its_messages(
    store: ChatStore, bob: Account
) -> None:
    jvm, at = deleted_from_its_header(store, bob)
    assert "“What is jvm?” was deleted." in [shown(info.value) for info in at.info]
    [undo] = undo_button(at)
    assert undo.label.startswith("Undo (")

    at = undo.click().run()

    assert not at.exception and errors(at) == []
    assert at.query_params["session"] == jvm
    assert titles(at) == ["What is jvm?"]
    assert transcript(at) == [("user", "What is jvm?"), ("assistant", "Echo: What is jvm?")]
    assert sidebar_chats(at) == {jvm: "What is jvm?"}
    assert undo_button(at) == []


def test_undo_too_late_says_so_and_brings_nothing_back(
    store: ChatStore, bob: Account, monkeypatch
) -> None:
    jvm, at = deleted_from_its_header(store, bob)
    [undo] = undo_button(at)
    # The notice is drawn; the time runs out before the click reaches the server.
    monkeypatch.setattr("memory.deleted.UNDO_SECONDS", 0.0)

    at = undo.click().run()

    assert any("too late" in error for error in errors(at))
    assert store.get_session(bob.id, jvm) is None
    assert undo_button(at) == []


def test_another_accounts_deleted_chat_in_the_session_is_neither_offered_nor_restored(
    store: ChatStore, bob: Account, cleo: Account
) -> None:
    jvm = stored_chat(store, bob, "What is jvm?")
    bobs_copy = delete_chat(store, bob.id, jvm)
    at = signed_in("cleo")
    at.session_state[DELETED_KEY] = bobs_copy

    at = at.run()

    assert undo_button(at) == [] and at.info.len == 0
    assert DELETED_KEY not in at.session_state
    assert store.get_session(bob.id, jvm) is None


def test_search_lists_only_the_users_own_matching_chats(
    store: ChatStore, bob: Account, cleo: Account
) -> None:
    kotlin = stored_chat(store, bob, "Kotlin coroutines?")
    in_answer = stored_chat(store, bob, "Which language for Android?", answer="Kotlin, mostly.")
    stored_chat(store, bob, "How long do I boil pasta?")
    stored_chat(store, cleo, "Kotlin or Java for cleo?")
    at = signed_in("bob")

    at = at.sidebar.text_input(key="session_search").input("kotlin").run()

    assert sidebar_chats(at) == {
        kotlin: "Kotlin coroutines?",
        in_answer: "Which language for Android?",
    }
    assert "cleo" not in page_text(at)

    at = at.sidebar.text_input(key="session_search").input("no such words").run()

    assert sidebar_chats(at) == {}
    assert "No chat matches." in [caption.value for caption in at.sidebar.caption]


def test_search_matches_percent_and_underscore_literally(store: ChatStore, bob: Account) -> None:
    percent = stored_chat(store, bob, "Am I 100% sure?")
    stored_chat(store, bob, "Am I 100 sure?")
    underscore = stored_chat(store, bob, "Is snake_case better?")
    stored_chat(store, bob, "Is snakeXcase better?")
    at = signed_in("bob")

    at = at.sidebar.text_input(key="session_search").input("%").run()
    assert set(sidebar_chats(at)) == {percent}

    at = at.sidebar.text_input(key="session_search").input("snake_case").run()
    assert set(sidebar_chats(at)) == {underscore}

    at = at.sidebar.text_input(key="session_search").input("_").run()
    assert set(sidebar_chats(at)) == {underscore}


def test_search_shows_under_each_result_its_matching_words_in_bold_and_the_rest_as_text(
    store: ChatStore, bob: Account
) -> None:
    hostile = "Use **Kotlin** or [a link](http://evil.example/x) <b>now</b> for Android"
    chat = stored_chat(store, bob, "Which language?", title="Languages", answer=hostile)
    titled = stored_chat(store, bob, "Anything", title="Kotlin notes")
    at = signed_in("bob")

    at = at.sidebar.text_input(key="session_search").input("kotlin").run()

    assert not at.exception
    assert set(sidebar_chats(at)) == {chat, titled}
    captions = [caption.value for caption in at.sidebar.caption]
    # The match is bold; every mark the stored text carried is escaped, so it is drawn as the
    # characters typed: no bold of its own, no link, no HTML.
    [snippet] = [caption for caption in captions if "Kotlin" in caption]
    assert snippet == (
        plain("Use **")
        + "**Kotlin**"
        + plain("** or [a link](http://evil.example/x) <b>now</b> for Android")
    )
    assert "<b>" not in snippet and "](" not in snippet
    # The title-only hit has no snippet under it.
    assert len([caption for caption in captions if caption == snippet]) == 1


def test_a_search_too_long_says_why_instead_of_failing(store: ChatStore, bob: Account) -> None:
    stored_chat(store, bob, "Kotlin coroutines?")
    at = signed_in("bob")

    at = at.sidebar.text_input(key="session_search").input("kotlin " * 40).run()

    assert not at.exception
    assert errors(at) == []
    assert sidebar_chats(at) == {}
    assert any("the limit is 200" in caption.value for caption in at.sidebar.caption)


def test_another_users_session_id_in_the_url_shows_nothing_of_theirs(
    store: ChatStore, bob: Account, cleo: Account
) -> None:
    secret = stored_chat(
        store, cleo, "The vault code is 4711", title="Cleo's plans", answer="Noted: 4711"
    )
    at = signed_in("bob")

    at.query_params["session"] = secret
    at = at.run()

    assert not at.exception
    assert titles(at) == ["New chat"]
    assert transcript(at) == []
    shown = page_text(at)
    assert "4711" not in shown and "Cleo" not in shown and "vault" not in shown
    assert sidebar_chats(at) == {}

    # Writing there makes bob's own chat of that id; cleo's chat stays as it was.
    at = send(at, "hello")
    assert transcript(at) == [("user", "hello"), ("assistant", "Echo: hello")]
    assert stored(store, bob, secret) == [("human", "hello"), ("ai", "Echo: hello")]
    assert stored(store, cleo, secret) == [
        ("human", "The vault code is 4711"),
        ("ai", "Noted: 4711"),
    ]
    assert "4711" not in page_text(at)


def test_retry_answers_the_last_question_again_and_keeps_the_old_answer_as_a_version(
    store: ChatStore, model: OpenAIStub, bob: Account
) -> None:
    at = signed_in("bob")
    at = send(at, "What is jvm?")
    session_id = at.query_params["session"]

    at = button(at, "Retry").click().run()

    assert not at.exception
    assert stored(store, bob, session_id) == [
        ("human", "What is jvm?"),
        ("ai", "Echo: What is jvm?"),
    ]
    # The question once, two answers: the new one shown, the old one a version beside it.
    assert store.get_session(bob.id, session_id).message_count == 3
    assert [m.on_path for m in store.load_messages(bob.id, session_id, every_version=True)] == [
        True,
        False,
        True,
    ]
    assert transcript(at) == [("user", "What is jvm?"), ("assistant", "Echo: What is jvm?")]
    assert "2 / 2" in [markdown.value for markdown in at.markdown]
    # The model was asked twice, each time with the question exactly once.
    assert len(model.prompts) == 2
    for prompt in model.prompts:
        assert [m["content"] for m in prompt if m["role"] == "user"] == ["What is jvm?"]


def test_a_failed_answer_keeps_the_question_and_retry_answers_it(
    store: ChatStore, model: OpenAIStub, bob: Account
) -> None:
    at = signed_in("bob")
    model.mode = SERVER_ERROR

    at = send(at, "What is jvm?")

    session_id = at.query_params["session"]
    [error] = errors(at)
    assert "Your message is saved" in error
    assert stored(store, bob, session_id) == [("human", "What is jvm?")]

    model.mode = NORMAL
    at = at.run()  # the page, as the user sees it next
    assert any("no answer yet" in info.value for info in at.info)
    at = button(at, "Retry").click().run()

    assert errors(at) == []
    assert stored(store, bob, session_id) == [
        ("human", "What is jvm?"),
        ("ai", "Echo: What is jvm?"),
    ]
    assert transcript(at) == [("user", "What is jvm?"), ("assistant", "Echo: What is jvm?")]
