"""How the app touches its databases: read-only, by construction, and never for long.

- :func:`read_only` wraps every KPI computation. On PostgreSQL its statements run in a read-only
  transaction (repeatable read when it is the outermost one, so that a computation of several
  statements sees one state of the data) whose statements the server cancels after
  ``STATEMENT_TIMEOUT_MS`` and which waits at most ``LOCK_TIMEOUT_MS`` for a lock Recyclic holds,
  with PostgreSQL's JIT off and the planner told the window's rows are in memory
  (docs/performance.md). The ``SET``s travel with the first query, and a computation of one
  statement is its own implicit transaction: one round trip in all. On SQLite (the demo) it is a
  plain transaction. A transaction read_only opens is rolled back at the end: there is nothing
  to keep, and when the block is nested in a caller's transaction (a savepoint) rolling it back
  also ends its ``SET LOCAL`` limits and its read-only mode there. Nested in another
  ``read_only`` block it adds nothing.
- :func:`bounded` is what every door runs in (API, admin page, /healthz, the commands): each
  statement and each health check of a kept connection, on every PostgreSQL connection, Django's
  own tables included (sessions, tokens), is cut by the client when PostgreSQL has not answered
  ``STATEMENT_TIMEOUT_MS`` plus half a second later (:mod:`reception_stats.watchdog`). A database
  that let a statement or a connection time out is then left alone for
  ``UNRESPONSIVE_PAUSE_SECONDS``: the doors answer from the cache at once instead of waiting for
  it again. Connecting is bounded by the ``connect_timeout`` of the database's ``OPTIONS``.
- The mapped models refuse every write (:class:`RecyclicReadOnlyError`) except inside
  :func:`allow_recyclic_writes`, which only the demo loader and the tests use.

A cancelled statement, a lock not granted or a cut connection reaches the caller as Django's
``OperationalError``, a ``DatabaseError`` like an outage: the doors answer stale figures or 503.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, NotSupportedError, OperationalError, connections, transaction
from django.db.backends.postgresql.psycopg_any import is_psycopg3

from .conf import app_settings
from .watchdog import bounded_by

#: Longest limit accepted: a figure that takes minutes is an incident, not a live figure.
MAX_TIMEOUT_MS = 600_000

# PostgreSQL's SQLSTATEs: query_canceled (statement_timeout) and lock_not_available.
STATEMENT_TIMEOUT = "57014"
LOCK_TIMEOUT = "55P03"

# The only SQL of this app assembled from values: two integers validated by _milliseconds(),
# because SET takes no bind parameters. Sent with the query itself, in the same round trip.
# For these statements only (docs/performance.md): JIT compilation pays off on queries that run
# for seconds, and on these it cost 80 ms of a 114 ms computation; the live window's rows were
# written in the last day or two and are read every few seconds, so they are in memory, where a
# random read costs about what a sequential one does (1.1, not the default 4 priced for a
# spinning disk): with the default, PostgreSQL reads a busy network's whole ticket and sale item
# tables rather than follow the advised indexes.
_LIMITS_SQL = (
    "SET TRANSACTION READ ONLY; SET LOCAL statement_timeout = %d; SET LOCAL lock_timeout = %d; "
    "SET LOCAL jit = off; SET LOCAL random_page_cost = 1.1"
)
# Only as the first statement of a transaction, hence only when read_only() begins it.
_REPEATABLE_READ = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; "

#: Seconds past the statement timeout before the client cuts a connection itself: PostgreSQL's
#: own cancellation, which leaves the connection usable, comes first when the server is alive.
CLIENT_MARGIN_SECONDS = 0.5
#: Seconds a health check of a kept connection (``SELECT 1``) may take inside :func:`bounded`.
HEALTH_CHECK_SECONDS = 0.5


# What read_only() sends besides the queries themselves: the BEGIN of its transaction, the
# savepoint it is when nested in a caller's transaction, and its end (Django logs COMMIT and
# ROLLBACK too, though no cursor runs them). Its SETs travel in front of a query.
_TRANSACTION_CONTROL = ("BEGIN", "SAVEPOINT ", "RELEASE SAVEPOINT ", "ROLLBACK", "COMMIT")
_LEADING_LIMITS = re.compile(r"^(?:SET (?:TRANSACTION|LOCAL) [^;]*(?:;\s*|$))+", re.IGNORECASE)


def without_limits(sql: str) -> str:
    """``sql`` without the ``SET``s :func:`read_only` sends in front of a statement."""
    return _LEADING_LIMITS.sub("", sql.lstrip())


def is_transaction_control(sql: str) -> bool:
    """True for a statement :func:`read_only` adds around the queries: not a query of its own."""
    query = without_limits(sql)
    return not query or query.upper().startswith(_TRANSACTION_CONTROL)


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


_read_only_aliases: ContextVar[frozenset[str]] = ContextVar(
    "read_only_aliases", default=frozenset()
)


@contextmanager
def read_only(using: str, *, consistent: bool = True) -> Iterator[None]:
    """Run the block's queries on ``using`` in a read-only, time-bounded transaction.

    On PostgreSQL the limits travel with the block's first statement, in the same round trip
    (:class:`_WithLimits`). ``consistent=False`` says the block's statements need not see one
    state of the data (a computation of one statement): outside any transaction, each statement
    is then its own implicit transaction, limits and query sent as one string, nothing before
    or after it: one round trip in all. Otherwise, or inside a caller's transaction, Django's
    ``atomic`` opens the transaction (or a savepoint) and rolls it back at the end.
    """
    if using in _read_only_aliases.get():
        yield  # already inside one: its transaction, limits and snapshot hold
        return
    limits = _LIMITS_SQL % (statement_timeout_ms(), lock_timeout_ms())
    connection = connections[using]
    token = _read_only_aliases.set(_read_only_aliases.get() | {using})
    try:
        with bounded():
            if connection.vendor != "postgresql":
                with transaction.atomic(using=using):
                    yield
                    transaction.set_rollback(True, using=using)
            elif (
                not consistent
                and _binds_client_side(connection)
                and not connection.in_atomic_block
                and connection.get_autocommit()
            ):
                # Each statement its own implicit transaction, the limits in the same string.
                with connection.execute_wrapper(_WithLimits(limits, every_statement=True)):
                    yield
            else:
                with transaction.atomic(using=using):
                    if not connection.savepoint_ids:  # read_only() began the transaction
                        limits = _REPEATABLE_READ + limits
                    if _binds_client_side(connection):
                        with connection.execute_wrapper(_WithLimits(limits, every_statement=False)):
                            yield
                    else:
                        with connection.cursor() as cursor:
                            cursor.execute(limits)
                        yield
                    transaction.set_rollback(True, using=using)
    finally:
        _read_only_aliases.reset(token)


def _binds_client_side(connection: Any) -> bool:
    """True when a statement may travel in one string with the ``SET``s before it: Django's
    default client-side binding sends it with the simple query protocol, which takes several
    statements; server-side binding uses the extended one, which takes one."""
    return not connection.settings_dict["OPTIONS"].get("server_side_binding")


class _WithLimits:
    """Execute wrapper: ``limits`` and the statement as one string, one round trip.

    Several statements in one simple query run as one transaction, implicit when none is open
    (PostgreSQL's ``SET LOCAL`` and ``SET TRANSACTION`` then hold until its end, that is until
    the statement's). psycopg 3 keeps one result per statement: the cursor is moved to the
    last, the query's, before Django reads it. ``every_statement``: the limits go with each
    statement (each its own transaction), or with the first only (the block's transaction
    keeps them).
    """

    def __init__(self, limits: str, *, every_statement: bool) -> None:
        self.limits = limits
        self.every_statement = every_statement
        self.sent = False

    def __call__(self, execute: Callable, sql: str, params: Any, many: bool, context: Any) -> Any:
        if many or (self.sent and not self.every_statement):
            return execute(sql, params, many, context)
        if getattr(context["cursor"].cursor, "name", None):
            # A server-side cursor wraps the statement in DECLARE: no room for the SETs. The app
            # never iterates a queryset with iterator(); this says so if that ever changes.
            raise NotSupportedError("read_only() blocks do not use server-side cursors.")
        self.sent = True
        result = execute(f"{self.limits}; {sql}", params, many, context)
        if is_psycopg3:
            while context["cursor"].nextset():
                pass
        return result


# --- bounds on every wait -------------------------------------------------------------------


class DatabaseUnresponsive(OperationalError):
    """The client cut a connection PostgreSQL left unanswered, or skipped a database that did
    so moments ago (``UNRESPONSIVE_PAUSE_SECONDS``)."""


_bounded: ContextVar[bool] = ContextVar("reception_stats_bounded", default=False)
_unresponsive_until: dict[str, float] = {}
_unresponsive_lock = threading.Lock()


@contextmanager
def bounded() -> Iterator[None]:
    """Bound every database wait of the block (see the module's docstring)."""
    # Before any connection of this thread exists too: a worker started while a database is
    # frozen must also leave it alone after one connection attempt timed out, not try again
    # (and wait connect_timeout) at every access.
    for connection in connections.all():
        install_bounds(None, connection)
    token = _bounded.set(True)
    try:
        yield
    finally:
        _bounded.reset(token)


def query_seconds() -> float:
    """How long the client waits for one statement before it cuts the connection."""
    return statement_timeout_ms() / 1000 + CLIENT_MARGIN_SECONDS


def is_unresponsive(alias: str) -> bool:
    """True while ``alias`` is left alone after it let a statement or a connection time out."""
    with _unresponsive_lock:
        until = _unresponsive_until.get(alias)
        if until is None:
            return False
        if time.monotonic() < until:
            return True
        del _unresponsive_until[alias]
        return False


def mark_unresponsive(alias: str) -> None:
    with _unresponsive_lock:
        pause = float(app_settings.UNRESPONSIVE_PAUSE_SECONDS)
        _unresponsive_until[alias] = time.monotonic() + pause


def mark_responsive(alias: str) -> None:
    with _unresponsive_lock:
        _unresponsive_until.pop(alias, None)


def _refuse_unresponsive(alias: str) -> None:
    if is_unresponsive(alias):
        raise DatabaseUnresponsive(
            f"Database {alias!r} left a statement or a connection unanswered moments ago; "
            f"not asked again before {app_settings.UNRESPONSIVE_PAUSE_SECONDS} s."
        )


def _bound_statement(execute: Callable, sql: str, params: Any, many: bool, context: Any) -> Any:
    """Execute wrapper of every PostgreSQL connection: a watchdog per statement in bounded()."""
    if not _bounded.get():
        return execute(sql, params, many, context)
    wrapper = context["connection"]
    _refuse_unresponsive(wrapper.alias)
    with bounded_by(wrapper.connection, query_seconds()) as cut:
        try:
            return execute(sql, params, many, context)
        except DatabaseError as error:
            failure = error
    if cut[0]:
        mark_unresponsive(wrapper.alias)
        raise DatabaseUnresponsive(
            f"Database {wrapper.alias!r} did not answer within {query_seconds():.1f} s; "
            "the connection was cut."
        ) from failure
    raise failure


def install_bounds(sender: Any, connection: Any, **kwargs: Any) -> None:
    """``connection_created`` receiver: make a PostgreSQL connection's waits boundable.

    Installed once per connection object (it outlives reconnections): the statement wrapper
    above, and in :func:`bounded` blocks a bounded health check and no reconnection to a
    database left alone. Outside those blocks the connection behaves exactly as Django's.
    """
    if connection.vendor != "postgresql" or getattr(connection, "_reception_stats_bounds", False):
        return
    connection._reception_stats_bounds = True
    connection.execute_wrappers.insert(0, _bound_statement)
    alias = connection.alias
    django_is_usable = connection.is_usable
    django_connect = connection.connect

    def is_usable() -> bool:
        if not _bounded.get():
            return django_is_usable()
        if is_unresponsive(alias) or connection.connection is None:
            return False
        with bounded_by(connection.connection, HEALTH_CHECK_SECONDS) as cut:
            usable = django_is_usable()
        if cut[0]:
            mark_unresponsive(alias)
            return False
        return usable

    def connect() -> None:
        if _bounded.get():
            _refuse_unresponsive(alias)
        try:
            django_connect()
        except Exception as error:  # the driver's own error: Django wraps it a level above
            if _bounded.get() and is_connect_timeout(error):
                mark_unresponsive(alias)
            raise

    connection.is_usable = is_usable
    connection.connect = connect


def is_connect_timeout(error: BaseException) -> bool:
    # psycopg's ConnectionTimeout, met here as it is or wrapped in Django's OperationalError.
    return any(
        type(candidate).__name__ == "ConnectionTimeout"
        for candidate in (error, error.__cause__)
        if candidate is not None
    )


def database_location(connection: Any) -> str:
    """Where a connection goes, for messages: ``host:port`` (or the file of a SQLite database)."""
    settings_dict = connection.settings_dict
    where = settings_dict.get("HOST") or settings_dict.get("NAME") or "localhost"
    if settings_dict.get("PORT"):
        where = f"{where}:{settings_dict['PORT']}"
    return str(where)


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
