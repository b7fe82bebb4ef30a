"""One bounded request/response exchange over a fresh TCP connection.

Every raw probe (ClientHello, SSLv2 CLIENT-HELLO, no-SNI certificate fetch)
is: connect to a numeric address, send some bytes, read until a parser says
the answer is complete, the server hangs up, a byte cap is hit, or one
deadline passes.  This module does only that and reports how it ended; the
callers interpret the bytes.  The socket work runs on one selector thread for
the whole process (:mod:`certcheck.probe.reactor`); the caller holds its
connection slot and waits for the outcome.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from certcheck.probe.budget import BudgetExhausted, ConnectionBudget, maybe_slot
from certcheck.probe.reactor import LINGER_SECONDS, reactor


@dataclass
class Exchange:
    """How one exchange ended.

    ``stop`` is ``done`` (the parser is satisfied), ``closed``, ``reset``,
    ``timeout``, ``unreachable`` (an error after connecting), ``full`` (the
    byte cap was reached), ``connect`` (see ``connect_error``) or ``budget``
    (the target's overall time budget ran out before a slot was free).
    """

    data: bytes = b""
    stop: str = "timeout"
    why: str = ""
    connect_error: OSError | None = None


@lru_cache(maxsize=4096)
def _numeric(host: str, port: int) -> tuple[int, tuple]:
    """(family, sockaddr) of a numeric address; a probe connects to it some 30 times."""
    family, _, _, _, sockaddr = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
    )[0]
    return family, sockaddr


def close_politely(sock: socket.socket, wait: bool = True) -> None:
    """Half-close, drain until the server closes too (bounded), then close."""
    try:
        if wait:
            sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + LINGER_SECONDS
            drained = 0
            while drained < 256 * 1024:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                sock.settimeout(remaining)
                chunk = sock.recv(65536)
                if not chunk:
                    break
                drained += len(chunk)
    except OSError:
        pass
    finally:
        sock.close()


def exchange(
    address: tuple,
    payload: bytes,
    timeout: float,
    done: Callable[[bytes], bool],
    max_read: int,
    budget: ConnectionBudget | None = None,
) -> Exchange:
    """Send ``payload`` and read until ``done(data)`` is true; never raises for I/O.

    ``timeout`` bounds the whole exchange (connect included), measured from
    when the connection slot is granted, and is cut short by the budget's
    overall deadline.
    """
    try:
        with maybe_slot(budget):
            deadline = time.monotonic() + timeout
            if budget is not None:
                deadline = min(deadline, budget.deadline)
            try:
                family, sockaddr = _numeric(address[0], address[1])
            except OSError as exc:
                return Exchange(stop="connect", connect_error=exc)
            if len(address) == 4:
                sockaddr = address  # (host, port, flowinfo, scope_id): keep the scope
            # the socket work happens on the reactor's thread (certcheck/probe/reactor.py)
            return reactor().exchange(family, sockaddr, payload, deadline, done, max_read)
    except BudgetExhausted as exc:
        return Exchange(stop="budget", why=str(exc))
