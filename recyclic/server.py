"""gunicorn's sync worker with a bound on a slow client; ``gunicorn.conf.py`` runs it.

A sync worker serves one connection at a time and reads a request until it is whole: a client
that sends half its headers and then nothing (or reads its answer and then stops) would hold the
worker until gunicorn kills it for silence (``GUNICORN_TIMEOUT``, 30 s), and a few such clients
hold every worker. Here each read and each write on a client's socket waits at most
``GUNICORN_CLIENT_TIMEOUT`` seconds (5 by default): the connection is then closed, one line
logged, and the worker goes on with the next. A client that trickles a byte every few seconds
still costs a worker: a buffering proxy in front (nginx, deploy/nginx/) is what turns slow
clients away for good, as gunicorn's own documentation asks.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
from typing import Any

from gunicorn import glogging, util
from gunicorn.workers import sync

#: Seconds a read from or a write to a client may wait.
CLIENT_TIMEOUT = float(os.environ.get("GUNICORN_CLIENT_TIMEOUT", "5"))


class _ClientSocket(socket.socket):
    """A client's socket that remembers it timed out, and is then closed at once: gunicorn's
    graceful close would otherwise wait 2 s more for a client that sends nothing."""

    timed_out = False

    def _timing(self, method: Any, *args: Any) -> Any:
        try:
            return method(*args)
        except TimeoutError:
            self.timed_out = True
            raise

    def recv(self, *args: Any) -> bytes:
        return self._timing(super().recv, *args)

    def recv_into(self, *args: Any) -> int:
        return self._timing(super().recv_into, *args)

    def send(self, *args: Any) -> int:
        return self._timing(super().send, *args)

    def sendall(self, *args: Any) -> None:
        return self._timing(super().sendall, *args)

    def sendfile(self, *args: Any) -> int:
        return self._timing(super().sendfile, *args)

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
        client.settimeout(CLIENT_TIMEOUT)
        util.close_on_exec(client)
        self.handle(listener, client, address)


class Logger(glogging.Logger):
    """gunicorn's logger, with a client's timeout as one line instead of a traceback."""

    def exception(self, msg: str, *args: Any, **kwargs: Any) -> None:
        if isinstance(sys.exc_info()[1], TimeoutError) and msg.startswith("Socket error"):
            self.info(
                "A client left its request or its answer unfinished for %s s: connection closed.",
                CLIENT_TIMEOUT,
            )
            return
        super().exception(msg, *args, **kwargs)
