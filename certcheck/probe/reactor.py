"""One thread that does the socket work of every raw exchange, with a selector.

A scan runs many targets at once and each target several raw probes at once; with a
blocking socket per probe thread, every connect, send, poll and receive hands the GIL
to another thread, which on a loaded machine is most of the probe's CPU (thousands of
futex calls per target).  Here the probe threads only hand their exchange to this
thread and wait once for the result; the reactor connects, sends, reads until the
caller's parser is satisfied, lingers for the server's FIN and closes, all without
blocking, for every exchange in flight.

The outcome of an exchange is exactly what :func:`certcheck.probe.wire.exchange`
reports (the same ``stop`` kinds, the same connect errors), so the probe code above
it does not change.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from certcheck.probe.wire import Exchange

#: After the last read the probe half-closes and waits this long for the server's FIN,
#: so the server has let go of a connection before its slot is used again: polite,
#: and what makes --per-host hold as the server counts, not only as we count.
LINGER_SECONDS = 0.25
LINGER_BYTES = 256 * 1024
#: the longest the loop sleeps without looking at the clock
_TICK = 0.5
#: deadlines are checked at most this often (a timeout may end this much late)
_CHECK_EVERY = 0.02


@dataclass(eq=False)
class _Job:
    """One exchange in flight."""

    family: int
    sockaddr: tuple
    payload: bytes
    deadline: float
    done: Callable[[bytes], bool]
    max_read: int
    finished: threading.Event = field(default_factory=threading.Event)
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


class Reactor:
    """The selector loop; started on first use, a daemon thread for the process."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._incoming: deque[_Job] = deque()
        self._lock = threading.Lock()
        self._waker_r, self._waker_w = socket.socketpair()
        self._waker_r.setblocking(False)
        self._waker_w.setblocking(False)
        self._selector.register(self._waker_r, selectors.EVENT_READ, None)
        self._jobs: set[_Job] = set()
        self._thread: threading.Thread | None = None
        self.pid = os.getpid()

    def exchange(
        self,
        family: int,
        sockaddr: tuple,
        payload: bytes,
        deadline: float,
        done: Callable[[bytes], bool],
        max_read: int,
    ) -> Exchange:
        from certcheck.probe.wire import Exchange

        job = _Job(family, sockaddr, payload, deadline, done, max_read)
        with self._lock:
            self._incoming.append(job)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="certcheck-reactor", daemon=True
                )
                self._thread.start()
        try:
            self._waker_w.send(b"\0")
        except (BlockingIOError, InterruptedError):
            pass  # the waker is full: the loop is awake anyway
        job.finished.wait()
        if job.error is not None:
            raise job.error
        return Exchange(
            data=job.data, stop=job.stop, why=job.why, connect_error=job.connect_error
        )

    # -- the loop ----------------------------------------------------------------------------

    def _run(self) -> None:
        next_check = 0.0
        while True:
            self._take_incoming()
            now = time.monotonic()
            if now >= next_check:
                self._expire(now)
                next_check = now + _CHECK_EVERY
            wait = _TICK if not self._jobs else max(0.0, next_check - now)
            for key, _mask in self._selector.select(wait):
                if key.data is None:
                    self._drain_waker()
                    continue
                try:
                    self._step(key.data)
                except Exception as exc:  # noqa: BLE001 - a bug costs one exchange, not all
                    key.data.error = exc
                    self._close(key.data)

    def _drain_waker(self) -> None:
        try:
            while self._waker_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def _take_incoming(self) -> None:
        while True:
            with self._lock:
                if not self._incoming:
                    return
                job = self._incoming.popleft()
            self._start(job)

    def _start(self, job: _Job) -> None:
        self._jobs.add(job)
        try:
            sock = socket.socket(job.family, socket.SOCK_STREAM)
        except OSError as exc:
            job.stop, job.connect_error = "connect", exc
            self._finish(job)
            return
        sock.setblocking(False)
        job.sock = sock
        code = sock.connect_ex(job.sockaddr)
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
            job.stop, job.connect_error = "connect", OSError(code, os.strerror(code))
            self._close(job)
            return
        job.state = "connecting"
        self._selector.register(sock, selectors.EVENT_WRITE, job)
        if code == 0:  # connected at once (loopback)
            self._connected(job)

    def _step(self, job: _Job) -> None:
        if job.state == "connecting":
            self._connected(job)
        elif job.state == "sending":
            self._send(job)
        elif job.state == "reading":
            self._read(job)
        elif job.state == "lingering":
            self._linger(job)

    def _connected(self, job: _Job) -> None:
        assert job.sock is not None
        code = job.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            job.stop, job.connect_error = "connect", OSError(code, os.strerror(code))
            self._close(job)
            return
        job.state = "sending"
        self._send(job)

    def _send(self, job: _Job) -> None:
        assert job.sock is not None
        try:
            job.sent += job.sock.send(job.payload[job.sent :])
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._talk_error(job, exc)
            return
        if job.sent >= len(job.payload):
            job.state = "reading"
            self._selector.modify(job.sock, selectors.EVENT_READ, job)

    def _read(self, job: _Job) -> None:
        assert job.sock is not None
        try:
            chunk = job.sock.recv(min(65536, job.max_read - len(job.data)))
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._talk_error(job, exc)
            return
        if not chunk:
            job.stop = "closed"
            self._end_talk(job)
            return
        job.data += chunk
        try:
            finished = job.done(job.data)
        except BaseException as exc:  # noqa: BLE001 - the caller's parser: re-raised there
            job.error = exc
            job.stop = "error"
            self._end_talk(job)
            return
        if finished:
            job.stop = "done"
            self._end_talk(job)
        elif len(job.data) >= job.max_read:
            job.stop = "full"
            self._end_talk(job)

    def _talk_error(self, job: _Job, exc: OSError) -> None:
        if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
            job.stop = "reset"
            self._close(job)
            return
        job.stop = "unreachable"  # e.g. EHOSTUNREACH from an ICMP error mid-exchange
        job.why = f" ({os.strerror(exc.errno) if exc.errno else exc})"
        self._end_talk(job)

    def _end_talk(self, job: _Job) -> None:
        """Half-close and wait (bounded) for the server's FIN: polite, and --per-host then
        holds as the server counts too (see certcheck.probe.wire.close_politely)."""
        assert job.sock is not None
        try:
            job.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(job)
            return
        job.state = "lingering"
        job.linger_until = time.monotonic() + LINGER_SECONDS
        self._selector.modify(job.sock, selectors.EVENT_READ, job)

    def _linger(self, job: _Job) -> None:
        assert job.sock is not None
        try:
            chunk = job.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        job.drained += len(chunk)
        if not chunk or job.drained >= LINGER_BYTES:
            self._close(job)

    def _expire(self, now: float) -> None:
        for job in list(self._jobs):
            if job.state == "lingering":
                if now >= job.linger_until:
                    self._close(job)
            elif now >= job.deadline:
                if job.state == "connecting":
                    job.stop = "connect"
                    job.connect_error = TimeoutError("timed out")
                    self._close(job)
                else:
                    job.stop = "timeout"
                    self._end_talk(job)

    def _close(self, job: _Job) -> None:
        if job.sock is not None:
            try:
                self._selector.unregister(job.sock)
            except (KeyError, ValueError):
                pass
            job.sock.close()
        self._finish(job)

    def _finish(self, job: _Job) -> None:
        job.state = "closed"
        self._jobs.discard(job)
        job.finished.set()


_REACTOR: Reactor | None = None
_REACTOR_LOCK = threading.Lock()


def reactor() -> Reactor:
    """The process's reactor (one per process; a forked child makes its own)."""
    global _REACTOR
    with _REACTOR_LOCK:
        if _REACTOR is None or _REACTOR.pid != os.getpid():
            _REACTOR = Reactor()
        return _REACTOR
