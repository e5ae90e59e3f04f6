"""Fixtures for the accounts core: bcrypt at its lowest cost."""

from __future__ import annotations

import pytest

# bcrypt's lowest cost: the rules under test do not depend on it, and cost 12 would make the
# suite spend seconds hashing.
TEST_HASH_ROUNDS = "4"


@pytest.fixture(autouse=True)
def cheap_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSWORD_HASH_ROUNDS", TEST_HASH_ROUNDS)
