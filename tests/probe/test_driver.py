"""The plan driver (certcheck/probe/driver.py) against real loopback servers.

The server here answers each request line ``b"<delay>:<mode>:<tag>\\n"`` after ``delay``
seconds and counts, on its own side, how many connections it holds at once (from accept
until it sees the client's EOF), so overlap and limits are measured where a real server
would feel them, not from the driver's own bookkeeping.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from threadkit import within

from certcheck.probe.budget import BudgetExhausted, ConnectionBudget
from certcheck.probe.context import ScanContext
from certcheck.probe.driver import Ask, Await, Driver, Plan, Together, run
from certcheck.probe.reactor import Exchange

Address = tuple[str, int]


@dataclass
class Seen:
    """One connection as the server saw it."""

    tag: str = ""
    accepted: float = 0.0
    replied: float | None = None
    ended: float | None = None


@dataclass
class DelayServer:
    """Answers ``<delay>:<mode>:<tag>\\n`` with ``<tag>\\n`` after ``delay`` seconds.

    ``mode`` is ``reply`` (answer, then wait for the client's EOF), ``close`` (close at
    once without answering) or ``silent`` (never answer; wait for the client's EOF).
    """

    lock: threading.Lock = field(default_factory=threading.Lock)
    active: int = 0
    peak: int = 0
    seen: list[Seen] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _listener: socket.socket | None = None
    address: Address = ("127.0.0.1", 0)

    def start(self) -> DelayServer:
        listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        listener.settimeout(0.1)
        self._listener = listener
        self.address = listener.getsockname()[:2]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.close()

    @property
    def total(self) -> int:
        with self.lock:
            return len(self.seen)

    def ended(self) -> int:
        with self.lock:
            return sum(1 for s in self.seen if s.ended is not None)

    def wait_all_ended(self, within: float = 2.0) -> bool:
        """True once every connection accepted so far has been seen to end."""
        give_up = time.monotonic() + within
        while time.monotonic() < give_up:
            with self.lock:
                if self.active == 0 and all(s.ended is not None for s in self.seen):
                    return True
            time.sleep(0.01)
        return False

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        seen = Seen(accepted=time.monotonic())
        with self.lock:
            self.seen.append(seen)
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            conn.settimeout(5)
            request = b""
            while b"\n" not in request:
                chunk = conn.recv(1024)
                if not chunk:
                    return
                request += chunk
            delay, mode, tag = request.split(b"\n", 1)[0].decode().split(":", 2)
            seen.tag = tag
            if mode == "close":
                return
            time.sleep(float(delay))
            if mode == "reply":
                conn.sendall(tag.encode() + b"\n")
                seen.replied = time.monotonic()
            while conn.recv(4096):  # until the client's EOF (its half-close)
                pass
        except OSError:
            pass
        finally:
            with self.lock:
                self.active -= 1
                seen.ended = time.monotonic()
            conn.close()


@pytest.fixture
def server() -> Iterator[DelayServer]:
    srv = DelayServer().start()
    try:
        yield srv
    finally:
        srv.stop()


def drive(plan: Plan[Any], limit: float = 5.0) -> Any:
    """``run(plan)``, on a thread of its own so that a driver that hangs fails the test."""
    return within(limit, lambda: run(plan), "run()")


def line_done(data: bytes) -> bool:
    return data.endswith(b"\n")


def ask(
    address: tuple,
    tag: str,
    delay: float = 0.0,
    *,
    mode: str = "reply",
    budget: ConnectionBudget | None = None,
    timeout: float = 3.0,
    done: Callable[[bytes], bool] = line_done,
) -> Ask:
    return Ask(address, f"{delay}:{mode}:{tag}\n".encode(), timeout, done, 1 << 16, budget)


def one(request: Ask, finished: list[str] | None = None, tag: str = "") -> Plan[Exchange]:
    """A plan of one exchange that notes when it ends."""
    answer = yield request
    if finished is not None:
        finished.append(tag)
    return answer


def refused_address() -> Address:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    address = probe.getsockname()[:2]
    probe.close()  # nothing listens there now
    return address


# -- Together --------------------------------------------------------------------------------


def test_together_answers_in_plan_order_when_later_plans_finish_first(server) -> None:
    delays = {"a": 0.45, "b": 0.0, "c": 0.3, "d": 0.15}
    finished: list[str] = []

    def nested() -> Plan[list[Exchange]]:
        return (yield Together((one(ask(server.address, "e", 0.2)), one(ask(server.address, "f")))))

    def root() -> Plan[list[Any]]:
        plans = [one(ask(server.address, t, d), finished, t) for t, d in delays.items()]
        return (yield Together((*plans, nested())))

    results = drive(root())
    assert [r.data for r in results[:4]] == [b"a\n", b"b\n", b"c\n", b"d\n"]
    assert [r.stop for r in results[:4]] == ["done"] * 4
    assert [r.data for r in results[4]] == [b"e\n", b"f\n"]
    # They really did finish in another order: fastest first.
    assert finished == ["b", "d", "c", "a"]


def test_an_empty_together_is_answered_with_an_empty_list() -> None:
    def root() -> Plan[list[Any]]:
        return (yield Together(()))

    assert drive(root()) == []


def test_the_exchanges_of_a_together_overlap(server) -> None:
    budget = ConnectionBudget(limit=4)
    started = time.monotonic()
    results = drive(_together(server.address, 4, 0.3, budget))
    elapsed = time.monotonic() - started
    assert [r.data for r in results] == [f"t{n}\n".encode() for n in range(4)]
    assert elapsed < 0.75, elapsed  # one at a time would be 4 x 0.3 s
    assert server.peak == 4 and server.total == 4


def _together(address: tuple, count: int, delay: float, budget: ConnectionBudget) -> Plan[Any]:
    plans = tuple(one(ask(address, f"t{n}", delay, budget=budget)) for n in range(count))
    return (yield Together(plans))


def test_a_together_never_holds_more_than_the_budget_limit(server) -> None:
    budget = ConnectionBudget(limit=2)
    started = time.monotonic()
    results = drive(_together(server.address, 6, 0.2, budget))
    elapsed = time.monotonic() - started
    assert [r.stop for r in results] == ["done"] * 6
    assert [r.data for r in results] == [f"t{n}\n".encode() for n in range(6)]
    assert server.peak == 2, server.peak  # counted by the server
    assert budget.peak == 2 and budget.opened == 6 and server.total == 6
    assert elapsed >= 3 * 0.2  # three rounds of two


def test_every_slot_is_given_back_however_the_exchange_ends(server) -> None:
    budget = ConnectionBudget(limit=3)

    def broken(data: bytes) -> bool:
        raise ValueError("parser bug")

    def caught(request: Ask) -> Plan[str]:
        try:
            yield request
        except ValueError as exc:
            return f"caught {exc}"
        return "not raised"

    asks = [
        ask(server.address, "ok1", budget=budget),
        ask(server.address, "ok2", 0.1, budget=budget),
        ask(server.address, "gone", mode="close", budget=budget),
        ask(server.address, "quiet", mode="silent", budget=budget, timeout=0.2),
        ask(refused_address(), "refused", budget=budget),
        ask(("not-a-numeric-address.invalid", 443), "name", budget=budget),
    ]

    def root() -> Plan[list[Any]]:
        plans = [one(request) for request in asks]
        plans.append(caught(ask(server.address, "bug", budget=budget, done=broken)))
        return (yield Together(tuple(plans)))

    results = drive(root())
    stops = [r.stop for r in results[:-1]]
    assert stops == ["done", "done", "closed", "timeout", "connect", "connect"]
    assert isinstance(results[4].connect_error, ConnectionRefusedError)
    assert results[-1] == "caught parser bug"
    assert budget.opened == len(asks) + 1
    # Every slot is free again: the budget hands out its whole limit, and no more.
    taken = [budget.try_open() for _ in range(budget.limit)]
    assert None not in taken
    assert budget.try_open() is None
    for _ in taken:
        budget.close_slot()
    assert server.wait_all_ended()


# -- errors ----------------------------------------------------------------------------------


def test_a_parser_error_reaches_the_plan_that_asked_and_it_goes_on(server) -> None:
    def broken(data: bytes) -> bool:
        raise ValueError("parser bug")

    def root() -> Plan[tuple[str, bytes]]:
        try:
            yield ask(server.address, "first", done=broken)
        except ValueError as exc:
            again = yield ask(server.address, "second")
            return str(exc), again.data
        return "not raised", b""

    assert drive(root()) == ("parser bug", b"second\n")
    assert server.total == 2
    assert server.wait_all_ended()


def test_an_uncaught_parser_error_comes_out_of_run_after_its_siblings_finish(server) -> None:
    finished: dict[str, tuple[float, Exchange]] = {}
    after_together: list[bool] = []

    def broken(data: bytes) -> bool:
        raise ValueError("parser bug")

    def slow() -> Plan[Exchange]:
        answer = yield ask(server.address, "slow", 0.4)
        finished["slow"] = (time.monotonic(), answer)
        return answer

    def root() -> Plan[None]:
        yield Together((one(ask(server.address, "bad", done=broken)), slow()))
        after_together.append(True)

    started = time.monotonic()
    with pytest.raises(ValueError, match="parser bug"):
        drive(root())
    raised = time.monotonic()
    assert not after_together
    # The sibling ran to its end (its whole answer) before the error came out ...
    at, answer = finished["slow"]
    assert (answer.stop, answer.data) == ("done", b"slow\n")
    assert at <= raised and raised - started >= 0.4
    # ... and both connections were ended politely, none left open.
    assert server.wait_all_ended()
    by_tag = {s.tag: s for s in server.seen}
    assert set(by_tag) == {"bad", "slow"}
    slow_seen = by_tag["slow"]
    assert slow_seen.replied is not None and slow_seen.ended is not None
    assert slow_seen.ended >= slow_seen.replied


def test_a_plan_that_yields_something_else_gets_a_type_error(server) -> None:
    def root() -> Plan[tuple[str, bytes]]:
        try:
            yield "not a request"
        except TypeError as exc:
            answer = yield ask(server.address, "after")
            return str(exc), answer.data
        return "not raised", b""

    message, data = drive(root())
    assert "not a request" in message and data == b"after\n"

    def careless() -> Plan[None]:
        yield 42

    with pytest.raises(TypeError, match="42"):
        drive(careless())


# -- Await -----------------------------------------------------------------------------------


def test_await_answers_with_the_result_or_throws_the_exception() -> None:
    def slow_value() -> int:
        time.sleep(0.1)
        return 42

    def failing() -> int:
        time.sleep(0.05)
        raise KeyError("lost")

    with ThreadPoolExecutor(max_workers=2) as pool:

        def root() -> Plan[tuple[int, str]]:
            value = yield Await(pool.submit(slow_value))
            try:
                yield Await(pool.submit(failing))
            except KeyError as exc:
                return value, str(exc)
            return value, "not raised"

        assert drive(root()) == (42, "'lost'")

        def careless() -> Plan[int]:
            return (yield Await(pool.submit(failing)))

        with pytest.raises(KeyError, match="lost"):
            drive(careless())


def test_an_await_does_not_hold_up_the_exchanges_beside_it(server) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:

        def waiting() -> Plan[str]:
            return (yield Await(pool.submit(lambda: time.sleep(0.3) or "slept")))

        def root() -> Plan[list[Any]]:
            return (yield Together((waiting(), one(ask(server.address, "x", 0.3)))))

        started = time.monotonic()
        slept, answer = drive(root())
        elapsed = time.monotonic() - started
    assert slept == "slept" and answer.data == b"x\n"
    assert elapsed < 0.55, elapsed  # side by side, not 0.6 s one after the other


def test_await_of_a_future_resolved_by_hand() -> None:
    future: Future[str] = Future()
    threading.Timer(0.1, future.set_result, args=("by hand",)).start()

    def root() -> Plan[str]:
        return (yield Await(future))

    assert drive(root()) == "by hand"


# -- the budget's deadline -------------------------------------------------------------------


def test_an_expired_budget_answers_budget_without_connecting(server) -> None:
    budget = ConnectionBudget(limit=2, total_seconds=0.05)
    time.sleep(0.1)
    answer = drive(one(ask(server.address, "late", budget=budget)))
    assert answer.stop == "budget" and answer.why
    assert server.total == 0 and budget.opened == 0


def test_the_deadline_cuts_the_exchange_short_and_stops_the_queue(server) -> None:
    budget = ConnectionBudget(limit=1, total_seconds=0.3)

    def root() -> Plan[list[Any]]:
        first = one(ask(server.address, "hold", mode="silent", budget=budget, timeout=5.0))
        second = one(ask(server.address, "queued", budget=budget))
        return (yield Together((first, second)))

    started = time.monotonic()
    first, second = drive(root())
    elapsed = time.monotonic() - started
    assert first.stop == "timeout"  # at the budget's deadline, not after its own 5 s
    assert second.stop == "budget"
    assert elapsed < 1.5, elapsed
    assert server.total == 1 and budget.opened == 1
    with pytest.raises(BudgetExhausted):
        budget.try_open()
    assert server.wait_all_ended()


# -- many roots on one driver ----------------------------------------------------------------


def _two_roots(address: Address, context: ScanContext) -> list[tuple[Any, BaseException | None]]:
    budgets = [ConnectionBudget(3, context=context, address=address) for _ in range(2)]
    outcomes: list[tuple[Any, BaseException | None]] = []
    driver = Driver()
    try:
        for n, budget in enumerate(budgets):
            plans = tuple(one(ask(address, f"r{n}-{k}", 0.1, budget=budget)) for k in range(3))
            driver.start(_gather(plans), lambda value, error: outcomes.append((value, error)))
        give_up = time.monotonic() + 5
        driver.run_until(lambda: len(outcomes) == 2 or time.monotonic() > give_up)
    finally:
        driver.close()
    return outcomes


def _gather(plans: tuple[Plan[Exchange], ...]) -> Plan[list[bytes]]:
    answers = yield Together(plans)
    return [answer.data for answer in answers]


def test_per_host_slots_hold_across_the_roots_of_one_driver(server) -> None:
    context = ScanContext(per_host=1)
    outcomes = _two_roots(server.address, context)
    assert len(outcomes) == 2 and all(error is None for _value, error in outcomes)
    assert sorted(value for value, _error in outcomes) == [
        [f"r{n}-{k}\n".encode() for k in range(3)] for n in range(2)
    ]
    assert server.peak == 1, server.peak  # the server never held two at once
    assert context.peak_per_host == 1 and server.total == 6


def test_without_per_host_the_two_roots_do_overlap(server) -> None:
    """The control for the test above: the server's count does see overlap when allowed."""
    outcomes = _two_roots(server.address, ScanContext())
    assert len(outcomes) == 2 and all(error is None for _value, error in outcomes)
    assert server.peak > 3, server.peak


def _woken_after(driver: Driver) -> float:
    """Seconds from another thread's ``call_soon`` to ``run_until`` seeing its effect."""
    flag = threading.Event()
    called: list[float] = []

    def other() -> None:
        time.sleep(0.15)
        called.append(time.monotonic())
        driver.call_soon(flag.set)

    threading.Thread(target=other, daemon=True).start()
    give_up = time.monotonic() + 3
    driver.run_until(lambda: flag.is_set() or time.monotonic() > give_up)
    returned = time.monotonic()
    assert flag.is_set(), "the call never ran on the driver's thread"
    return returned - called[0]


def test_call_soon_from_another_thread_wakes_an_idle_driver() -> None:
    driver = Driver()
    try:
        for _ in range(3):
            # The idle loop sleeps up to half a second between looks; woken, it is at once.
            latency = _woken_after(driver)
            assert latency < 0.1, latency
    finally:
        driver.close()


# -- waiting for a slot held by another thread -----------------------------------------------


@pytest.mark.parametrize("per_host", [False, True])
def test_an_exchange_waiting_for_a_slot_starts_when_another_thread_frees_it(
    server, per_host: bool
) -> None:
    """The driver sleeps until the slot is released (no polling) and then starts at once:
    well before its fallback tick of half a second."""
    context = ScanContext(per_host=1) if per_host else None
    budget = ConnectionBudget(1, context=context, address=server.address)
    released_at: list[float] = []
    held = threading.Event()

    def hold() -> None:
        with budget.slot():  # as the real handshake's thread takes it
            held.set()
            time.sleep(0.7)
            released_at.append(time.monotonic())

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert held.wait(2)
    started_at: list[float] = []

    def plan() -> Plan[Exchange]:
        answer = yield ask(server.address, "after", budget=budget)
        started_at.append(time.monotonic())
        return answer

    answer = drive(plan())
    holder.join(2)
    assert answer.stop == "done" and answer.data == b"after\n"
    assert budget.opened == 2
    # answered within 0.25 s of the release: the exchange itself takes a few ms
    assert 0 <= started_at[0] - released_at[0] < 0.25


def test_a_budget_run_by_a_second_driver_is_woken_by_that_driver(server) -> None:
    """A budget remembers the waker of the driver that waited on it.  The blocking
    wrappers run a new driver per call on the same budget: the second must be woken
    itself when a slot frees, not the first (finished) driver, or its waiting exchange
    would only start at the half-second sweep."""
    budget = ConnectionBudget(1)
    assert [r.stop for r in drive(_together(server.address, 2, 0.05, budget))] == ["done"] * 2
    assert budget.waker is not None  # the first driver waited on it
    gaps: list[float] = []

    def timed(tag: str, delay: float) -> Plan[Exchange]:
        answer = yield ask(server.address, tag, delay, budget=budget)
        gaps.append(time.monotonic())
        return answer

    def root() -> Plan[list[Exchange]]:
        return (yield Together((timed("first", 0.3), timed("second", 0.0))))

    results = drive(root())
    assert [r.data for r in results] == [b"first\n", b"second\n"]
    # "second" waits for "first"'s slot, then takes a few ms: far less than the 0.5 s tick
    assert 0 <= gaps[1] - gaps[0] < 0.2, gaps
