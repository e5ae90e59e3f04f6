"""What the user sees while the database is unreachable: one sentence, and the question they
just sent given back to send again, never a traceback."""

from __future__ import annotations

import logging

import streamlit as st

from database.outages import DatabaseUnavailable
from ui.answering import unsent_question
from ui.text import DATABASE_DOWN

log = logging.getLogger("app")


def explain_database_down(error: DatabaseUnavailable) -> None:
    # PostgreSQL restarting, or SQLite locked past its busy timeout: the pool recovers on its
    # own once the database answers, so the next run works; meanwhile say so, not a traceback.
    log.warning("database unavailable: %s", error.__cause__ or error)
    st.error(DATABASE_DOWN)
    question = unsent_question()
    if question is not None:
        st.caption("Your message was not sent. Here it is to send again:")
        st.code(question, language=None)
