"""The scan engine under concurrency: 200 targets on loopback servers, a third broken.

Every target is reported exactly once, no server ever sees more than the
per-host limit of connections at once (the servers count them), results match
a one-at-a-time scan, and SIGINT keeps every finished target in the JSONL file.
"""

import contextlib
import json
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import pytest

from certcheck.evaluate import Policy, evaluate
from certcheck.localserver import LoopbackServer, ServerSpec
from certcheck.model import Target
from certcheck.pipeline import iter_scan, scan_targets
from certcheck.probe.context import ScanContext
from certcheck.samples import generate

SAMPLES = generate()
NAMES_PER_PORT = 5
GOOD_PORTS = 26
BROKEN_PORTS = 14  # hang, reset, wrong certificate: a third of 40 ports, 70 of 200 targets
#: --per-host caps connections per *address*: all 40 ports are on 127.0.0.1
PER_HOST = 24


class Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.total = 0

    def __enter__(self) -> None:
        with self.lock:
            self.active += 1
            self.total += 1
            self.peak = max(self.peak, self.active)

    def __exit__(self, *exc) -> None:
        with self.lock:
            self.active -= 1


#: concurrent connections to 127.0.0.1 over every server of the fleet
ADDRESS = Counter()


class CountingTLSServer(LoopbackServer):
    """A loopback TLS server that counts its concurrent connections (and the address's)."""

    def __init__(self, spec: ServerSpec) -> None:
        super().__init__(spec)
        self.counter = Counter()

    def _handle(self, conn: socket.socket) -> None:
        # Counted from accept until the server has seen the client go (EOF or error),
        # and released before the server's own close, which is what the client waits for.
        self.counter.__enter__()
        ADDRESS.__enter__()
        sock: socket.socket = conn
        try:
            conn.settimeout(5)
            sock = tls = self.ctx.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
            with contextlib.suppress(OSError):
                tls.do_handshake()
                tls.recv(4096)
                tls.sendall(self.spec.response)
                while tls.recv(4096):
                    pass
        except (OSError, ssl.SSLError):
            pass
        finally:
            ADDRESS.__exit__()
            self.counter.__exit__()
            with contextlib.suppress(OSError):
                sock.close()


class RawServer:
    """Hangs (never writes) or resets after the first read; counts connections too."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.counter = Counter()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop_event = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        deadline = time.monotonic() + 300  # stops by itself whatever happens
        while not self.stop_event.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        self.counter.__enter__()
        ADDRESS.__enter__()
        try:
            conn.settimeout(10)
            with contextlib.suppress(OSError):
                if self.mode == "reset":
                    conn.recv(4096)
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00" * 2)
                else:
                    while not self.stop_event.is_set() and conn.recv(4096):
                        pass
        finally:
            ADDRESS.__exit__()
            self.counter.__exit__()
            conn.close()

    def stop(self) -> None:
        self.stop_event.set()
        self.sock.close()


@pytest.fixture(scope="module")
def fleet():
    good = SAMPLES.get("wildcard")  # *.wild.example.test: many names on one port
    wrong = SAMPLES.get("wrong_host")
    servers = []
    targets = []
    try:
        for index in range(GOOD_PORTS + BROKEN_PORTS):
            kind = "good" if index < GOOD_PORTS else ("hang", "reset", "wrong")[index % 3]
            if kind in ("hang", "reset"):
                server = RawServer(kind)
            else:
                sample = good if kind == "good" else wrong
                server = CountingTLSServer(
                    ServerSpec(kind, sample.chain_pem, sample.key_pem, min_version="TLSv1.0")
                ).start()
            servers.append((kind, server))
            for name in range(NAMES_PER_PORT):
                targets.append(
                    (kind, Target(f"n{name}.wild.example.test", server.port,
                                  connect_addr="127.0.0.1"))
                )
        yield servers, targets
    finally:
        for _, server in servers:
            server.stop()


def test_two_hundred_targets_each_once_within_the_per_host_limit(fleet):
    servers, targets = fleet
    assert len(targets) == 200
    context = ScanContext(per_host=PER_HOST)
    ADDRESS.peak = 0
    seen = []
    for index, facts in iter_scan([t for _, t in targets], timeout=1.5, concurrency=32,
                                  max_connections=5, context=context):
        seen.append(index)
        kind = targets[index][0]
        assert facts.target == targets[index][1]
        if kind == "hang":
            assert facts.error is not None and facts.error.kind == "timeout"
        elif kind == "reset":
            assert facts.error is not None and facts.error.kind == "reset"
        else:
            assert facts.ok, facts.error
    assert sorted(seen) == list(range(200))  # every target exactly once
    # The limit is per address (every port of 127.0.0.1 together), as the server saw it.
    assert ADDRESS.peak <= PER_HOST, ADDRESS.peak
    assert ADDRESS.peak == PER_HOST  # the limit was actually reached, so it was tested
    assert context.peak_per_host <= PER_HOST


def test_results_match_a_one_at_a_time_scan(fleet):
    _, targets = fleet
    sample = [t for kind, t in targets if kind in ("good", "wrong")][::4] + [
        t for kind, t in targets if kind in ("hang", "reset")
    ][::5]
    policy = Policy.build(ca_pem=SAMPLES.root_pem)
    now = datetime.now(UTC)

    def summary(facts_list):
        out = []
        for facts in facts_list:
            result = evaluate(facts, policy, now)
            out.append((facts.target.host, facts.target.port, result.overall,
                        sorted(f.rule_id for f in result.findings), result.verdicts,
                        facts.cipher_suites, facts.protocols))
        return out

    together = summary(scan_targets(sample, timeout=1.5, concurrency=16))
    alone = summary(scan_targets(sample, timeout=1.5, concurrency=1))
    assert together == alone


def test_sigint_keeps_every_finished_target_in_jsonl(fleet, tmp_path):
    _, targets = fleet
    listing = tmp_path / "targets.txt"
    # Good targets first, then hanging ones: the scan is interrupted while it waits on those.
    chosen = [t for kind, t in targets if kind == "good"][:20] + [
        t for kind, t in targets if kind == "hang"
    ]
    listing.write_text("".join(f"{t.host}:{t.port}\n" for t in chosen))
    resolve = []
    for t in chosen:
        resolve += ["--resolve", f"{t.host}:{t.port}:127.0.0.1"]
    out = tmp_path / "scan.jsonl"
    whole = tmp_path / "scan.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "certcheck", "scan", "--targets-file", str(listing), *resolve,
         # --per-host 20: every port here is 127.0.0.1, and with the default (5 per address)
         # the first hanging targets could take the slots the last good one still needs, so
         # it ended after a hanging one (the server drops those after 10 s) -- a fair
         # schedule, but not the order this test is about.
         "--per-host", "20",
         "--timeout", "20", "--concurrency", "4", "--jsonl", str(out), "--json", str(whole),
         "--ca-file", str(_ca(tmp_path))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if out.exists() and out.read_text().count("\n") >= 20:
            break
        time.sleep(0.1)
    time.sleep(0.5)  # now only hanging targets are running
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "interrupted after" in stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) >= 20
    hosts = {(line["result"]["target"]["host"], line["result"]["target"]["port"]) for line in lines}
    assert len(hosts) == len(lines)  # each once
    assert {(t.host, t.port) for t in chosen[:20]} <= hosts
    # The whole document says it is partial: interrupted, exit code 130, and counts what it has.
    document = json.loads(whole.read_text())
    assert document["interrupted"] is True
    assert document["exit_code"] == 130
    counts = document["summary"]
    assert counts["targets"] == len(document["results"]) >= 20
    assert sum(counts[k] for k in ("pass", "warn", "fail", "error")) == counts["targets"]


def _ca(tmp_path):
    path = tmp_path / "ca.pem"
    path.write_bytes(SAMPLES.root_pem)
    return path


def test_the_scan_context_resolves_each_host_once():
    calls = []
    context = ScanContext()

    def lookup():
        calls.append(1)
        return ("127.0.0.1", 443)

    threads = [threading.Thread(target=lambda: context.resolve_once(("h", 443), lookup))
               for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [1]


def test_rate_limit_spaces_new_connections():
    from certcheck.probe.context import RateLimiter

    limiter = RateLimiter(20.0)
    started = time.monotonic()
    for _ in range(6):
        assert limiter.acquire(started + 10)
    assert time.monotonic() - started >= 5 / 20 - 0.01  # the first is free, then 1/20 s each
    assert not RateLimiter(0.5).acquire(time.monotonic() - 1)  # a passed deadline is refused

