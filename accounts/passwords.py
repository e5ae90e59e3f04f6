"""bcrypt hashing, used directly so the hashes are the standard `$2b$` form that
streamlit-authenticator's `Hasher.check_pw` also accepts.

The cost comes from PASSWORD_HASH_ROUNDS (default 12, about a quarter of a second per hash on
one core): high enough to slow a stolen table's brute force, low enough for a sign-in."""

from __future__ import annotations

import threading

import bcrypt

import settings
from accounts.validation import MAX_PASSWORD_BYTES

DEFAULT_HASH_ROUNDS = 12
# bcrypt's own bounds for the cost parameter.
_MIN_ROUNDS, _MAX_ROUNDS = 4, 31

_dummy_hashes: dict[int, bytes] = {}
_dummy_lock = threading.Lock()


def hash_rounds() -> int:
    """The bcrypt cost from PASSWORD_HASH_ROUNDS, checked against bcrypt's bounds."""
    rounds = settings.get_int("PASSWORD_HASH_ROUNDS", DEFAULT_HASH_ROUNDS)
    if not _MIN_ROUNDS <= rounds <= _MAX_ROUNDS:
        raise ValueError(
            f"setting PASSWORD_HASH_ROUNDS must be between {_MIN_ROUNDS} and {_MAX_ROUNDS}, "
            f"got {rounds}"
        )
    return rounds


def hash_password(password: str) -> str:
    """A bcrypt hash of `password` (already checked by `check_password`)."""
    return hash_password_at(password, rounds=hash_rounds())


def hash_password_at(password: str, *, rounds: int) -> str:
    """A bcrypt hash of `password` at cost `rounds`: for a random secret whose strength does
    not depend on the hash's (accounts/bulk_import.py says why)."""
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=rounds)).decode()


def hash_cost(password_hash: str) -> int:
    """The bcrypt cost a hash was made at ($2b$12$... is 12); the configured cost if unreadable."""
    try:
        return int(password_hash.split("$")[2])
    except (IndexError, ValueError):
        return hash_rounds()


def password_matches(password: str, password_hash: str) -> bool:
    """True if `password` matches the bcrypt `password_hash`; never raises on odd input."""
    encoded = _encode(password)
    if encoded is None:
        # Still spend the same time, so a refused input does not answer faster.
        bcrypt.checkpw(b"x", _dummy_hash())
        return False
    try:
        return bcrypt.checkpw(encoded, password_hash.encode("ascii"))
    except ValueError:
        # No usable hash (an account that signs in through a provider has none): nobody signs
        # in with it, after the time a real check takes, so timing does not tell such
        # accounts apart.
        bcrypt.checkpw(b"x", _dummy_hash())
        return False


def spend_a_check(password: str) -> None:
    """Run one bcrypt check against a hash of nothing, so an unknown username costs the same
    time as a known one and timing does not tell whether an account exists."""
    bcrypt.checkpw(_encode(password) or b"x", _dummy_hash())


def _encode(password: str) -> bytes | None:
    # Passwords longer than bcrypt's limit were never stored, and bcrypt 5 raises on them.
    try:
        encoded = password.encode("utf-8")
    except (UnicodeEncodeError, AttributeError):
        return None
    return encoded if len(encoded) <= MAX_PASSWORD_BYTES else None


def _dummy_hash() -> bytes:
    rounds = hash_rounds()
    with _dummy_lock:
        dummy = _dummy_hashes.get(rounds)
        if dummy is None:
            dummy = bcrypt.hashpw(b"no account has this password", bcrypt.gensalt(rounds=rounds))
            _dummy_hashes[rounds] = dummy
        return dummy
