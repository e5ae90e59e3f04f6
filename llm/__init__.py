"""The model provider core: which model answers, and a readable sentence when it cannot.

choice, model = start_default_model()   # ModelChoice, ChatOpenAI (streaming); once per process
chain = build_chain(model, store, context_tokens=choice.context_tokens)
...
except Exception as error:
    st.error(explain_model_error(error).user_message)

No Streamlit here: settings come from `settings` (environment, then secrets.toml).
"""

from __future__ import annotations

from llm.errors import ModelConfigError, ModelError, explain_model_error
from llm.local_server import LocalModelServer, free_port, model_display_name
from llm.provider import (
    DEFAULT_LOCAL_MODEL_PATH,
    LOCAL,
    PROVIDER,
    ModelChoice,
    build_chat_model,
    choose_provider,
    default_local_server,
    find_packaged_model,
    start_default_model,
    stop_default_model,
)

__all__ = [
    "DEFAULT_LOCAL_MODEL_PATH",
    "LOCAL",
    "PROVIDER",
    "LocalModelServer",
    "ModelChoice",
    "ModelConfigError",
    "ModelError",
    "build_chat_model",
    "choose_provider",
    "default_local_server",
    "explain_model_error",
    "find_packaged_model",
    "free_port",
    "model_display_name",
    "start_default_model",
    "stop_default_model",
]
