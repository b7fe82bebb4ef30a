"""The socket work of raw exchanges, non-blocking, over one selector.

An :class:`ExchangeLoop` connects, sends, reads until the caller's parser is
satisfied, lingers for the server's FIN and closes, for every exchange it holds, without
blocking.  It belongs to one thread: :func:`certcheck.probe.driver.run` makes one per
call and drives all of a target's exchanges from the thread that probes the target.

Why not one thread per exchange, or one shared selector thread: on the 2-core bench
machine every hand-over between threads (a wake-up, the GIL passing) cost more CPU than
the exchange itself; about 440 us of the 670 us an exchange took when each was handed to
a shared selector thread, and thousands of futex calls per target with a thread per probe.

An exchange ends exactly as :class:`certcheck.probe.wire.Exchange` describes (the same
``stop`` kinds, the same connect errors).
"""

from __future__ import annotations

import errno
import heapq
import itertools
import os
import select
import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

#: After the last read the probe half-closes and waits this long for the server's FIN,
#: so the server has let go of a connection before its slot is used again: polite,
#: and what makes --per-host hold as the server counts, not only as we count.
LINGER_SECONDS = 0.25
LINGER_BYTES = 256 * 1024


@dataclass(slots=True)
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
    #: errno of the socket error that ended a ``reset`` or ``unreachable`` exchange
    errno: int | None = None
    #: monotonic instants: the exchange started (its slot granted), the TCP connect completed
    started_at: float = 0.0
    connected_at: float = 0.0


@dataclass(slots=True)
class Reply:
    """What a ``done`` callback may return besides True (finished) or False (read on):
    bytes to send now, the exchange reading on afterwards, or, with ``last``, ending once
    they are sent.  A dialogue such as a TLS handshake runs as one exchange this way."""

    data: bytes
    last: bool = False


@lru_cache(maxsize=4096)
def numeric_address(host: str, port: int) -> tuple[int, tuple]:
    """(family, sockaddr) of a numeric address; a probe connects to it some 30 times."""
    family, _, _, _, sockaddr = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
    )[0]
    return family, sockaddr


class _Poller:
    """Readiness of file descriptors: epoll directly where there is one (Linux), else the
    selectors module.  The probe registers and modifies each socket several times per
    connection, and selectors' bookkeeping was a tenth of the loop's time."""

    def __init__(self) -> None:
        self._epoll = select.epoll() if hasattr(select, "epoll") else None
        self._selector = None if self._epoll else selectors.DefaultSelector()
        self._objects: dict[int, object] = {}

    def register(self, fd: int, write: bool, obj: object) -> None:
        self._objects[fd] = obj
        if self._epoll is not None:
            self._epoll.register(fd, _EPOLL_OUT if write else _EPOLL_IN)
        else:
            assert self._selector is not None
            self._selector.register(fd, selectors.EVENT_WRITE if write else selectors.EVENT_READ)

    def want(self, fd: int, write: bool) -> None:
        """Watch ``fd`` for writability (``write``) or for reading from now on."""
        if self._epoll is not None:
            self._epoll.modify(fd, _EPOLL_OUT if write else _EPOLL_IN)
        else:
            assert self._selector is not None
            self._selector.modify(fd, selectors.EVENT_WRITE if write else selectors.EVENT_READ)

    def unregister(self, fd: int) -> None:
        """Stop watching ``fd``, which is about to be closed: the close takes it out of an
        epoll set by itself (one system call fewer per connection)."""
        if self._objects.pop(fd, None) is None:
            return
        if self._epoll is None:
            assert self._selector is not None
            self._selector.unregister(fd)

    def connected(self, mask: int) -> bool:
        """Whether a write-ready event of a connecting socket says it connected: epoll sets
        EPOLLERR with the failure; else only SO_ERROR can tell (False: ask it)."""
        return self._epoll is not None and not mask & _EPOLL_FAILED

    def poll(self, wait: float) -> list[tuple[int, int]]:
        """``(fd, mask)`` of the ready descriptors; :meth:`get` gives their objects."""
        if self._epoll is not None:
            return self._epoll.poll(wait)
        assert self._selector is not None
        return [(key.fd, mask) for key, mask in self._selector.select(wait)]

    def get(self, fd: int) -> object:
        """What ``fd`` was registered with; None once unregistered (by an earlier event)."""
        return self._objects.get(fd)

    def close(self) -> None:
        if self._epoll is not None:
            self._epoll.close()
        else:
            assert self._selector is not None
            self._selector.close()


#: a stream socket made non-blocking by socket() itself where the OS can (Linux): two
#: fcntl calls fewer per connection
_SOCK_NONBLOCK = getattr(socket, "SOCK_NONBLOCK", 0)
_NONBLOCKING_STREAM = socket.SOCK_STREAM | _SOCK_NONBLOCK
_EPOLL_IN = getattr(select, "EPOLLIN", 0)
_EPOLL_OUT = getattr(select, "EPOLLOUT", 0)
_EPOLL_FAILED = getattr(select, "EPOLLERR", 0) | getattr(select, "EPOLLHUP", 0)


@dataclass(eq=False, slots=True)
class Job:
    """One exchange in flight; ``on_close(job)`` is called once, when its socket is closed."""

    family: int
    sockaddr: tuple
    payload: bytes
    deadline: float
    done: Callable[[bytes], bool | Reply]
    max_read: int
    on_close: Callable[[Job], None]
    sock: socket.socket | None = None
    state: str = "new"  # new | connecting | sending | reading | lingering | closed
    sent: int = 0
    data: bytes = b""
    stop: str = "timeout"
    why: str = ""
    connect_error: OSError | None = None
    error: BaseException | None = None  # raised by ``done``: re-raised in the caller
    linger_until: float = 0.0
    drained: int = 0
    #: the payload being sent is the last (a final :class:`Reply`): then the talk ends
    final: bool = False
    #: ``done`` gets each read's bytes, not all so far, and nothing is kept in ``data``
    #: (a dialogue's parser consumes them: no quadratic re-reading of a trickled flight)
    stream: bool = False
    received: int = 0
    errno: int | None = None
    started_at: float = 0.0
    connected_at: float = 0.0


class ExchangeLoop:
    """Exchanges in flight on one selector; not thread-safe (one owner thread)."""

    def __init__(self) -> None:
        self._poller = _Poller()
        self._jobs: set[Job] = set()
        self._watched: dict[int, Callable[[], None]] = {}
        #: (instant, tie-break, job): when each job times out or stops lingering.  An
        #: entry goes stale when its job moves on; stale ones are dropped when they come
        #: up.  A loop holds a hundred jobs and polls a few times per connection: scanning
        #: them all on every poll was a tenth of the driver's time.
        self._timers: list[tuple[float, int, Job]] = []
        self._tie = itertools.count()
        #: One receive buffer for every read: ``recv(65536)`` mallocs 64 KiB and shrinks
        #: it to the few hundred bytes a hello answer is, thousands of times per minute,
        #: and the holes that leaves made a long scan's heap grow (free space it could
        #: not reuse).  ``recv_into`` this buffer and a copy of the exact size instead.
        self._buffer = memoryview(bytearray(65536))

    def watch(self, sock: socket.socket, on_readable: Callable[[], None]) -> None:
        """Call ``on_readable()`` whenever ``sock`` (not an exchange: a waker) is readable."""
        self._watched[sock.fileno()] = on_readable
        self._poller.register(sock.fileno(), False, on_readable)

    def __len__(self) -> int:
        return len(self._jobs)

    def close(self) -> None:
        for job in list(self._jobs):
            self._close(job)
        self._poller.close()

    def next_deadline(self) -> float | None:
        """The earliest instant at which a job times out or stops lingering."""
        timers = self._timers
        while timers and not _live(timers[0]):
            heapq.heappop(timers)
        return timers[0][0] if timers else None

    def _time(self, job: Job, when: float) -> None:
        timers = self._timers
        if len(timers) > 2 * len(self._jobs) + 64:
            # Mostly stale (closed jobs' deadlines): rebuild, so they hold no job alive.
            timers[:] = [entry for entry in timers if _live(entry)]
            heapq.heapify(timers)
        heapq.heappush(timers, (when, next(self._tie), job))

    def poll(self, wait: float) -> None:
        """Wait at most ``wait`` seconds for socket events, act on them, end what expired."""
        if self._jobs or self._watched:
            poller = self._poller
            for fd, mask in poller.poll(max(wait, 0.0)):
                job = poller.get(fd)
                if job is None:
                    continue
                if not isinstance(job, Job):
                    job()
                    continue
                try:
                    self._step(job, mask)
                except Exception as exc:  # noqa: BLE001 - a bug costs one exchange, not all
                    job.error = exc
                    self._close(job)
        elif wait > 0:
            time.sleep(wait)
        self._expire(time.monotonic())

    def start(self, job: Job) -> None:
        self._jobs.add(job)
        self._time(job, job.deadline)
        job.started_at = time.monotonic()
        try:
            sock = socket.socket(job.family, _NONBLOCKING_STREAM)
        except OSError as exc:
            job.stop, job.connect_error = "connect", exc
            self._finish(job)
            return
        if not _SOCK_NONBLOCK:
            sock.setblocking(False)
        job.sock = sock
        code = sock.connect_ex(job.sockaddr)
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
            job.stop, job.connect_error = "connect", OSError(code, os.strerror(code))
            self._close(job)
            return
        job.state = "connecting"
        if code == 0 or _established(sock):
            # Loopback (and a fast LAN) completes the TCP handshake inside connect(), though
            # a non-blocking connect still says EINPROGRESS: send at once and wait only for
            # the answer (one epoll change and one event fewer per connection).
            self._poller.register(sock.fileno(), False, job)
            job.state = "sending"
            job.connected_at = time.monotonic()
            self._send(job, watching_read=True)
            return
        self._poller.register(sock.fileno(), True, job)

    # -- one job's states ---------------------------------------------------------------------

    def _step(self, job: Job, mask: int) -> None:
        if job.state == "connecting":
            self._connected(job, self._poller.connected(mask))
        elif job.state == "sending":
            self._send(job)
        elif job.state == "reading":
            self._read(job)
        elif job.state == "lingering":
            self._linger(job)

    def _connected(self, job: Job, known: bool) -> None:
        """``known``: the event already says the connect succeeded (no SO_ERROR to read)."""
        assert job.sock is not None
        code = 0 if known else job.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            job.stop, job.connect_error = "connect", OSError(code, os.strerror(code))
            self._close(job)
            return
        job.state = "sending"
        job.connected_at = time.monotonic()
        self._send(job)

    def _send(self, job: Job, watching_read: bool = False) -> None:
        """``watching_read``: the socket is registered for reading already (the first send
        right after connect()); a send that cannot finish then asks for writability."""
        assert job.sock is not None
        try:
            job.sent += job.sock.send(job.payload[job.sent :])
        except (BlockingIOError, InterruptedError):
            if watching_read:
                self._poller.want(job.sock.fileno(), True)
            return
        except OSError as exc:
            self._talk_error(job, exc)
            return
        if job.sent >= len(job.payload):
            if job.final:  # the last words of a dialogue: end the talk
                if watching_read:
                    job.state = "reading"  # (registered for reading: nothing to change)
                job.stop = "done"
                self._end_talk(job)
                return
            job.state = "reading"
            if not watching_read:
                self._poller.want(job.sock.fileno(), False)
        elif watching_read:
            self._poller.want(job.sock.fileno(), True)

    def _read(self, job: Job) -> None:
        assert job.sock is not None
        received = job.received if job.stream else len(job.data)
        try:
            size = job.sock.recv_into(self._buffer, min(65536, job.max_read - received))
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._talk_error(job, exc)
            return
        if not size:
            job.stop = "closed"
            self._end_talk(job)
            return
        received += size
        try:
            if job.stream:
                job.received = received
                finished = job.done(bytes(self._buffer[:size]))
            else:
                job.data += self._buffer[:size]
                finished = job.done(job.data)
        except BaseException as exc:  # noqa: BLE001 - the caller's parser: re-raised there
            job.error = exc
            job.stop = "error"
            self._end_talk(job)
            return
        if isinstance(finished, Reply):
            if finished.data:
                job.payload, job.sent, job.final = finished.data, 0, finished.last
                job.state = "sending"
                self._send(job, watching_read=True)
                return
            finished = finished.last
        if finished:
            job.stop = "done"
            self._end_talk(job)
        elif received >= job.max_read:
            job.stop = "full"
            self._end_talk(job)

    def _talk_error(self, job: Job, exc: OSError) -> None:
        job.errno = exc.errno
        if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
            job.stop = "reset"
            self._close(job)
            return
        job.stop = "unreachable"  # e.g. EHOSTUNREACH from an ICMP error mid-exchange
        job.why = f" ({os.strerror(exc.errno) if exc.errno else exc})"
        self._end_talk(job)

    def _end_talk(self, job: Job) -> None:
        """Half-close and wait (bounded) for the server's FIN: polite, and --per-host then
        holds as the server counts too (see LINGER_SECONDS)."""
        assert job.sock is not None
        try:
            job.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(job)
            return
        if job.state != "reading":  # still registered for writing (a timeout while sending)
            self._poller.want(job.sock.fileno(), False)
        job.state = "lingering"
        job.linger_until = time.monotonic() + LINGER_SECONDS
        self._time(job, job.linger_until)

    def _linger(self, job: Job) -> None:
        assert job.sock is not None
        try:
            size = job.sock.recv_into(self._buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            size = 0
        job.drained += size
        if not size or job.drained >= LINGER_BYTES:
            self._close(job)

    def _expire(self, now: float) -> None:
        timers = self._timers
        while timers and timers[0][0] <= now:
            entry = heapq.heappop(timers)
            if not _live(entry):
                continue
            job = entry[2]
            if job.state == "lingering":
                if now >= job.linger_until:
                    self._close(job)
            elif job.state != "closed" and now >= job.deadline:
                if job.state == "connecting":
                    job.stop = "connect"
                    job.connect_error = TimeoutError("timed out")
                    self._close(job)
                else:
                    job.stop = "timeout"
                    self._end_talk(job)

    def _close(self, job: Job) -> None:
        if job.sock is not None:
            self._poller.unregister(job.sock.fileno())
            job.sock.close()
            job.sock = None
        self._finish(job)

    def _finish(self, job: Job) -> None:
        if job.state == "closed":
            return
        job.state = "closed"
        self._jobs.discard(job)
        job.on_close(job)


def _established(sock: socket.socket) -> bool:
    """Whether a connect in progress has completed already (getpeername answers once the
    TCP handshake is done; while it is not, or after it failed: ENOTCONN)."""
    try:
        sock.getpeername()
    except OSError:
        return False
    return True


def _live(entry: tuple[float, int, Job]) -> bool:
    """Whether a timer entry is the one its job now waits for (not stale)."""
    when, _tie, job = entry
    if job.state == "closed":
        return False
    return when == (job.linger_until if job.state == "lingering" else job.deadline)
