"""A plain TCP listener on 127.0.0.1 for tests: one thread per connection.

``serve_each(handle)`` yields the port; every accepted connection runs ``handle(conn)``
on its own daemon thread and is closed afterwards (an OSError inside ``handle`` ends
that connection only).  The accept loop polls, so the listener is gone within about
0.1 s of the block's end.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def serve_each(handle: Callable[[socket.socket], None], backlog: int = 64) -> Iterator[int]:
    listener = socket.create_server(("127.0.0.1", 0), backlog=backlog)
    listener.settimeout(0.1)
    stop = threading.Event()

    def run(conn: socket.socket) -> None:
        try:
            handle(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)  # accepted sockets inherit the listener's poll timeout
            threading.Thread(target=run, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        listener.close()
