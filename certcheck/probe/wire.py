"""One bounded request/response exchange over a fresh TCP connection.

Every raw probe (ClientHello, SSLv2 CLIENT-HELLO, no-SNI certificate fetch)
is: connect to a numeric address, send some bytes, read until a parser says
the answer is complete, the server hangs up, a byte cap is hit, or one
deadline passes.  This module does only that and reports how it ended; the
callers interpret the bytes.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from certcheck.probe.budget import BudgetExhausted, ConnectionBudget, maybe_slot


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


def connect_numeric(address: tuple, deadline: float) -> socket.socket:
    """Open a TCP connection to a numeric IPv4/IPv6 address within the deadline.

    Raises ``socket.gaierror`` for a non-numeric host (no DNS is ever done
    here) and other ``OSError`` subclasses for connect failures.
    """
    family, sockaddr = _numeric(address[0], address[1])
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        sock.connect(address if len(address) == 4 else sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


@lru_cache(maxsize=4096)
def _numeric(host: str, port: int) -> tuple[int, tuple]:
    """(family, sockaddr) of a numeric address; a probe connects to it some 30 times."""
    family, _, _, _, sockaddr = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
    )[0]
    return family, sockaddr


#: After the last read the probe half-closes and waits this long for the server's FIN,
#: so the server has let go of a connection before its slot is used again: polite,
#: and what makes --per-host hold as the server counts, not only as we count.
LINGER_SECONDS = 0.25


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
                sock = connect_numeric(address, deadline)
            except OSError as exc:
                return Exchange(stop="connect", connect_error=exc)
            result = Exchange(stop="error")
            try:
                result = _talk(sock, payload, deadline, done, max_read)
                return result
            finally:
                close_politely(sock, result.stop != "reset")
    except BudgetExhausted as exc:
        return Exchange(stop="budget", why=str(exc))


def _talk(
    sock: socket.socket,
    payload: bytes,
    deadline: float,
    done: Callable[[bytes], bool],
    max_read: int,
) -> Exchange:
    result = Exchange()
    data = b""
    try:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        sock.sendall(payload)
        while len(data) < max_read:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            sock.settimeout(remaining)
            chunk = sock.recv(min(65536, max_read - len(data)))
            if not chunk:
                result.stop = "closed"
                break
            data += chunk
            if done(data):
                result.stop = "done"
                break
        else:
            result.stop = "full"
    except TimeoutError:
        result.stop = "timeout"
    except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
        result.stop = "reset"
    except OSError as exc:  # e.g. EHOSTUNREACH from an ICMP error mid-exchange
        result.stop = "unreachable"
        result.why = f" ({os.strerror(exc.errno) if exc.errno else exc})"
    result.data = data
    return result
