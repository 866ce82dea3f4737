"""gunicorn's sync worker with a bound on a slow client; ``gunicorn.conf.py`` runs it.

A sync worker serves one connection at a time and reads a request until it is whole: a client
that sends half its headers and then nothing (or reads its answer and then stops) would hold the
worker until gunicorn kills it for silence (``GUNICORN_TIMEOUT``, 30 s), and a few such clients
hold every worker. Here each read and each write on a client's socket waits at most
``GUNICORN_CLIENT_TIMEOUT`` seconds (5 by default), and the whole request must have arrived
within twice that (10 s), however slowly it trickles in: the connection is then closed, one line
logged, and the worker goes on with the next, never killed. Slow clients still hold a worker
that long each: a buffering proxy in front (nginx, deploy/nginx/) is what turns them away for
good, as gunicorn's own documentation asks.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
import time
from typing import Any

from gunicorn import glogging, util
from gunicorn.workers import sync

#: Seconds a read from or a write to a client may wait.
CLIENT_TIMEOUT = float(os.environ.get("GUNICORN_CLIENT_TIMEOUT", "5"))
#: Seconds a request may take to arrive whole, headers and body, from its connection.
REQUEST_SECONDS = 2 * CLIENT_TIMEOUT


class _ClientSocket(socket.socket):
    """A client's socket whose request must arrive whole within ``REQUEST_SECONDS`` (each
    read waiting ``CLIENT_TIMEOUT`` at most), and which is closed at once once it timed out:
    gunicorn's graceful close would otherwise wait 2 s more for a client that sends nothing."""

    timed_out = False
    deadline = 0.0

    def _timing(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except TimeoutError:
            self.timed_out = True
            raise

    def _reading(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        # A client trickling a header line every few seconds never lets one read time out:
        # the deadline bounds them all, well under gunicorn's own timeout.
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self.timed_out = True
            raise TimeoutError("the client did not send its request in time")
        # gunicorn's graceful close sets a shorter wait of its own: keep it.
        self.settimeout(min(CLIENT_TIMEOUT, remaining, self.gettimeout() or CLIENT_TIMEOUT))
        return self._timing(method, *args, **kwargs)

    def recv(self, *args: Any, **kwargs: Any) -> bytes:
        return self._reading(super().recv, *args, **kwargs)

    def recv_into(self, *args: Any, **kwargs: Any) -> int:
        return self._reading(super().recv_into, *args, **kwargs)

    def _writing(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        self.settimeout(CLIENT_TIMEOUT)
        return self._timing(method, *args, **kwargs)

    def send(self, *args: Any, **kwargs: Any) -> int:
        return self._writing(super().send, *args, **kwargs)

    def sendall(self, *args: Any, **kwargs: Any) -> None:
        return self._writing(super().sendall, *args, **kwargs)

    def sendfile(self, *args: Any, **kwargs: Any) -> int:
        return self._writing(super().sendfile, *args, **kwargs)

    def shutdown(self, how: int) -> None:
        if self.timed_out:
            # gunicorn's close_graceful() then closes without lingering.
            raise OSError(errno.ETIMEDOUT, "the client timed out")
        super().shutdown(how)


class SyncWorker(sync.SyncWorker):
    """gunicorn's sync worker whose client sockets time out after ``CLIENT_TIMEOUT``."""

    def accept(self, listener: Any) -> None:
        accepted, address = listener.accept()
        client = _ClientSocket(fileno=accepted.detach())
        client.deadline = time.monotonic() + REQUEST_SECONDS
        client.settimeout(CLIENT_TIMEOUT)
        util.close_on_exec(client)
        self.handle(listener, client, address)


class Logger(glogging.Logger):
    """gunicorn's logger, with a client's timeout as one line instead of a traceback."""

    def exception(self, msg: str, *args: Any, **kwargs: Any) -> None:
        if isinstance(sys.exc_info()[1], TimeoutError) and msg.startswith("Socket error"):
            self.info(
                "A client left its request or its answer unfinished (%s s per read, %s s per "
                "request): connection closed.",
                CLIENT_TIMEOUT,
                REQUEST_SECONDS,
            )
            return
        super().exception(msg, *args, **kwargs)
