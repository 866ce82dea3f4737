"""A client-side bound on every wait for PostgreSQL: past its deadline a connection is cut.

PostgreSQL's ``statement_timeout`` is enforced by the server: a server that no longer answers
(a host or a network that stalls, a process stopped) never sends the cancellation, and psycopg
would wait for its answer forever, the request with it, until gunicorn kills the worker. Nothing
in psycopg bounds one query from the client side, and a cancel request would go to the same
silent server. So this module keeps one daemon thread which, when an operation outlives its
deadline, shuts the connection's socket down: the waiting psycopg call returns at once with an
``OperationalError`` (Django's, a ``DatabaseError``), which the doors already answer with stale
figures or 503, and Django drops the broken connection.

Use :func:`bounded_by` around the blocking call; :mod:`reception_stats.db` does it for every
query and health check of the app. Connecting is bounded by libpq's ``connect_timeout`` (the
project sets it; ``reception_stats.W020`` says when it is missing).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

logger = logging.getLogger(__name__)


class _Watchdog:
    """Deadlines in a heap, one thread that sleeps until the nearest and cuts what is late."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._armed: dict[int, Any] = {}  # ticket -> psycopg connection
        self._cut: set[int] = set()
        self._tickets = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, connection: Any, seconds: float) -> int:
        ticket = next(self._tickets)
        with self._condition:
            self._armed[ticket] = connection
            heapq.heappush(self._heap, (time.monotonic() + seconds, ticket))
            if self._thread is None or not self._thread.is_alive():
                # Started lazily, and again in a forked gunicorn worker (threads do not fork).
                self._thread = threading.Thread(
                    target=self._run, name="reception-stats-watchdog", daemon=True
                )
                self._thread.start()
            self._condition.notify()
        return ticket

    def disarm(self, ticket: int) -> bool:
        """Forget ``ticket``; True when its deadline had passed and the connection was cut."""
        with self._condition:
            self._armed.pop(ticket, None)
            if ticket in self._cut:
                self._cut.discard(ticket)
                return True
            return False

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._heap:
                    self._condition.wait()
                deadline, ticket = self._heap[0]
                delay = deadline - time.monotonic()
                if delay > 0:
                    self._condition.wait(delay)
                    continue
                heapq.heappop(self._heap)
                connection = self._armed.pop(ticket, None)
                if connection is None:
                    continue  # disarmed in time
                self._cut.add(ticket)
                # Under the lock: the owner cannot disarm, hence close and reuse the socket's
                # number for another connection, while it is being cut.
                _cut(connection)


def _cut(connection: Any) -> None:
    """Shut the connection's socket down, both ways; its owner's wait then fails at once."""
    try:
        fd = connection.pgconn.socket
    except Exception:  # already closed: nothing waits on it
        return
    try:
        # A duplicate of the descriptor: shutdown() acts on the socket itself, and closing the
        # duplicate leaves the descriptor psycopg holds to psycopg.
        with socket.socket(fileno=os.dup(fd)) as duplicate:
            duplicate.shutdown(socket.SHUT_RDWR)
    except OSError as error:
        logger.debug("Could not cut a late database connection: %s", error)


_watchdog = _Watchdog()


@contextlib.contextmanager
def bounded_by(connection: Any, seconds: float) -> Iterator[list[bool]]:
    """Cut ``connection`` (a psycopg connection) if the block is still running after
    ``seconds``. Yields a one-item list that holds True after the block if it was cut."""
    outcome = [False]
    ticket = _watchdog.arm(connection, seconds)
    try:
        yield outcome
    finally:
        outcome[0] = _watchdog.disarm(ticket)
