"""How the app touches Recyclic's database: read-only, by construction, and never for long.

- :func:`read_only` wraps every KPI computation. On PostgreSQL it opens a read-only transaction
  whose statements the server cancels after ``STATEMENT_TIMEOUT_MS`` and which waits at most
  ``LOCK_TIMEOUT_MS`` for a lock Recyclic holds; on SQLite (the demo) it is a plain transaction.
  Either way the transaction is rolled back at the end: there is nothing to keep, and when the
  block is nested in a caller's transaction (a savepoint) rolling it back also ends its
  ``SET LOCAL`` limits and its read-only mode there.
- The mapped models refuse every write (:class:`RecyclicReadOnlyError`) except inside
  :func:`allow_recyclic_writes`, which only the demo loader and the tests use.

A cancelled statement or a lock not granted reaches the caller as Django's
``OperationalError``, a ``DatabaseError`` like an outage: the doors answer stale figures or 503.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction

from .conf import app_settings

#: Longest limit accepted: a figure that takes minutes is an incident, not a live figure.
MAX_TIMEOUT_MS = 600_000

# PostgreSQL's SQLSTATEs: query_canceled (statement_timeout) and lock_not_available.
STATEMENT_TIMEOUT = "57014"
LOCK_TIMEOUT = "55P03"

# The only SQL of this app assembled from values: two integers validated by _milliseconds(),
# because SET takes no bind parameters. One round trip for the three settings.
_LIMITS_SQL = (
    "SET TRANSACTION READ ONLY; SET LOCAL statement_timeout = %d; SET LOCAL lock_timeout = %d"
)


# What read_only() sends besides the queries themselves: the BEGIN of its transaction, the SET
# of PostgreSQL's limits, the savepoint it is when nested in a caller's transaction, and its
# end (Django logs COMMIT and ROLLBACK too, though no cursor runs them).
_TRANSACTION_CONTROL = (
    "BEGIN",
    "SET TRANSACTION READ ONLY;",
    "SAVEPOINT ",
    "RELEASE SAVEPOINT ",
    "ROLLBACK",
    "COMMIT",
)


def is_transaction_control(sql: str) -> bool:
    """True for a statement :func:`read_only` adds around the queries: not a query of its own."""
    return sql.lstrip().upper().startswith(_TRANSACTION_CONTROL)


def statement_timeout_ms() -> int:
    return _milliseconds("STATEMENT_TIMEOUT_MS")


def lock_timeout_ms() -> int:
    return _milliseconds("LOCK_TIMEOUT_MS")


def _milliseconds(name: str) -> int:
    value = getattr(app_settings, name)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TIMEOUT_MS:
        raise ImproperlyConfigured(
            f'RECEPTION_STATS["{name}"] must be a whole number of milliseconds from 1 to '
            f"{MAX_TIMEOUT_MS}, not {value!r}."
        )
    return value


@contextmanager
def read_only(using: str) -> Iterator[None]:
    """Run the block's queries on ``using`` in a read-only, time-bounded transaction."""
    limits = _LIMITS_SQL % (statement_timeout_ms(), lock_timeout_ms())
    connection = connections[using]
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(limits)
        yield
        transaction.set_rollback(True, using=using)


def timeout_kind(error: BaseException) -> str | None:
    """``"statement"`` or ``"lock"`` when ``error`` is one of :func:`read_only`'s limits."""
    # Django re-raises the driver's error as its own, the original as __cause__: psycopg 3
    # names the code ``sqlstate``, psycopg2 ``pgcode``.
    for candidate in (error, error.__cause__):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if code == STATEMENT_TIMEOUT:
            return "statement"
        if code == LOCK_TIMEOUT:
            return "lock"
    return None


class RecyclicReadOnlyError(RuntimeError):
    """A write to one of Recyclic's tables: this app only reads them."""

    def __init__(self, model: type, operation: str) -> None:
        super().__init__(
            f"{model.__name__}.{operation}() refused: Recyclic's tables are read-only for "
            "reception_stats (Recyclic owns these rows). Only the demo loader and the tests "
            "write them, inside reception_stats.db.allow_recyclic_writes()."
        )
        self.model = model
        self.operation = operation


_writes_allowed: ContextVar[bool] = ContextVar("recyclic_writes_allowed", default=False)


@contextmanager
def allow_recyclic_writes() -> Iterator[None]:
    """Let the mapped models write within the block (this thread or task only)."""
    token = _writes_allowed.set(True)
    try:
        yield
    finally:
        _writes_allowed.reset(token)


def refuse_write(model: type, operation: str) -> None:
    """Raise :class:`RecyclicReadOnlyError` unless inside :func:`allow_recyclic_writes`."""
    if not _writes_allowed.get():
        raise RecyclicReadOnlyError(model, operation)
