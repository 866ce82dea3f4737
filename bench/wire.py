"""What a computation sends to PostgreSQL, read on the wire: round trips, SQL and Python time.

:func:`traced` turns on libpq's own trace of the protocol (``PQtrace``, through psycopg's
``PGconn.trace``) on the Django connection for the length of one call, then reads it back. It
counts at the lowest level the client has, below Django and psycopg, so it sees what their hooks
miss: psycopg sends the ``BEGIN`` of a transaction by itself before the first statement, and
Django ends a transaction with ``connection.rollback()``, neither through a cursor (Django's
``execute_wrapper`` never sees them). Savepoints, ``SET``, the queries, a health check's
``SELECT 1``: everything the connection says is in the trace, whoever sent it.

- A **round trip** is one exchange that ends with the server's ``ReadyForQuery``: the client
  sends a simple ``Query`` (one or several statements in one string) or an extended-protocol
  batch ending with ``Sync`` (``Parse``/``Bind``/``Describe``/``Execute``/``Sync``), then waits
  for the answer before it can send anything else. Django never uses psycopg's pipeline mode,
  where several ``Sync`` could share one wait.
- **SQL time** is, for each round trip, from libpq writing the first message to libpq reading
  ``ReadyForQuery``: sending, the server's work, receiving the whole result. psycopg's cursors
  (Django's are client-side) receive the whole result there, so fetching the rows later is
  converting them to Python objects: Python time.
- **Python time** is the rest of the call's wall time: Django building the SQL, psycopg
  adapting and loading values, the service's own arithmetic.

libpq stamps each traced message with the wall clock to the microsecond (``gettimeofday``);
writing the trace adds a few microseconds per message. A traced call is therefore measured
apart from the untraced runs that give the bench's median and 95th percentile.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

# One traced message: "2026-12-01 16:16:07.337391\tF\t26\tParse\t ..." (time, F from the client
# or B from the server, length, message type, its fields). A string field printed with a line
# break in it continues on the next lines, which match nothing here and are skipped.
_MESSAGE = re.compile(
    r"^(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6})\t(?P<side>[FB])\t\d+\t(?P<type>\w+)"
    r"(?:\t ?(?P<fields>.*))?$"
)
#: How much of each statement the results keep: enough to recognise it.
STATEMENT_CHARS = 80


@dataclass(frozen=True)
class RoundTrip:
    """One exchange: the statement sent (the ``Query`` or ``Parse`` text) and its duration."""

    statement: str
    seconds: float

    @property
    def is_select(self) -> bool:
        """A query, also when ``read_only``'s ``SET``s travel in front of it in one string."""
        return _query(self.statement).upper().startswith(("SELECT", "WITH"))

    @property
    def label(self) -> str:
        """The statement, shortened; ``SET``s in front of a query counted, not spelled out."""
        query = _query(self.statement)
        sets = self.statement.upper().count("SET ", 0, len(self.statement) - len(query))
        return (f"[{sets} SET] " if sets else "") + query[:STATEMENT_CHARS]


@dataclass(frozen=True)
class Traced:
    """One call as the wire saw it."""

    round_trips: tuple[RoundTrip, ...]
    wall_ms: float

    @property
    def sql_ms(self) -> float:
        return sum(trip.seconds for trip in self.round_trips) * 1000

    @property
    def python_ms(self) -> float:
        return self.wall_ms - self.sql_ms

    @property
    def selects(self) -> int:
        return sum(trip.is_select for trip in self.round_trips)

    @property
    def statements(self) -> list[str]:
        return [trip.label for trip in self.round_trips]


def _query(statement: str) -> str:
    from reception_stats.db import without_limits  # once Django is set up

    return without_limits(statement)


def parse_trace(text: str) -> list[RoundTrip]:
    """The round trips of a libpq trace (with timestamps), in order.

    A round trip starts with the first message the client sends after the previous
    ``ReadyForQuery`` and ends with the next one. Its statement is the text of its ``Query``, or
    of its ``Parse``; a statement executed from an earlier ``Parse`` (psycopg's prepared
    statements) is named by its ``Bind``. Messages left unanswered at the end (a connection
    closed with ``Terminate``) make no round trip.
    """
    trips: list[RoundTrip] = []
    started: datetime | None = None
    statement = ""
    for line in text.splitlines():
        message = _MESSAGE.match(line)
        if message is None:
            continue
        at = datetime.strptime(message["at"], "%Y-%m-%d %H:%M:%S.%f")
        kind, fields = message["type"], message["fields"] or ""
        if message["side"] == "F":
            if started is None:
                started, statement = at, ""
            if not statement:
                statement = _statement(kind, fields)
        elif kind == "ReadyForQuery" and started is not None:
            trips.append(RoundTrip(statement, (at - started).total_seconds()))
            started = None
    return trips


def _statement(kind: str, fields: str) -> str:
    # libpq prints a string field between double quotes without escaping the ones inside, and
    # Django quotes every identifier: a text runs from its first quote to the last one.
    # Query: "text". Parse: "name" "text", then the parameters' count and types (no quotes).
    # Bind: "portal" "statement name", then the parameters.
    if kind == "Query":
        return _quoted(fields)
    if kind == "Parse":
        name_end = fields.find('"', fields.find('"') + 1)
        return _quoted(fields[name_end + 1 :])
    if kind == "Bind":
        names = fields.split('"')
        return f"<prepared {names[3] if len(names) > 3 else '?'}>"
    return ""


def _quoted(fields: str) -> str:
    first, last = fields.find('"'), fields.rfind('"')
    # A text with a line break in it is cut there: no closing quote on this line.
    return fields[first + 1 : last if last > first else None]


def traced(call: Callable[[], object], using: str) -> Traced:
    """Call ``call`` with libpq tracing Django's connection ``using``; what the wire saw.

    The connection is opened first if it is not (its opening is then not part of the call).
    PostgreSQL only: SQLite has no wire.
    """
    from django.db import connections

    wrapper = connections[using]
    if wrapper.vendor != "postgresql":
        raise RuntimeError(f"{using!r} is {wrapper.vendor}: only a PostgreSQL connection is traced")
    wrapper.ensure_connection()
    pgconn = wrapper.connection.pgconn
    with tempfile.TemporaryFile() as trace:
        # psycopg hands libpq a stdio stream made with fdopen() on the descriptor it is given,
        # and PQuntrace() flushes that stream but never closes it: give it a duplicate, closed
        # here once flushed, so that the temporary file's own descriptor stays ours.
        descriptor = os.dup(trace.fileno())
        try:
            pgconn.trace(descriptor)
            try:
                started = time.perf_counter()
                call()
                wall = time.perf_counter() - started
            finally:
                pgconn.untrace()
        finally:
            os.close(descriptor)
        trace.seek(0)
        text = trace.read().decode("utf-8", errors="replace")
    return Traced(tuple(parse_trace(text)), wall * 1000)
