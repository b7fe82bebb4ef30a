"""One bounded request/response exchange over a fresh TCP connection.

Every raw probe (ClientHello, SSLv2 CLIENT-HELLO, no-SNI certificate fetch)
is: connect to a numeric address, send some bytes, read until a parser says
the answer is complete, the server hangs up, a byte cap is hit, or one
deadline passes.  The probes say so by yielding a :class:`certcheck.probe.driver.Ask`
from their plan; :func:`exchange` is the same for one exchange on its own.  The callers
interpret the bytes.
"""

from __future__ import annotations

from collections.abc import Callable

from certcheck.probe.budget import ConnectionBudget
from certcheck.probe.driver import Ask, Plan, run
from certcheck.probe.reactor import Exchange, Reply

__all__ = ["Exchange", "Reply", "ask", "exchange"]


def ask(
    address: tuple,
    payload: bytes,
    timeout: float,
    done: Callable[[bytes], bool | Reply],
    max_read: int,
    budget: ConnectionBudget | None = None,
) -> Plan[Exchange]:
    """The plan of one exchange (see :func:`exchange`)."""
    result: Exchange = yield Ask(address, payload, timeout, done, max_read, budget)
    return result


def exchange(
    address: tuple,
    payload: bytes,
    timeout: float,
    done: Callable[[bytes], bool | Reply],
    max_read: int,
    budget: ConnectionBudget | None = None,
) -> Exchange:
    """Send ``payload`` and read until ``done(data)`` is true; never raises for I/O.

    ``timeout`` bounds the whole exchange (connect included), measured from
    when the connection slot is granted, and is cut short by the budget's
    overall deadline.  An exception raised by ``done`` is raised here.
    """
    return run(ask(address, payload, timeout, done, max_read, budget))
