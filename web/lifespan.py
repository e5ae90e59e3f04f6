"""What each app process starts once and stops at shutdown: the store (migrated), the
retention worker, and the model (the local llama.cpp server is started in the background so
the first question does not wait for it, and stopped with the process)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import audit
from database import get_engine
from database.row_security import RowSecurityBypassed, check_app_role
from llm import ModelError, start_default_model
from llm.provider import default_local_server
from memory import ChatStore, open_store
from memory.retention import purge_due, purge_expired

log = logging.getLogger("app")
# How often the worker asks whether a day has passed since the last purge (by any process).
RETENTION_CHECK_SECONDS = 3600


def purge_if_due(store: ChatStore) -> None:
    """Apply the retention policy if a day has passed since the last purge; audited."""
    if not purge_due(store.engine):
        return
    counts = purge_expired(store)
    audit.record_purge(store.engine, sessions=counts.sessions, messages=counts.messages)
    log.info("retention purge: %d sessions, %d messages", counts.sessions, counts.messages)


def start_retention_worker() -> threading.Thread:
    """Purge now, then daily, in a daemon thread of this process."""

    def run() -> None:
        store: ChatStore | None = None
        while True:
            try:
                # Opened here, not before the server starts: a database that is down at
                # start-up must not keep the app from serving the page that explains it.
                store = store or open_store()
                purge_if_due(store)
            except Exception:  # a database outage must not kill the worker for good
                log.exception("retention purge failed; trying again later")
            time.sleep(RETENTION_CHECK_SECONDS)

    worker = threading.Thread(target=run, name="retention", daemon=True)
    worker.start()
    return worker


def _warm_up_model() -> None:
    try:
        start_default_model()
    except ModelError as error:  # the chat page explains it to the user
        log.warning("model not available at start-up: %s", error)


def refuse_a_role_past_row_security() -> None:
    """Stop the process, with the reason in its log, when its PostgreSQL role could read
    every user's chats. A database that cannot be reached now is left to the pages."""
    try:
        check_app_role(get_engine())
    except RowSecurityBypassed as refused:
        log.error("%s", refused)
        raise
    except Exception:  # an outage: the pages explain it, and the check runs at the next start
        log.warning("could not check the database role at start-up", exc_info=True)


@asynccontextmanager
async def lifespan(_app: Any) -> AsyncIterator[None]:
    refuse_a_role_past_row_security()
    start_retention_worker()
    threading.Thread(target=_warm_up_model, name="model-warm-up", daemon=True).start()
    yield
    server = default_local_server()
    if server is not None:
        server.stop()
