"""Process-wide resources, created once per app process and shared by every user's session:
the store (one Engine), the model client (and the local model server behind it), the chain,
and the retention worker."""

from __future__ import annotations

import logging
import threading
import time

import streamlit as st
from langchain_core.runnables.history import RunnableWithMessageHistory
from langchain_openai import ChatOpenAI

import audit
from llm import ModelChoice, start_default_model
from memory import ChatStore, build_chain, open_store
from memory.retention import purge_due, purge_expired

log = logging.getLogger("app")
# How often the worker asks whether a day has passed since the last purge (by any process).
RETENTION_CHECK_SECONDS = 3600


@st.cache_resource(show_spinner="Opening the database…")
def chat_store() -> ChatStore:
    """The store on DATABASE_URL (or the embedded SQLite file), migrated to the newest schema."""
    return open_store()


@st.cache_resource(show_spinner="Starting the language model…")
def chat_model() -> tuple[ModelChoice, ChatOpenAI]:
    """The configured provider, or the local llama.cpp model started for this process."""
    choice, model = start_default_model()
    log.info("model in use: %s", choice.label)
    return choice, model


@st.cache_resource
def chat_chain() -> RunnableWithMessageHistory:
    choice, model = chat_model()
    return build_chain(model, chat_store(), context_tokens=choice.context_tokens)


def purge_if_due(store: ChatStore) -> None:
    """Apply the retention policy if a day has passed since the last purge; audited."""
    if not purge_due(store.engine):
        return
    counts = purge_expired(store)
    audit.record_purge(store.engine, sessions=counts.sessions, messages=counts.messages)
    log.info("retention purge: %d sessions, %d messages", counts.sessions, counts.messages)


@st.cache_resource
def start_retention_worker() -> threading.Thread:
    """Purge at app start, then daily, in a daemon thread of this process."""
    store = chat_store()

    def run() -> None:
        while True:
            try:
                purge_if_due(store)
            except Exception:  # a database outage must not kill the worker for good
                log.exception("retention purge failed; trying again later")
            time.sleep(RETENTION_CHECK_SECONDS)

    worker = threading.Thread(target=run, name="retention", daemon=True)
    worker.start()
    return worker
