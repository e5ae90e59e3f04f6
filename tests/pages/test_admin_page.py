"""The admin page: out of reach for anyone but an administrator; a stored history opens only
with a reason, which the audit log and the owner's My data page then show; every admin action
is applied and audited; the last administrator stays one."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

import accounts
import audit
import settings
from accounts import LOCKOUT_FAILURES, Account
from database import get_engine
from memory import ChatStore
from memory.export import export_user_json, import_user_json
from memory.retention import retention_days
from quotas import (
    Limits,
    admit_question,
    default_limits,
    limits_in_force,
    own_limits,
    set_default_limits,
)
from tests.pages.app_driver import (
    ADMIN_PAGE,
    MY_DATA_PAGE,
    PASSWORD,
    button,
    errors,
    go_to,
    open_app,
    open_script,
    page_text,
    sign_in,
    signed_in,
    text_input,
)
from ui.admin_actions import SELECTED_KEY

# What AppTest.switch_page says of a page that app.py's st.navigation did not register.
NOT_REGISTERED = "Could not find a navigation page for .*admin.py"


def admin_page(username: str = "ada") -> AppTest:
    """A session of `username`, signed in through the form, on the admin page."""
    at = go_to(signed_in(username), ADMIN_PAGE)
    assert not at.exception, at.exception
    assert [title.value for title in at.title] == ["Admin"]
    return at


def pick(at: AppTest, username: str) -> AppTest:
    """Pick `username`'s row in the Users table, as a click on it does."""
    account = accounts.find_account(get_engine(settings.database_url()), username=username)
    assert account is not None
    at.session_state[SELECTED_KEY] = account.id
    return at.run()


def apply_action(at: AppTest, username: str, action: str) -> AppTest:
    """Pick `username`'s row, click `action`, and confirm it if it asks."""
    at = button(pick(at, username), action).click().run()
    asks = any(b.key == "user-action-yes" for b in at.button)
    return at.button(key="user-action-yes").click().run() if asks else at


def open_history(at: AppTest, owner: str, reason: str, *, title: str | None = None) -> AppTest:
    """Use the "Stored histories" tab: choose the owner, then a session, then open it."""
    at = at.text_input(key="history_owner").input(owner).run()
    [session] = [s for s in at.selectbox if s.form_id == "open_history"]
    if title is not None:
        [index] = [i for i, label in enumerate(session.options) if label.startswith(title)]
        session.select_index(index)
    text_input(at, "Reason for opening it (recorded, shown to the user)").input(reason)
    return button(at, "Open read-only").click().run()


def events(db: Engine, action: str) -> list[audit.AuditEntry]:
    return audit.list_events(db, action=action)


def secret_chat(store: ChatStore, owner: Account, *, title: str = "Checkup") -> str:
    session_id = store.create_session(owner.id, title=title).session_id
    turn = store.begin_turn(owner.id, session_id, "My diagnosis is hush-hush-1234")
    store.finish_turn(turn, "Sorry to hear about hush-hush-1234")
    return session_id


# Who may reach it -------------------------------------------------------------------------------


def test_app_py_does_not_register_the_admin_page_for_a_non_admin(bob: Account) -> None:
    at = signed_in("bob")

    with pytest.raises(ValueError, match=NOT_REGISTERED):
        at.switch_page(ADMIN_PAGE)
    assert "Admin" not in page_text(at)
    # The same step works for an administrator: the refusal above is about bob.
    assert [t.value for t in go_to(signed_in("ada"), ADMIN_PAGE).title] == ["Admin"]


def test_the_admin_page_run_directly_stops_a_non_admin_before_showing_anything(
    ada: Account, bob: Account
) -> None:
    at = open_script(ADMIN_PAGE, account=bob)

    assert not at.exception
    assert errors(at) == ["This page is for administrators."]
    assert list(at.title) == [] and list(at.tabs) == [] and list(at.dataframe) == []
    assert "ada" not in page_text(at)
    # Signed out altogether: the page runs app.py in its place, whose gate shows the sign-in
    # form, and nothing of the admin page.
    at = open_script(ADMIN_PAGE)
    assert not at.exception
    assert [tab.label for tab in at.tabs] == ["Sign in", "Create account"]
    assert [title.value for title in at.title] == ["Chat"]
    assert list(at.dataframe) == [] and "ada" not in page_text(at)
    # And for an administrator it is the admin page.
    assert [t.value for t in open_script(ADMIN_PAGE, account=ada).title] == ["Admin"]


def test_an_admin_demoted_elsewhere_loses_the_admin_page_on_the_next_click(
    db: Engine, ada: Account, bob: Account
) -> None:
    accounts.set_role(db, user_id=bob.id, role="admin")
    at = admin_page("bob")

    accounts.set_role(db, user_id=bob.id, role="user")
    at = at.run()

    assert "Admin" not in [t.value for t in at.title]
    assert list(at.tabs) == []
    assert "ada" not in page_text(at)


# Stored histories -------------------------------------------------------------------------------


def test_opening_a_history_without_a_reason_is_refused_and_shows_no_message(
    store: ChatStore, db: Engine, ada: Account, bob: Account
) -> None:
    secret_chat(store, bob)
    at = admin_page()

    at = open_history(at, "bob", reason="   ")

    assert len(errors(at)) == 1 and errors(at)[0].startswith("Nothing is shown. Give a reason")
    assert "hush-hush-1234" not in page_text(at)
    assert list(at.text) == []
    assert events(db, audit.HISTORY_VIEWED) == []


def test_the_list_of_a_users_chats_shows_none_of_their_words_before_a_reason(
    store: ChatStore, ada: Account, bob: Account
) -> None:
    """A chat's title is its first question (memory.store._title_from): the session table and
    picker show ids and times only, so nothing the user wrote is read before a reason."""
    session_id = store.create_session(bob.id).session_id
    turn = store.begin_turn(bob.id, session_id, "My diagnosis is hush-hush-1234")
    store.finish_turn(turn, "Sorry to hear that")
    at = admin_page()

    at = at.text_input(key="history_owner").input("bob").run()

    assert audit.chat_handle(bob.id, session_id) in page_text(at)  # the chat is listed...
    assert "hush-hush-1234" not in page_text(at)  # ...but none of bob's words...
    assert session_id not in page_text(at)  # ...nor its id, which an import may have written


def test_the_specialty_is_shown_only_after_a_reason_and_that_read_is_audited(
    store: ChatStore, db: Engine, ada: Account, bob: Account
) -> None:
    session_id = store.create_session(bob.id, ability="oncology, my HIV status").session_id
    turn = store.begin_turn(bob.id, session_id, "a question")
    store.finish_turn(turn, "an answer")
    at = admin_page()

    at = at.text_input(key="history_owner").input("bob").run()
    assert "HIV" not in page_text(at)
    assert events(db, audit.HISTORY_VIEWED) == []

    at = open_history(at, "bob", reason="bob asked for help")
    assert "HIV" in page_text(at)
    assert [event.session_id for event in events(db, audit.HISTORY_VIEWED)] == [session_id]


@pytest.mark.parametrize("reason", ["\u200b", "\u3164\u3164", "\u2800\u2800\u2800"])
def test_an_invisible_reason_opens_nothing(
    store: ChatStore, db: Engine, ada: Account, bob: Account, reason: str
) -> None:
    secret_chat(store, bob)
    at = admin_page()

    at = open_history(at, "bob", reason=reason)

    assert "hush-hush-1234" not in page_text(at)
    assert events(db, audit.HISTORY_VIEWED) == []


def test_opening_a_history_with_a_reason_shows_it_audits_it_and_tells_the_owner(
    store: ChatStore, db: Engine, ada: Account, bob: Account, cleo: Account
) -> None:
    secret_chat(store, cleo, title="Cleo's chat")
    session_id = secret_chat(store, bob)
    at = admin_page()

    at = open_history(at, "bob", reason="bob asked for help by mail")

    assert errors(at) == []
    assert [text.value for text in at.text] == [
        "My diagnosis is hush-hush-1234",
        "Sorry to hear about hush-hush-1234",
    ]
    [event] = events(db, audit.HISTORY_VIEWED)
    assert (event.actor_id, event.subject_user_id, event.session_id, event.reason) == (
        ada.id,
        bob.id,
        session_id,
        "bob asked for help by mail",
    )
    # The admin's audit tab lists it by name.
    audit_rows = at.tabs[2].dataframe[0].value
    viewed = audit_rows[audit_rows["Action"] == "Opened a chat"]
    assert viewed[["Admin", "Owner", "Chat", "Reason"]].values.tolist() == [
        ["ada", "bob", audit.chat_handle(bob.id, session_id), "bob asked for help by mail"]
    ]

    # Bob's My data page says who opened which chat, and why.
    owner = go_to(signed_in("bob"), MY_DATA_PAGE)
    [views] = owner.dataframe
    assert views.value[["administrator", "chat", "reason"]].values.tolist() == [
        ["ada", "Checkup", "bob asked for help by mail"]
    ]
    # Cleo's does not: nobody opened hers.
    other = go_to(signed_in("cleo"), MY_DATA_PAGE)
    assert "No administrator has opened your chats." in [m.value for m in other.markdown]
    assert "bob asked for help" not in page_text(other)


def test_a_user_without_chats_shows_an_empty_list_and_nothing_opens(
    db: Engine, ada: Account, bob: Account
) -> None:
    at = admin_page()

    at = open_history(at, "bob", reason="checking")

    assert errors(at) == ["Choose a chat."]
    assert events(db, audit.HISTORY_VIEWED) == []


# Admin actions ----------------------------------------------------------------------------------


def test_disabling_a_user_signs_them_out_and_enabling_lets_them_back_both_audited(
    db: Engine, ada: Account, bob: Account
) -> None:
    bobs_session = signed_in("bob")
    at = admin_page()

    at = apply_action(at, "bob", "Disable")

    assert [s.value for s in at.success] == ["Disable: bob"]
    assert accounts.get_account(db, user_id=bob.id).disabled
    [event] = events(db, audit.USER_DISABLED)
    assert (event.actor_id, event.subject_user_id) == (ada.id, bob.id)
    users = at.run().tabs[0].dataframe[0].value.set_index("username")
    assert users.loc["bob", "state"] == "disabled"
    # Bob's open session ends on his next click; a new sign-in is refused.
    bobs_session = bobs_session.run()
    assert bobs_session.session_state.get("account") is None
    assert list(bobs_session.chat_input) == []
    assert "account" not in sign_in("bob").session_state

    at = apply_action(at, "bob", "Enable")

    assert [s.value for s in at.success] == ["Enable: bob"]
    assert not accounts.get_account(db, user_id=bob.id).disabled
    [event] = events(db, audit.USER_ENABLED)
    assert (event.actor_id, event.subject_user_id) == (ada.id, bob.id)
    signed_in("bob")


def test_unlocking_a_locked_out_user_lets_them_sign_in_and_is_audited(
    db: Engine, ada: Account, bob: Account
) -> None:
    for _ in range(LOCKOUT_FAILURES):
        sign_in("bob", "not the password")
    locked = sign_in("bob")
    assert "account" not in locked.session_state
    assert any("Too many failed sign-ins" in error for error in errors(locked))
    at = admin_page()
    assert at.tabs[0].dataframe[0].value.set_index("username").loc["bob", "state"] == "locked"

    at = apply_action(at, "bob", "Unlock")

    assert [s.value for s in at.success] == ["Unlock: bob"]
    assert accounts.lock_expires_at(db, username="bob") is None
    [event] = events(db, audit.USER_UNLOCKED)
    assert (event.actor_id, event.subject_user_id) == (ada.id, bob.id)
    signed_in("bob")


def test_promoting_and_demoting_a_user_changes_what_they_may_open_and_is_audited(
    db: Engine, ada: Account, bob: Account
) -> None:
    at = admin_page()

    at = apply_action(at, "bob", "Make admin")

    assert accounts.get_account(db, user_id=bob.id).is_admin
    admin_page("bob")  # bob now reaches the admin page through app.py

    at = apply_action(at, "bob", "Make ordinary user")

    assert not accounts.get_account(db, user_id=bob.id).is_admin
    with pytest.raises(ValueError, match=NOT_REGISTERED):
        signed_in("bob").switch_page(ADMIN_PAGE)
    changes = events(db, audit.ROLE_CHANGED)
    assert [(e.actor_id, e.subject_user_id, e.detail) for e in reversed(changes)] == [
        (ada.id, bob.id, "Make admin"),
        (ada.id, bob.id, "Make ordinary user"),
    ]


def test_closing_and_opening_sign_up_changes_the_sign_in_page_and_is_audited(
    db: Engine, ada: Account
) -> None:
    assert [tab.label for tab in open_app().tabs] == ["Sign in", "Create account"]
    at = admin_page()
    [switch] = [t for t in at.toggle if t.label == "Anyone may create an account"]
    assert switch.value is True

    at = switch.set_value(False).run()

    assert not accounts.signup_enabled(db)
    assert [tab.label for tab in open_app().tabs] == ["Sign in"]
    [switch] = [t for t in at.toggle if t.label == "Anyone may create an account"]
    assert switch.value is False

    at = switch.set_value(True).run()

    assert accounts.signup_enabled(db)
    assert [tab.label for tab in open_app().tabs] == ["Sign in", "Create account"]
    toggles = events(db, audit.SIGNUP_TOGGLED)
    assert [(e.actor_id, e.detail) for e in reversed(toggles)] == [
        (ada.id, "enabled=False"),
        (ada.id, "enabled=True"),
    ]


def test_the_last_admin_cannot_be_demoted_or_disabled(
    db: Engine, ada: Account, bob: Account
) -> None:
    at = admin_page()

    at = apply_action(at, "ada", "Make ordinary user")

    [error] = errors(at)
    assert "last enabled administrator" in error
    assert list(at.success) == []

    at = apply_action(at, "ada", "Disable")

    [error] = errors(at)
    assert "last enabled administrator" in error
    account = accounts.get_account(db, user_id=ada.id)
    assert account.is_admin and not account.disabled
    assert events(db, audit.ROLE_CHANGED) == [] and events(db, audit.USER_DISABLED) == []
    # With a second admin, ada may step down.
    at = apply_action(at, "bob", "Make admin")
    apply_action(at, "ada", "Make ordinary user")
    assert not accounts.get_account(db, user_id=ada.id).is_admin
    assert [(e.subject_user_id, e.detail) for e in events(db, audit.ROLE_CHANGED)] == [
        (ada.id, "Make ordinary user"),
        (bob.id, "Make admin"),
    ]


def test_the_users_table_shows_the_new_state_as_soon_as_an_action_succeeds(
    db: Engine, ada: Account, bob: Account
) -> None:
    """The table is drawn above the form, so the page reruns after an action: "Disable: bob"
    shows beside a table that already says bob is disabled."""
    at = admin_page()

    at = apply_action(at, "bob", "Disable")

    assert [s.value for s in at.success] == ["Disable: bob"]
    assert at.tabs[0].dataframe[0].value.set_index("username").loc["bob", "state"] == "disabled"


def test_a_retention_policy_is_saved_and_purge_now_applies_it_both_audited(
    store: ChatStore, db: Engine, ada: Account, bob: Account
) -> None:
    recent = secret_chat(store, bob, title="Recent")
    # A chat last touched 40 days ago, put back exactly as an export holds it.
    old = export_user_json(store, user_id=bob.id)["sessions"][0]
    old |= {"session_id": "old-chat", "title": "Old", "updated_at": "2000-01-01T00:00:00+00:00"}
    old["created_at"] = old["updated_at"]
    import_user_json(store, user_id=bob.id, data={"format": "isolated-chat/1", "sessions": [old]})
    at = admin_page()
    assert [m.value for m in at.metric] == ["keep forever"]

    [days] = [n for n in at.number_input if n.label == "Days"]
    # While "Keep forever" is ticked, the number of days means nothing and cannot be typed.
    assert days.disabled
    at = at.checkbox(key="retention_forever").uncheck().run()
    [days] = [n for n in at.number_input if n.label == "Days"]
    assert not days.disabled
    days.set_value(30)
    at = button(at, "Save policy").click().run()

    assert retention_days(db) == 30
    assert [m.value for m in at.metric] == ["30 days"]
    [changed] = events(db, audit.RETENTION_CHANGED)
    assert (changed.actor_id, changed.detail) == (ada.id, "days=30")

    at = button(at, "Purge now").click().run()

    assert [s.value for s in at.success] == ["Removed 1 chat and 2 messages."]
    assert {s.session_id for s in store.list_sessions(bob.id)} == {recent}
    purges = [e for e in events(db, audit.RETENTION_PURGED) if e.actor_id == ada.id]
    assert [e.detail for e in purges] == ["sessions=1 messages=2"]


def test_disabling_asks_first_naming_the_user_and_cancel_changes_nothing(
    db: Engine, ada: Account, bob: Account
) -> None:
    at = button(pick(admin_page(), "bob"), "Disable").click().run()

    [question] = [w.value for w in at.warning]
    assert question.startswith("Disable bob? They are signed out on every device")
    assert not accounts.get_account(db, user_id=bob.id).disabled
    at = at.button(key="user-action-cancel").click().run()
    assert list(at.warning) == []
    assert not accounts.get_account(db, user_id=bob.id).disabled
    assert audit.list_events(db, actor_id=ada.id) == []


def test_a_reset_shows_a_temporary_password_once_that_signs_in_to_choose_a_new_one(
    db: Engine, ada: Account, bob: Account
) -> None:
    at = apply_action(admin_page(), "bob", "Reset password")

    [shown] = [code.value for code in at.code]
    assert len(shown) == 16
    assert accounts.authenticate(db, username="bob", password=shown).account.must_choose_password
    [event] = audit.list_events(db, action=audit.PASSWORD_RESET)
    assert (event.actor_id, event.subject_user_id) == (ada.id, bob.id)
    at = at.button(key="user-action-forget-reset").click().run()
    assert list(at.code) == []


def test_open_chats_takes_the_admin_to_the_users_chats(ada: Account, bob: Account) -> None:
    at = pick(admin_page(), "bob")
    at = at.button(key="user-action-histories").click().run()

    assert at.session_state["admin_tabs"] == "Stored histories"
    assert at.text_input(key="history_owner").value == "bob"


def test_the_users_table_lists_every_account_with_its_usage(
    store: ChatStore, ada: Account, bob: Account
) -> None:
    secret_chat(store, bob)
    at = admin_page()

    users = at.tabs[0].dataframe[0].value.set_index("username")

    assert sorted(users.index) == ["ada", "bob"]
    assert users.loc["bob", "sessions"] == 1 and users.loc["bob", "messages"] == 2
    assert users.loc["ada", "role"] == "admin" and users.loc["bob", "role"] == "user"
    assert PASSWORD not in page_text(at)


def test_a_reason_with_invisible_characters_is_stored_as_typed_and_shown_visibly(
    store: ChatStore, db: Engine, ada: Account, bob: Account
) -> None:
    secret_chat(store, bob)
    at = admin_page()

    at = open_history(at, "bob", reason="\u200bsupport\u3164call")

    [event] = events(db, audit.HISTORY_VIEWED)
    assert event.reason == "\u200bsupport\u3164call"
    audit_rows = at.tabs[2].dataframe[0].value
    assert audit_rows["Reason"].tolist()[0] == "⟨U+200B⟩support⟨U+3164⟩call"
    owner = go_to(signed_in("bob"), MY_DATA_PAGE)
    assert owner.dataframe[0].value["reason"].tolist() == ["⟨U+200B⟩support⟨U+3164⟩call"]


# Quotas -------------------------------------------------------------------------------------


def quota_fields(at: AppTest, form: str) -> tuple:
    """The (no limit box, number) of messages, then of tokens, in one of the Quotas forms."""
    boxes = [c for c in at.checkbox if c.form_id == form]
    numbers = [n for n in at.number_input if n.form_id == form]
    assert len(boxes) == len(numbers) == 2
    return (boxes[0], numbers[0]), (boxes[1], numbers[1])


def test_a_default_quota_is_saved_applies_to_everyone_and_is_audited(
    store: ChatStore, db: Engine, ada: Account, bob: Account
) -> None:
    at = admin_page()
    (no_messages_limit, messages), (no_tokens_limit, _) = quota_fields(at, "default_quota")
    assert no_messages_limit.value and no_tokens_limit.value  # no limit until one is set

    no_messages_limit.uncheck()
    messages.set_value(20)
    at = button(at, "Save default").click().run()

    assert not at.exception
    assert default_limits(db) == Limits(20, None)
    assert limits_in_force(db, [bob.id]) == {bob.id: Limits(20, None)}
    [changed] = events(db, audit.QUOTA_CHANGED)
    assert (changed.actor_id, changed.subject_user_id, changed.detail) == (
        ada.id,
        None,
        "default: messages none → 20, tokens none → none",
    )
    assert "Default quota saved." in [s.value for s in at.success]
    (no_messages_limit, messages), (no_tokens_limit, _) = quota_fields(at, "default_quota")
    assert (no_messages_limit.value, messages.value, no_tokens_limit.value) == (False, 20, True)


def test_one_users_own_quota_is_saved_shown_against_use_and_audited(
    store: ChatStore, db: Engine, ada: Account, bob: Account
) -> None:
    set_default_limits(db, Limits(messages_per_day=20))
    admit_question(db, bob.id, tokens=40)
    at = admin_page()
    at = at.text_input(key="quota_user").input("bob").run()
    assert any("bob today: 1 / 20 messages" in c.value for c in at.caption)

    (default_messages, messages), (default_tokens, tokens) = quota_fields(at, "user_quota")
    assert default_messages.value and default_tokens.value  # bob follows the default
    default_messages.uncheck()
    messages.set_value(5)
    default_tokens.uncheck()
    tokens.set_value(10_000)
    at = button(at, "Save for this user").click().run()

    assert own_limits(db, bob.id) == Limits(5, 10_000)
    [changed] = events(db, audit.QUOTA_CHANGED)
    assert (changed.actor_id, changed.subject_user_id, changed.detail) == (
        ada.id,
        bob.id,
        "messages default → 5, tokens default → 10,000",
    )
    users = at.tabs[0].dataframe[0].value.set_index("username")
    assert users.loc["bob", "messages today"] == "1 / 5"
    assert users.loc["bob", "≈ tokens today"] == "40 / 10,000"
    assert users.loc["ada", "messages today"] == "0 / 20"

    # Ticked boxes put bob back on the default, which the audit log says too.
    (default_messages, _), (default_tokens, _) = quota_fields(at, "user_quota")
    default_messages.check()
    default_tokens.check()
    at = button(at, "Save for this user").click().run()
    assert own_limits(db, bob.id) == Limits()
    assert events(db, audit.QUOTA_CHANGED)[0].detail == (
        "messages 5 → default, tokens 10,000 → default"
    )


def test_a_quota_for_an_unknown_user_changes_nothing(db: Engine, ada: Account) -> None:
    at = admin_page()

    at = at.text_input(key="quota_user").input("nobody").run()

    assert "No such user." in errors(at)
    assert [n for n in at.number_input if n.form_id == "user_quota"] == []
    assert events(db, audit.QUOTA_CHANGED) == []


def test_users_see_the_models_name_and_only_admins_see_where_it_is_served(
    ada: Account, bob: Account
) -> None:
    chat = signed_in("bob")
    captions = [caption.value for caption in chat.sidebar.caption]
    assert "Model: stub-echo" in captions
    assert not any("127.0.0.1" in caption for caption in captions)
    usage = admin_page()
    assert any(caption.value.startswith("Model in use: 127.0.0.1:") for caption in usage.caption)
