"""A TCP relay on loopback that a test cuts, freezes and restores, to fault a real server.

The PostgreSQL and Redis servers are shared by the whole suite: instead of stopping them, a test
points the app at a relay in front of them and breaks the relay.

- **cut**: every relayed connection is closed and new ones are refused, as when a server
  restarts or is down.
- **freeze**: the relay keeps every connection open and accepts new ones, but passes nothing on
  in either direction, as when a host or a network stalls: the kernel still acknowledges what the
  app sends, and no answer ever comes. Only a client-side bound ends such a wait.
- **restore** / **thaw**: back to normal (connections parked while frozen are dropped).
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time


class TcpRelay:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._parked: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._frozen = threading.Event()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        self._frozen.clear()
        listener, self._listener = self._listener, None
        if listener is not None:
            # Closing alone would leave it listening while the accept thread blocks on it.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets | self._parked, set()
            self._parked = set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def freeze(self) -> None:
        self._frozen.set()

    def thaw(self) -> None:
        self._frozen.clear()
        with self._lock:
            parked, self._parked = self._parked, set()
        for sock in parked:
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            if self._frozen.is_set():
                with self._lock:
                    self._parked.add(client)  # accepted by the kernel, answered by nobody
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets |= {client, upstream}
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, client: socket.socket, upstream: socket.socket) -> None:
        selector = selectors.DefaultSelector()
        try:
            selector.register(client, selectors.EVENT_READ, upstream)
            selector.register(upstream, selectors.EVENT_READ, client)
            while True:
                if self._frozen.is_set():
                    time.sleep(0.05)  # what arrives waits in the kernel's buffers
                    continue
                for key, _ in selector.select(timeout=0.2):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
        except (OSError, ValueError):
            return
        finally:
            selector.close()
            for sock in (client, upstream):
                sock.close()
