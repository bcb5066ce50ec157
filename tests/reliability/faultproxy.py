"""A TCP proxy that can be told, while it runs, to misbehave the way real networks do.

It sits between the gateway and one service. Modes:

- ``pass``: forward bytes both ways, untouched;
- ``refuse``: close the listening socket, so connecting gets ECONNREFUSED;
- ``hang``: accept connections, read what arrives and never answer;
- ``reset``: forward the request, relay the first ``reset_after`` bytes of the answer, then
  reset the connection (TCP RST, via SO_LINGER 0) instead of closing it politely.

Changing the mode drops every open connection, so a pooled keep-alive connection made in
``pass`` mode cannot carry traffic past a fault that the test has just switched on.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

MODES = ("pass", "refuse", "hang", "reset")
BUFFER = 64 * 1024


class FaultProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = _free_port()
        self.mode = "pass"
        self.reset_after = 12  # inside the status line: no response can be made of it
        self.connections_seen = 0
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- control -------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._listen()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._close_listener()
        self._drop_connections()

    def set_mode(self, mode: str, reset_after: int | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        with self._lock:
            self.mode = mode
            if reset_after is not None:
                self.reset_after = reset_after
        self._drop_connections()
        if mode == "refuse":
            self._close_listener()
        elif self._listener is None:
            self._listen()

    @contextmanager
    def fault(self, mode: str, reset_after: int | None = None) -> Iterator[FaultProxy]:
        """Misbehave inside the block, pass traffic again after it."""
        self.set_mode(mode, reset_after)
        try:
            yield self
        finally:
            self.set_mode("pass")

    # -- plumbing ------------------------------------------------------------

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept_loop, args=(listener,), daemon=True).start()

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone may not.
            with suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed: refuse mode or stop
            with self._lock:
                mode = self.mode
                self.connections_seen += 1
            self._track(client)
            handler = self._hang if mode == "hang" else self._forward
            threading.Thread(target=handler, args=(client, mode), daemon=True).start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.add(sock)

    def _drop_connections(self) -> None:
        with self._lock:
            sockets, self._open = self._open, set()
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _hang(self, client: socket.socket, mode: str) -> None:
        # Read and discard, so the sender is never blocked by a full buffer; never answer.
        with suppress(OSError):
            while client.recv(BUFFER):
                pass

    def _forward(self, client: socket.socket, mode: str) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _reset(client)
            return
        upstream.settimeout(None)
        self._track(upstream)
        relayed = 0
        limit = self.reset_after if mode == "reset" else None
        pair = {client: upstream, upstream: client}
        try:
            while True:
                readable, _, _ = select.select(list(pair), [], [], 1.0)
                if self._stopped.is_set():
                    return
                for source in readable:
                    data = source.recv(BUFFER)
                    if not data:
                        return
                    if source is upstream and limit is not None:
                        data = data[: max(0, limit - relayed)]
                        client.sendall(data)
                        relayed += len(data)
                        if relayed >= limit:
                            _reset(client)
                            return
                        continue
                    pair[source].sendall(data)
        except (OSError, ValueError):
            return  # a side went away, or the test dropped the connection
        finally:
            for sock in (client, upstream):
                with suppress(OSError):
                    sock.close()


def _reset(sock: socket.socket) -> None:
    """Close with an RST rather than a FIN, as a crashed peer or a middlebox would."""
    with suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with suppress(OSError):
        sock.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
