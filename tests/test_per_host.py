"""``--per-host`` caps connections per server *address* (all ports), and the CLI plumbs
``--per-host`` (default ``--max-connections``) and ``--rate`` through to the probes.

Every server here listens on 127.0.0.1 and shares one counter, so "peak" is the most
connections the address saw at once, whatever the port.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from test_engine import SAMPLES, Counter, CountingTLSServer, RawServer

from certcheck.localserver import ServerSpec
from certcheck.model import Target
from certcheck.pipeline import iter_scan
from certcheck.probe.context import ScanContext, address_key


class StampedCounter(Counter):
    """A :class:`Counter` that also notes when each connection arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[float] = []

    def __enter__(self) -> None:
        super().__enter__()
        with self.lock:
            self.arrivals.append(time.monotonic())


@pytest.fixture
def shared_servers():
    """``make(n)``: n TLS servers on 127.0.0.1 (one port each) counting into one counter."""
    made: list[CountingTLSServer] = []
    counter = StampedCounter()
    wildcard = SAMPLES.get("wildcard")  # *.wild.example.test

    def make(count: int) -> tuple[list[int], StampedCounter]:
        for _ in range(count):
            spec = ServerSpec("wild", wildcard.chain_pem, wildcard.key_pem, min_version="TLSv1.0")
            server = CountingTLSServer(spec)
            server.counter = counter  # one count for the address, not one per port
            made.append(server.start())
        return [server.port for server in made], counter

    yield make
    for server in made:
        server.stop()


def _scan_args(ports: list[int], names: int, tmp_path) -> list[str]:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(SAMPLES.root_pem)
    args = ["scan", "--ca-file", str(ca), "--timeout", "5", "--jsonl", str(tmp_path / "o.jsonl")]
    for port in ports:
        for name in range(names):
            host = f"n{name}.wild.example.test:{port}"
            args += [host, "--resolve", f"{host}:127.0.0.1"]
    return args


def _reported(tmp_path) -> list[dict]:
    lines = (tmp_path / "o.jsonl").read_text().splitlines()
    return [json.loads(line)["result"] for line in lines]


def _assert_all_scanned(tmp_path, ports: list[int], names: int) -> None:
    results = _reported(tmp_path)
    seen = sorted((r["target"]["host"], r["target"]["port"]) for r in results)
    wanted = sorted((f"n{n}.wild.example.test", p) for p in ports for n in range(names))
    assert seen == wanted  # every target once
    assert all(r["facts"]["error"] is None for r in results), [
        r["facts"]["error"] for r in results
    ]


def test_per_host_counts_the_address_across_all_its_ports(run_cli, shared_servers, tmp_path):
    ports, counter = shared_servers(6)
    proc = run_cli(*_scan_args(ports, 2, tmp_path), "--per-host", "2", "--concurrency", "12")
    assert proc.returncode in (0, 1), proc.stderr
    _assert_all_scanned(tmp_path, ports, 2)
    assert counter.peak <= 2, counter.peak
    assert counter.peak == 2  # the limit was reached, so it was what held the scan back
    assert counter.active == 0


def test_a_higher_per_host_lets_more_through(run_cli, shared_servers, tmp_path):
    """The control for the test above: the same scan does overlap more when allowed to."""
    ports, counter = shared_servers(6)
    proc = run_cli(*_scan_args(ports, 2, tmp_path), "--per-host", "8", "--concurrency", "12")
    assert proc.returncode in (0, 1), proc.stderr
    _assert_all_scanned(tmp_path, ports, 2)
    assert 2 < counter.peak <= 8, counter.peak


def test_per_host_defaults_to_max_connections(run_cli, shared_servers, tmp_path):
    ports, counter = shared_servers(4)
    proc = run_cli(
        *_scan_args(ports, 1, tmp_path), "--max-connections", "1", "--concurrency", "4"
    )
    assert proc.returncode in (0, 1), proc.stderr
    _assert_all_scanned(tmp_path, ports, 1)
    assert counter.peak == 1  # four targets at once, yet one connection to the address


def test_rate_spaces_new_connections_through_the_cli(run_cli, shared_servers, tmp_path):
    ports, counter = shared_servers(1)
    rate = 100.0
    proc = run_cli(*_scan_args(ports, 1, tmp_path), "--rate", str(rate))
    assert proc.returncode in (0, 1), proc.stderr
    _assert_all_scanned(tmp_path, ports, 1)
    arrivals = counter.arrivals
    assert len(arrivals) > 20  # a full probe: enough connections to measure a rate
    span = arrivals[-1] - arrivals[0]
    # A spacing limiter: connection k starts no earlier than k / rate after the first
    # (10% slack for when the server's accept thread notes the arrival).
    assert span >= 0.9 * (len(arrivals) - 1) / rate, (len(arrivals), span)


def test_targets_queued_for_a_busy_address_keep_their_own_time_budget(shared_servers):
    """Waiting for a --per-host slot behind the other targets of one address is not
    charged to a target's budget (``timeout`` x BUDGET_TIMEOUTS): the targets at the
    back of the queue are scanned, not failed with "budget exhausted", and the address
    still never sees two connections at once."""
    ports, counter = shared_servers(4)
    hanging = [RawServer("hang") for _ in range(2)]
    try:
        targets = [Target("h.example.test", s.port, connect_addr="127.0.0.1") for s in hanging]
        targets += [
            Target(f"n{name}.wild.example.test", port, connect_addr="127.0.0.1")
            for port in ports
            for name in range(6)
        ]
        context = ScanContext(per_host=1)
        # Budget 1.5 s each; one at a time, the 24 good targets alone take about four times
        # that (about 0.25 s each).
        timeout = 0.25
        started = time.monotonic()
        results = dict(iter_scan(targets, timeout=timeout, concurrency=26, context=context))
        assert sorted(results) == list(range(len(targets)))
        assert time.monotonic() - started > 2 * timeout * 6  # the queue was longer than a budget
        for index in (0, 1):
            assert results[index].error is not None
            assert results[index].error.kind == "timeout"
        bad = {i: results[i].error for i in range(2, len(targets)) if not results[i].ok}
        assert bad == {}
        assert context.peak_per_host == 1
        assert max(s.counter.peak for s in hanging) <= 1 and counter.peak == 1
    finally:
        for server in hanging:
            server.stop()


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (("127.0.0.1", 443), ("127.0.0.1", 8443)),
        (("127.0.0.1", 443), ("::ffff:127.0.0.1", 8443, 0, 0)),  # IPv4-mapped (RFC 4291)
        (("2001:db8::1", 443, 0, 0), ("2001:DB8:0:0:0:0:0:1", 993, 0, 0)),
        (("fe80::1%2", 443, 0, 2), ("fe80::1", 8443, 0, 2)),
    ],
)
def test_one_address_in_any_spelling_is_one_server(one, other):
    assert address_key(one) == address_key(other)
    context = ScanContext(per_host=2)
    assert context.host_slots(one) is context.host_slots(other)
    context.opened(one, 1)
    context.opened(other, 1)
    assert context.peak_per_host == 2


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (("127.0.0.1", 443), ("127.0.0.2", 443)),
        (("fe80::1", 443, 0, 2), ("fe80::1", 443, 0, 3)),  # link-local on two interfaces
        (("::1", 443, 0, 0), ("127.0.0.1", 443)),
    ],
)
def test_different_addresses_have_their_own_slots(one, other):
    context = ScanContext(per_host=1)
    assert context.host_slots(one) is not context.host_slots(other)


def test_slots_are_shared_by_threads_across_ports():
    """Two threads on two ports of one address with per_host 1 never overlap."""
    context = ScanContext(per_host=1)
    inside = 0
    peak = 0
    lock = threading.Lock()

    def use(port: int) -> None:
        nonlocal inside, peak
        for _ in range(20):
            with context.host_slots(("127.0.0.1", port)):
                with lock:
                    inside += 1
                    peak = max(peak, inside)
                time.sleep(0.001)
                with lock:
                    inside -= 1

    threads = [threading.Thread(target=use, args=(port,)) for port in (443, 8443, 9443)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == 1
