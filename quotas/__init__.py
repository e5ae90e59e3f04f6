"""The quotas core: daily limits on messages and approximate tokens, a default and per user,
admitted atomically across app processes. No Streamlit here.

reservation = admit_question(engine, user_id, tokens=question_tokens)  # or QuotaExceeded
... stream the answer ...
settle_tokens(engine, reservation, tokens=prompt_tokens + answer_tokens)
"""

from __future__ import annotations

from quotas.use import (
    MAX_LIMIT,
    InvalidLimit,
    Limits,
    QuotaError,
    QuotaExceeded,
    QuotaStatus,
    QuotasUnavailable,
    Reservation,
    admit_question,
    default_limits,
    limits_in_force,
    own_limits,
    prune_use,
    release_question,
    set_default_limits,
    set_own_limits,
    settle_tokens,
    todays_use,
)

__all__ = [
    "MAX_LIMIT",
    "InvalidLimit",
    "Limits",
    "QuotaError",
    "QuotaExceeded",
    "QuotaStatus",
    "QuotasUnavailable",
    "Reservation",
    "admit_question",
    "default_limits",
    "limits_in_force",
    "own_limits",
    "prune_use",
    "release_question",
    "set_default_limits",
    "set_own_limits",
    "settle_tokens",
    "todays_use",
]
