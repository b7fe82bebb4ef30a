"""probe_many (certcheck/probe/fleet.py): a stream of targets on one driver thread.

Targets point at real loopback servers: a TLS server (a full probe) and a raw server that
resets every connection (a fast, failed probe).  The targets iterable is wrapped to note
when each target is pulled; it is pulled on the driver thread, right before the target
starts, so "pulled and not yet taken by the consumer" is what the backpressure bounds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator

import pytest
from test_engine import SAMPLES, CountingTLSServer, RawServer
from threadkit import within

from certcheck.localserver import ServerSpec
from certcheck.model import ServerFacts, Target
from certcheck.probe.fleet import probe_many

DRIVER_THREAD = "certcheck-driver"


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[CountingTLSServer, RawServer]]:
    wildcard = SAMPLES.get("wildcard")  # *.wild.example.test
    tls = CountingTLSServer(
        ServerSpec("wild", wildcard.chain_pem, wildcard.key_pem, min_version="TLSv1.0")
    ).start()
    reset = RawServer("reset")
    try:
        yield tls, reset
    finally:
        tls.stop()
        reset.stop()


def targets_on(port: int, count: int, first: int = 0) -> list[Target]:
    return [
        Target(f"n{n}.wild.example.test", port, connect_addr="127.0.0.1")
        for n in range(first, first + count)
    ]


class Recorded:
    """Wraps a targets iterable; notes each pull (on the driver thread)."""

    def __init__(self, targets: Iterable[Target], fail_after: int | None = None) -> None:
        self._targets = list(targets)
        self._fail_after = fail_after
        self.pulled: list[float] = []
        self.threads: set[str] = set()

    def __iter__(self) -> Iterator[Target]:
        for n, target in enumerate(self._targets):
            if n == self._fail_after:
                raise ValueError(f"bad target line {n}")
            self.pulled.append(time.monotonic())
            self.threads.add(threading.current_thread().name)
            yield target
        if self._fail_after is not None and self._fail_after >= len(self._targets):
            raise ValueError("bad target line at the end")


def driver_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == DRIVER_THREAD and t.is_alive()}


def ends_within(threads: set[threading.Thread], seconds: float) -> bool:
    give_up = time.monotonic() + seconds
    while time.monotonic() < give_up:
        if not any(t.is_alive() for t in threads):
            return True
        time.sleep(0.02)
    return False


def test_every_index_comes_back_exactly_once_with_its_own_target(servers) -> None:
    tls, reset = servers
    targets = [
        target
        for pair in zip(targets_on(tls.port, 6), targets_on(reset.port, 6, first=6), strict=True)
        for target in pair
    ]
    source = Recorded(targets)
    results: list[tuple[int, ServerFacts]] = within(
        20, lambda: list(probe_many(source, timeout=2.0, concurrency=4))
    )
    indexes = [index for index, _facts in results]
    assert sorted(indexes) == list(range(len(targets)))  # each once, none twice
    for index, facts in results:
        assert facts.target == targets[index]
        if targets[index].port == tls.port:
            assert facts.ok, (index, facts.error)
        else:
            assert facts.error is not None and facts.error.kind == "reset"
    assert source.threads == {DRIVER_THREAD}  # every target was pulled on the driver thread
    assert tls.counter.total > 0 and reset.counter.total > 0


def test_a_slow_consumer_holds_the_scan_back(servers) -> None:
    """No target starts while ``concurrency`` others are in flight or finished but not taken:
    after each item the consumer takes (and a pause long enough for every started probe to
    end), exactly ``taken + concurrency`` targets have been pulled, never more."""
    _tls, reset = servers
    concurrency = 2
    source = Recorded(targets_on(reset.port, 8))

    def consume() -> list[tuple[int, int]]:
        seen: list[tuple[int, int]] = []
        for taken, (index, _facts) in enumerate(probe_many(source, 2.0, concurrency), start=1):
            time.sleep(0.15)  # the probes are done in a few ms: only taking lets more start
            seen.append((index, len(source.pulled)))
            assert len(source.pulled) <= taken + concurrency
        return seen

    seen = within(10, consume)
    assert sorted(index for index, _pulled in seen) == list(range(8))
    assert [pulled for _index, pulled in seen] == [min(8, n + concurrency) for n in range(1, 9)]


def test_the_stop_event_ends_the_scan_and_yields_what_had_started(servers) -> None:
    _tls, reset = servers
    stop = threading.Event()
    source = Recorded(targets_on(reset.port, 10))

    def consume() -> list[int]:
        got = []
        for index, _facts in probe_many(source, 2.0, 2, stop=stop):
            got.append(index)
            stop.set()
        return got

    got = within(10, consume)
    started = len(source.pulled)
    assert started < 10
    assert started <= 3  # the two at first, at most one more as the first was taken
    assert sorted(got) == list(range(started))  # every started target is still yielded


def test_an_error_of_the_targets_iterable_reaches_the_consumer_after_earlier_results(
    servers,
) -> None:
    _tls, reset = servers
    source = Recorded(targets_on(reset.port, 5), fail_after=3)
    got: list[int] = []

    def consume() -> None:
        for index, _facts in probe_many(source, 2.0, 1):
            got.append(index)

    before = driver_threads()
    with pytest.raises(ValueError, match="bad target line 3"):
        within(10, consume)
    assert got == [0, 1, 2]  # one at a time: all three before the error
    assert ends_within(driver_threads() - before, 2.0)


def test_targets_running_when_the_iterable_fails_are_still_reported(servers) -> None:
    """Concurrency above one: the error waits until every target pulled before it is out."""
    tls, _reset = servers
    source = Recorded(targets_on(tls.port, 5), fail_after=3)
    got: list[int] = []

    def consume() -> None:
        for index, facts in probe_many(source, 5.0, 4):
            assert facts.ok, facts.error
            got.append(index)

    with pytest.raises(ValueError, match="bad target line 3"):
        within(20, consume)
    assert sorted(got) == [0, 1, 2]


def test_an_iterable_that_fails_at_once_raises_with_no_results(servers) -> None:
    _tls, reset = servers
    source = Recorded(targets_on(reset.port, 3), fail_after=0)
    got: list[int] = []

    def consume() -> None:
        for index, _facts in probe_many(source, 2.0, 4):
            got.append(index)

    with pytest.raises(ValueError, match="bad target line 0"):
        within(10, consume)
    assert got == [] and source.pulled == []


def test_closing_the_iterator_early_ends_the_driver_thread(servers) -> None:
    _tls, reset = servers
    source = Recorded(targets_on(reset.port, 40))
    before = driver_threads()

    def first_then_close() -> set[threading.Thread]:
        scan = probe_many(source, 2.0, 4)
        for _item in scan:
            mine = driver_threads() - before
            break
        scan.close()
        return mine

    mine = within(10, first_then_close)
    assert len(mine) == 1
    assert ends_within(mine, 2.0), "the driver thread outlived its closed iterator"
    assert len(source.pulled) < 40
