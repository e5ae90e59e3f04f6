"""A database that cannot be reached, in each core's own terms.

SQLAlchemy reports a server that is down or restarting, a dropped connection and an SQLite lock
held past the busy timeout as OperationalError or InterfaceError. The cores turn those into an
exception of their own error family (memory.StoreUnavailable, accounts.AccountsUnavailable,
audit.AuditUnavailable), all of them DatabaseUnavailable, so the pages never import SQLAlchemy
and catch one name. The pool recovers by itself once the database answers again."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.exc import InterfaceError, OperationalError

OUTAGES = (OperationalError, InterfaceError)
UNAVAILABLE_MESSAGE = "The database is not reachable right now. Wait a moment and try again."

T = TypeVar("T")


class DatabaseUnavailable(Exception):
    """The database cannot be reached now: down, restarting, or locked for too long."""

    def __init__(self, message: str = UNAVAILABLE_MESSAGE) -> None:
        super().__init__(message)


def _reporting(function: Callable[..., Any], error_class: type[DatabaseUnavailable]):
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except OUTAGES as error:
            # Not logged here: whoever catches it says what was lost and logs the cause once.
            raise error_class() from error

    return wrapper


def outages_raise(error_class: type[DatabaseUnavailable]) -> Callable[[T], T]:
    """Decorate a function, or a class (its public methods), so that a database outage inside
    it raises `error_class` with the original error as its cause."""

    def decorate(target: T) -> T:
        if inspect.isclass(target):
            for name, member in list(vars(target).items()):
                if not name.startswith("_") and inspect.isfunction(member):
                    setattr(target, name, _reporting(member, error_class))
            return target
        return _reporting(target, error_class)  # type: ignore[return-value]

    return decorate


def module_outages_raise(namespace: dict[str, Any], error_class: type[DatabaseUnavailable]) -> None:
    """Apply `outages_raise(error_class)` to every public function defined in the module whose
    globals are `namespace` (imported names are left to their own module)."""
    module = namespace["__name__"]
    for name, member in list(namespace.items()):
        if (
            not name.startswith("_")
            and inspect.isfunction(member)
            and member.__module__ == module
            and not inspect.isgeneratorfunction(member)
        ):
            namespace[name] = _reporting(member, error_class)
