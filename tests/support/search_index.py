"""The search index worked out the slow way from the stored messages, for tests to compare the
database's own index with."""

from __future__ import annotations

from sqlalchemy import Engine, select, text

from memory.models import ChatMessage
from memory.search import indexed_terms, normalise, search_owners


def index_size(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(text("SELECT count(*) FROM message_search")) or 0)


def session_terms_by_hand(engine: Engine) -> dict[tuple[str, str], tuple[int, int]]:
    """What session_terms must hold: for each term (owner key included) and chat, the number
    of its messages holding it and the newest one's id."""
    with engine.connect() as conn:
        keys = dict(conn.execute(select(search_owners.c.user_id, search_owners.c.key)).all())
        messages = conn.execute(
            select(ChatMessage.id, ChatMessage.user_id, ChatMessage.session_id, ChatMessage.content)
        ).all()
    expected: dict[tuple[str, str], tuple[int, int]] = {}
    for message_id, user_id, session_id, content in messages:
        key = keys.get(user_id)  # none for a user whose every message is without a word
        for term in set(indexed_terms(key, content).split()) if key is not None else ():
            hits, newest = expected.get((term, session_id), (0, 0))
            expected[(term, session_id)] = (hits + 1, max(newest, message_id))
    return expected


def session_terms_stored(engine: Engine) -> dict[tuple[str, str], tuple[int, int]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT term, session_id, hits, newest FROM session_terms"))
        return {(term, session): (hits, newest) for term, session, hits, newest in rows}


def assert_index_matches_messages(engine: Engine) -> None:
    """One index entry per message that has a word, and none for a message that is gone; each
    word's chats counted exactly, with their newest holder."""
    with engine.connect() as conn:
        contents = conn.scalars(select(ChatMessage.content)).all()
    assert index_size(engine) == sum(1 for content in contents if normalise(content))
    assert session_terms_stored(engine) == session_terms_by_hand(engine)
