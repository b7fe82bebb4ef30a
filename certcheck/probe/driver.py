"""Probe plans: the raw exchanges of many targets, run concurrently from one thread.

A *plan* is a generator that says what it needs and gets the answer back::

    result = yield Ask(address, hello, timeout, done, max_read, budget)   # -> Exchange
    a, b = yield Together((plan_a, plan_b))                                # -> [A, B]
    value = yield Await(future)                    # blocking work done on another thread

and returns its result.  A :class:`Driver` runs plans on one thread: every :class:`Ask`
waits for a slot of its :class:`ConnectionBudget` (polled, never blocking the other
exchanges) and then runs on one :class:`ExchangeLoop`.  A whole scan's targets are plans
of one driver (:func:`certcheck.pipeline.iter_scan`), so the probe needs no thread per
target or per probe: on the 2-core bench machine 32 probing threads spent more CPU
handing the GIL to each other (about 4,000 futex calls per target) than on the probes.
An exception in a plan (a parser bug) propagates to the plan that waits for it, as a call
would; :func:`run` drives one plan on the calling thread.
"""

from __future__ import annotations

import socket
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Generator
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple, TypeVar

from certcheck.probe.budget import BudgetExhausted, ConnectionBudget
from certcheck.probe.reactor import Exchange, ExchangeLoop, Job, Reply, numeric_address

T = TypeVar("T")

#: A generator that yields :class:`Ask` / :class:`Together` / :class:`Await` and
#: returns its result.
Plan = Generator[Any, Any, T]

#: The longest the loop sleeps without looking at the clock.
_TICK = 0.5


class Ask(NamedTuple):
    """One raw exchange (see :func:`certcheck.probe.wire.exchange`): answered by an Exchange.

    ``timeout`` bounds the exchange from when its slot is granted, cut short by the
    budget's overall deadline.  (A tuple: one is made per connection.)
    """

    address: tuple
    payload: bytes
    timeout: float
    done: Callable[[bytes], bool | Reply]
    max_read: int
    budget: ConnectionBudget | None = None
    #: ``done`` gets each read's new bytes only, and the Exchange's ``data`` stays empty
    stream: bool = False


@dataclass(frozen=True)
class Together:
    """Run these plans concurrently; answered by the list of their results, in order."""

    plans: tuple[Plan[Any], ...]


@dataclass(frozen=True)
class Await:
    """Wait for work running on another thread; answered by its result (or its exception)."""

    future: Future[Any]


@dataclass(eq=False, slots=True)
class _Task:
    gen: Plan[Any]
    parent: _Task | None = None
    #: a root's: called with (value, error) when it ends
    on_done: Callable[[Any, BaseException | None], None] | None = None
    index: int = 0
    finished: bool = False
    value: Any = None
    error: BaseException | None = None
    #: while waiting for a Together: its children's results, how many are left, the first error
    results: list[Any] = field(default_factory=list)
    pending: int = 0
    child_error: BaseException | None = None


def run(plan: Plan[T]) -> T:
    """Drive ``plan`` to its end on this thread and return (or raise) what it does."""
    driver = Driver()
    outcome: list[tuple[Any, BaseException | None]] = []
    try:
        driver.start(plan, lambda value, error: outcome.append((value, error)))
        driver.run_until(lambda: bool(outcome))
    finally:
        driver.close()
    value, error = outcome[0]
    if error is not None:
        raise error
    return value


class Driver:
    """Runs plans on the thread that calls :meth:`run_until`; :meth:`call_soon` is the only
    method another thread may call."""

    def __init__(self) -> None:
        self._loop = ExchangeLoop()
        #: plans to resume: (task, value sent, exception thrown)
        self._ready: deque[tuple[_Task, Any, BaseException | None]] = deque()
        #: exchanges waiting for a connection slot, per budget, first asked first
        self._waiting: dict[ConnectionBudget | None, deque[tuple[_Task, Ask]]] = {}
        #: the thread that runs the loop (a slot it frees itself needs no wake-up)
        self._thread: int | None = None
        #: exchanges holding a slot whose start --rate puts later: (instant, job)
        self._scheduled: list[tuple[float, Job]] = []
        #: plans started and not finished
        self.roots = 0
        self._calls: deque[Callable[[], None]] = deque()
        self._calls_lock = threading.Lock()
        self._waker_r, self._waker_w = socket.socketpair()
        self._waker_r.setblocking(False)
        self._waker_w.setblocking(False)
        self._loop.watch(self._waker_r, self._drain_waker)

    def start(self, plan: Plan[Any], on_done: Callable[[Any, BaseException | None], None]) -> None:
        """Start ``plan``; ``on_done(value, error)`` is called on this thread when it ends."""
        self.roots += 1
        self._ready.append((_Task(plan, on_done=on_done), None, None))

    def call_soon(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the driver's thread soon (thread-safe; wakes the loop)."""
        with self._calls_lock:
            self._calls.append(fn)
        try:
            self._waker_w.send(b"\0")
        except (BlockingIOError, InterruptedError):
            pass  # the waker is full: the loop wakes anyway
        except OSError:
            pass  # closed: the driver has ended

    def run_until(self, finished: Callable[[], bool]) -> None:
        """Drive the plans until ``finished()`` is true (checked after every step)."""
        self._thread = threading.get_ident()
        while not finished():
            while self._ready:
                self._resume(*self._ready.popleft())
            if finished():
                return
            self._grant()
            if not self._ready:
                self._loop.poll(self._wait())

    def close(self) -> None:
        for budget in self._waiting:
            if budget is not None:
                budget.stop_waiting()
        for _at, job in self._scheduled:
            job.on_close(job)  # gives its slot back
        self._loop.close()
        self._waker_r.close()
        self._waker_w.close()

    def _freer(self, budget: ConnectionBudget) -> Callable[[], None]:
        """``budget``'s ``on_free``: a slot it waits for was released (on any thread)."""
        # One per budget and driver, so Slots keeps it once however often the budget waits;
        # a budget used by another driver later (the blocking wrappers) gets its own.
        if budget.waker is not None and budget.waker[0] is self:
            return budget.waker[1]
        freer = partial(self._budget_freed, weakref.ref(budget))  # no cycle through the budget
        budget.waker = (self, freer)
        return freer

    def _budget_freed(self, budget_ref: weakref.ref[ConnectionBudget]) -> None:
        """Wake the loop to try the waiting budgets again.  A slot freed by the loop itself
        (the usual case) needs nothing: every pass tries them all."""
        if budget_ref() is not None and threading.get_ident() != self._thread:
            self.call_soon(_nothing)

    def _drain_waker(self) -> None:
        try:
            while self._waker_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        while True:
            with self._calls_lock:
                if not self._calls:
                    return
                fn = self._calls.popleft()
            fn()

    # -- plans ---------------------------------------------------------------------------------

    def _resume(self, task: _Task, value: Any, error: BaseException | None) -> None:
        try:
            wanted = task.gen.send(value) if error is None else task.gen.throw(error)
        except StopIteration as stop:
            self._finish(task, stop.value, None)
            return
        except Exception as exc:  # noqa: BLE001 - handed to the waiting plan, as a call would
            self._finish(task, None, exc)
            return
        if isinstance(wanted, Ask):
            queue = self._waiting.get(wanted.budget)
            if queue is None:
                queue = self._waiting[wanted.budget] = deque()
            queue.append((task, wanted))
        elif isinstance(wanted, Await):
            wanted.future.add_done_callback(partial(self._future_done, task))
        elif isinstance(wanted, Together):
            if not wanted.plans:
                self._ready.append((task, [], None))
                return
            task.results = [None] * len(wanted.plans)
            task.pending = len(wanted.plans)
            task.child_error = None
            for index, child in enumerate(wanted.plans):
                self._ready.append((_Task(child, parent=task, index=index), None, None))
        else:
            self._ready.append((task, None, TypeError(f"a probe plan yielded {wanted!r}")))

    def _future_done(self, task: _Task, future: Future[Any]) -> None:
        """On the thread that finished ``future``: resume ``task`` on the driver's."""

        def resume() -> None:
            # exception() rather than a result() that raises: raising it here would add
            # result()'s frame, whose ``self`` is the future holding the exception, to its
            # traceback -- a cycle that kept the failed handshake's frames (its SSL
            # connection and socket) alive until a full collection.
            try:
                error = future.exception()
            except BaseException as exc:  # noqa: BLE001 - cancelled: thrown into the plan too
                error = exc
            if error is None:
                self._ready.append((task, future.result(), None))
            else:
                self._ready.append((task, None, error))

        self.call_soon(resume)

    def _finish(self, task: _Task, value: Any, error: BaseException | None) -> None:
        task.finished, task.value, task.error = True, value, error
        parent = task.parent
        if parent is None:
            self.roots -= 1
            if task.on_done is not None:
                task.on_done(value, error)
            return
        parent.results[task.index] = value
        if error is not None and parent.child_error is None:
            parent.child_error = error
        parent.pending -= 1
        if parent.pending == 0:
            self._ready.append((parent, parent.results, parent.child_error))

    # -- connections ---------------------------------------------------------------------------

    def _grant(self) -> None:
        now = time.monotonic()
        if self._scheduled:
            due = [entry for entry in self._scheduled if entry[0] <= now]
            self._scheduled = [entry for entry in self._scheduled if entry[0] > now]
            for _at, job in due:
                self._loop.start(job)
        # Every waiting budget, on every pass.  (Trying only those a freed slot had marked
        # left exchanges waiting under load: tests/test_engine.py's SIGINT test.)
        for budget, queue in list(self._waiting.items()):
            while queue:
                task, ask = queue[0]
                if budget is None:
                    start: float | None = now
                else:
                    try:
                        start = budget.try_open(self._freer(budget))
                    except BudgetExhausted as exc:
                        queue.popleft()
                        self._ready.append((task, Exchange(stop="budget", why=str(exc)), None))
                        continue
                if start is None:
                    break  # no slot of this budget is free: its later asks wait too
                queue.popleft()
                self._launch(task, ask, start)
            if not queue:
                del self._waiting[budget]

    def _launch(self, task: _Task, ask: Ask, start: float) -> None:
        try:
            family, sockaddr = numeric_address(ask.address[0], ask.address[1])
        except OSError as exc:
            if ask.budget is not None:
                ask.budget.close_slot()
            self._ready.append((task, Exchange(stop="connect", connect_error=exc), None))
            return
        if len(ask.address) == 4:
            sockaddr = ask.address  # (host, port, flowinfo, scope_id): keep the scope
        deadline = start + ask.timeout
        if ask.budget is not None:
            deadline = min(deadline, ask.budget.deadline)
        job = Job(
            family, sockaddr, ask.payload, deadline, ask.done, ask.max_read,
            on_close=partial(self._closed, task, ask.budget), stream=ask.stream,
        )  # fmt: skip
        if start > time.monotonic():
            self._scheduled.append((start, job))
        else:
            self._loop.start(job)

    def _closed(self, task: _Task, budget: ConnectionBudget | None, job: Job) -> None:
        if budget is not None:
            budget.close_slot()
        if job.error is not None:
            self._ready.append((task, None, job.error))
        else:
            answer = Exchange(
                job.data, job.stop, job.why, job.connect_error, job.errno,
                job.started_at, job.connected_at,
            )  # fmt: skip
            self._ready.append((task, answer, None))

    def _wait(self) -> float:
        now = time.monotonic()
        wait = _TICK
        for budget in self._waiting:
            if budget is not None:  # its deadline passes while it waits: answer "budget"
                wait = min(wait, budget.deadline - now)
        if self._scheduled:
            wait = min(wait, min(at for at, _job in self._scheduled) - now)
        deadline = self._loop.next_deadline()
        if deadline is not None:
            wait = min(wait, deadline - now)
        return max(wait, 0.0)


def _nothing() -> None:
    """Called on the driver's thread to wake it (see :meth:`Driver._budget_freed`)."""
