"""Process-wide resources, created once per app process and shared by every user's session:
the store (one Engine), the model client (and the local model server behind it) and the
chain. The retention worker is started by the server's lifespan (web/lifespan.py)."""

from __future__ import annotations

import logging

import streamlit as st
from langchain_core.runnables.history import RunnableWithMessageHistory
from langchain_openai import ChatOpenAI

import settings
from llm import ModelChoice, start_default_model
from memory import ChatStore, build_chain, open_store
from memory.temporary import TemporaryChats, build_temporary_chain
from memory.titles import TitleWriter

log = logging.getLogger("app")


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


@st.cache_resource
def title_writer() -> TitleWriter | None:
    """The background writer of model titles, or None when MODEL_TITLES is off (then a chat
    keeps the first words of its first question, or what its user names it)."""
    if not settings.get_bool("MODEL_TITLES", True):
        return None
    _, model = chat_model()
    return TitleWriter(model, chat_store())


@st.cache_resource
def temporary_chats() -> TemporaryChats:
    """Every temporary chat of this process, in its memory only (memory/temporary.py)."""
    return TemporaryChats()


@st.cache_resource
def temporary_chain() -> RunnableWithMessageHistory:
    choice, model = chat_model()
    return build_temporary_chain(model, temporary_chats(), context_tokens=choice.context_tokens)
