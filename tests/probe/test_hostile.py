"""Servers that misbehave: silent, garbage, resets, closed ports, huge chains, bad facts.

Every server here is a small threaded TCP server on 127.0.0.1 with a bounded
lifetime; the scan must classify each failure and never hang or crash.
"""

from __future__ import annotations

import base64
import contextlib
import gc
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from types import FrameType

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from certcheck.evaluate import Policy, evaluate
from certcheck.localserver import ServerSpec, serving
from certcheck.model import PROTOCOLS, Target
from certcheck.probe import probe_target

TIMEOUT = 1.5
#: Generous bound on how long a scan may take beyond its timeout.
SLACK = 5.0
HANDLER_LIFETIME = 15.0

Handler = Callable[[socket.socket, threading.Event], None]


class RawServer:
    """A TCP server on 127.0.0.1 that runs ``handler(conn, stop)`` per connection."""

    def __init__(self, handler: Handler, lifetime: float = 60.0) -> None:
        self.handler = handler
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(32)
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.deadline = time.monotonic() + lifetime
        self.conns: list[socket.socket] = []
        self.accepted = 0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with self._lock:
                self.conns.append(conn)
                self.accepted += 1
            thread = threading.Thread(target=self._run, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _run(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            self.handler(conn, self.stop)
        with contextlib.suppress(OSError):
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self._thread.join(timeout=2)
        with contextlib.suppress(OSError):
            self.sock.close()
        with self._lock:
            for conn in self.conns:
                with contextlib.suppress(OSError):
                    conn.close()
        for thread in self._threads:
            thread.join(timeout=2)


@contextlib.contextmanager
def raw_server(handler: Handler):
    server = RawServer(handler)
    try:
        yield server
    finally:
        server.close()


# -- handlers ---------------------------------------------------------------------------------


def silent(conn: socket.socket, stop: threading.Event) -> None:
    """Accept, never read or write, hang on until stopped."""
    stop.wait(HANDLER_LIFETIME)


def http_garbage(conn: socket.socket, stop: threading.Event) -> None:
    """Answer the ClientHello like a plain HTTP server would."""
    conn.settimeout(3)
    conn.recv(16384)
    conn.sendall(
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 11\r\nConnection: close\r\n\r\nbad request"
    )
    stop.wait(0.5)


def banner_garbage(conn: socket.socket, stop: threading.Event) -> None:
    """Speak first, in something that is not TLS (an SSH banner)."""
    conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
    stop.wait(3)


def reset_after_hello(conn: socket.socket, stop: threading.Event) -> None:
    """Read the ClientHello, then abort the connection with a RST."""
    conn.settimeout(3)
    conn.recv(16384)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def close_at_once(conn: socket.socket, stop: threading.Event) -> None:
    conn.close()


def handshake_failure_alert(conn: socket.socket, stop: threading.Event) -> None:
    conn.settimeout(3)
    conn.recv(16384)
    conn.sendall(bytes([21, 3, 3, 0, 2, 2, 40]))  # fatal handshake_failure
    stop.wait(0.5)


def trickle(conn: socket.socket, stop: threading.Event) -> None:
    """A TLS record header promising 16 KiB, then one byte every 200 ms."""
    conn.sendall(bytes([22, 3, 3, 0x40, 0x00]))
    while not stop.wait(0.2):
        conn.sendall(b"\x00")


def probe(port: int, timeout: float = TIMEOUT, host: str = "hostile.example.test"):
    started = time.monotonic()
    facts = probe_target(Target(host=host, port=port, connect_addr="127.0.0.1"), timeout=timeout)
    return facts, time.monotonic() - started


@pytest.fixture(scope="module")
def closed_port():
    """A port that is bound but not listening: connections are refused, no race."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


# -- classification ---------------------------------------------------------------------------


def test_silent_server_times_out_within_bound():
    with raw_server(silent) as server:
        facts, elapsed = probe(server.port)
        assert server.accepted >= 1
    assert facts.error is not None
    assert facts.error.kind == "timeout"
    assert elapsed < TIMEOUT + SLACK
    # Nothing was learnt about the versions either: unknown, not "refused".
    assert set(facts.protocols) == set(PROTOCOLS)
    assert all(v is None for v in facts.protocols.values())
    assert facts.chain == []


def test_trickling_server_cannot_stretch_the_timeout():
    with raw_server(trickle) as server:
        facts, elapsed = probe(server.port)
    assert facts.error is not None and facts.error.kind == "timeout"
    assert elapsed < TIMEOUT + SLACK


@pytest.mark.parametrize("handler", [http_garbage, banner_garbage], ids=["http", "ssh-banner"])
def test_garbage_is_not_tls(handler):
    with raw_server(handler) as server:
        facts, elapsed = probe(server.port)
    assert facts.error is not None
    assert facts.error.kind == "not_tls", facts.error
    assert elapsed < TIMEOUT + SLACK


def test_reset_mid_handshake():
    with raw_server(reset_after_hello) as server:
        facts, _ = probe(server.port)
    assert facts.error is not None
    assert facts.error.kind == "reset", facts.error


def test_close_without_answer_is_reset():
    with raw_server(close_at_once) as server:
        facts, _ = probe(server.port)
    assert facts.error is not None
    assert facts.error.kind == "reset", facts.error


def test_handshake_failure_alert():
    with raw_server(handshake_failure_alert) as server:
        facts, _ = probe(server.port)
    assert facts.error is not None
    assert facts.error.kind == "tls_alert", facts.error
    assert "handshake failure" in facts.error.message


def test_closed_port_is_refused(closed_port):
    facts, elapsed = probe(closed_port)
    assert facts.error is not None
    assert facts.error.kind == "refused", facts.error
    assert elapsed < TIMEOUT + SLACK


def test_failed_scans_evaluate_to_error_not_findings(closed_port):
    facts, _ = probe(closed_port)
    result = evaluate(facts, Policy.build(), datetime.now(UTC))
    assert result.overall == "error"
    assert result.findings == []
    assert set(result.verdicts.values()) == {"unknown"}
    assert result.to_dict()["status"] == "error"


# -- a huge chain -----------------------------------------------------------------------------


def _filler_certs(count: int) -> bytes:
    """``count`` unrelated CA-issued certificates with long SAN lists (not self-signed)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Filler Issuing CA")])
    pems = []
    for i in range(count):
        names = [x509.DNSName(f"host{j}.filler{i}.example.test") for j in range(40)]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"filler {i}")]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(key, hashes.SHA256())
        )
        pems.append(cert.public_bytes(Encoding.PEM))
    return b"".join(pems)


def test_huge_chain_still_works(sample_set):
    sample = sample_set.get("good_rsa")
    chain = sample.chain_pem + _filler_certs(28)
    spec = ServerSpec(name="huge", chain_pem=chain, key_pem=sample.key_pem)
    with serving([spec]) as (server,):
        facts, elapsed = probe(server.port, timeout=5, host=sample.host)
    assert facts.ok, facts.error
    assert len(facts.chain) == 30
    assert sum(len(base64.b64decode(c)) for c in facts.chain) > 30_000
    assert facts.protocols["TLSv1.2"] is True and facts.protocols["TLSv1.3"] is True
    result = evaluate(facts, Policy.build(ca_pem=sample_set.root_pem), datetime.now(UTC))
    rules = {f.rule_id: f for f in result.findings}
    assert {f.rule_id for f in result.findings if f.severity != "info"} == {
        "legacy_tls_missing",
    }
    assert rules["chain_extra_certs"].severity == "info"
    assert len(rules["chain_extra_certs"].evidence["unused"]) == 28
    assert result.certificate is not None and result.certificate["trusted"] is True
    assert len(result.certificate["chain"]) == 30


# -- garbage in saved facts -------------------------------------------------------------------


def _facts_doc(chain: list, **extra) -> dict:
    entry = {
        "target": {"host": "good.example.test", "port": 443},
        "scanned_at": "2026-01-01T00:00:00Z",
        "chain": chain,
        "protocols": {},
        **extra,
    }
    return {"schema_version": "1.0", "kind": "certcheck-facts", "facts": [entry]}


def _der_b64(pem: bytes) -> list[str]:
    return [
        base64.b64encode(c.public_bytes(Encoding.DER)).decode("ascii")
        for c in x509.load_pem_x509_certificates(pem)
    ]


def _evaluate_file(run_cli, tmp_path, document, *args: str):
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return run_cli("evaluate", path, *args, timeout=60)


def test_evaluate_random_certificate_bytes(run_cli, tmp_path):
    junk = base64.b64encode(os.urandom(400)).decode("ascii")
    proc = _evaluate_file(run_cli, tmp_path, _facts_doc([junk]), "--json", "-")
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.returncode == 1, proc.stderr
    (result,) = json.loads(proc.stdout)["results"]
    assert result["overall"] == "fail"
    (finding,) = result["findings"]
    assert finding["rule_id"] == "cert_unparseable"
    assert finding["title"] == "The server sent no usable certificate"
    assert "could not be parsed" in finding["evidence"]["problems"][0]
    # And in the console report too.
    proc = _evaluate_file(run_cli, tmp_path, _facts_doc([junk]))
    assert proc.returncode == 1
    assert "no usable certificate" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_evaluate_unreadable_leaf_is_not_replaced_by_the_next_cert(
    run_cli, tmp_path, sample_set, sample_dir
):
    junk = base64.b64encode(os.urandom(400)).decode("ascii")
    intermediate = _der_b64(sample_set.intermediate_pem)[0]
    proc = _evaluate_file(
        run_cli,
        tmp_path,
        _facts_doc([junk, intermediate]),
        "--ca-file",
        sample_dir / "ca.pem",
        "--json",
        "-",
    )
    assert proc.returncode == 1, proc.stderr
    (result,) = json.loads(proc.stdout)["results"]
    # The intermediate must not be judged as if it were the server certificate
    # (no hostname_mismatch, eku_serverauth_missing ... about the CA certificate).
    assert [f["rule_id"] for f in result["findings"]] == ["cert_unparseable"]
    assert "#0" in result["findings"][0]["evidence"]["reason"]


@pytest.mark.parametrize(
    "document",
    [
        _facts_doc(["!!! not base64 !!!"]),
        _facts_doc([123]),
        _facts_doc("not a list"),
        _facts_doc([], protocols=["TLSv1.2"]),
        _facts_doc([], error={"kind": "timeout"}),
        {"schema_version": "1.0", "kind": "certcheck-results", "results": [1, 2]},
        {"schema_version": "1.0", "kind": "certcheck-results", "results": "x"},
        {"schema_version": "1.0", "kind": "certcheck-facts", "facts": [{"target": {}}]},
        {"schema_version": "1.0", "kind": "certcheck-facts", "facts": [{"target": "x"}]},
        {"schema_version": "9.0", "kind": "certcheck-facts", "facts": []},
    ],
    ids=[
        "bad-base64",
        "int-in-chain",
        "chain-not-list",
        "protocols-not-dict",
        "error-without-message",
        "results-not-dicts",
        "results-not-list",
        "target-empty",
        "target-not-dict",
        "future-major",
    ],
)
def test_evaluate_malformed_facts_is_a_usage_error(run_cli, tmp_path, document):
    proc = _evaluate_file(run_cli, tmp_path, document)
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("certcheck: error: "), proc.stderr
    assert "facts.json" in lines[0]


# -- many targets through the CLI -------------------------------------------------------------


@pytest.fixture(scope="module")
def broken_servers(closed_port):
    with raw_server(silent) as quiet, raw_server(http_garbage) as noisy:
        yield {
            "silent.example.test": (quiet.port, "timeout"),
            "garbage.example.test": (noisy.port, "not_tls"),
            "closed.example.test": (closed_port, "refused"),
        }


def _good_targets(sample_set, sample_servers) -> dict[str, int]:
    targets = {
        sample_set.get("good_rsa").host: sample_servers["good_rsa"].port,
        sample_set.get("good_ecdsa").host: sample_servers["good_ecdsa"].port,
    }
    for label in ("api", "a", "b", "c", "d"):
        targets[f"{label}.wild.example.test"] = sample_servers["wildcard"].port
    return targets


def _scan_args(targets: dict[str, int]) -> list[str]:
    args = [f"{host}:{port}" for host, port in targets.items()]
    for host, port in targets.items():
        args += ["--resolve", f"{host}:{port}:127.0.0.1"]
    return args


def test_ten_targets_three_unscannable(
    run_cli, tmp_path, sample_set, sample_servers, sample_dir, broken_servers
):
    good = _good_targets(sample_set, sample_servers)
    broken = {host: port for host, (port, _kind) in broken_servers.items()}
    # Interleave so that input order is really checked.
    ordered = dict(list(good.items())[:3] + list(broken.items()) + list(good.items())[3:])
    assert len(ordered) == 10
    out = tmp_path / "out.json"
    started = time.monotonic()
    proc = run_cli(
        "scan",
        *_scan_args(ordered),
        "--ca-file",
        sample_dir / "ca.pem",
        "--timeout",
        TIMEOUT,
        "--json",
        out,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    assert "Traceback" not in proc.stderr
    # Only warnings (legacy_tls_missing) on the good ones, and three unscanned: exit 3.
    assert proc.returncode == 3, (proc.stdout, proc.stderr)
    assert elapsed < TIMEOUT + SLACK + 10  # one timeout (targets run concurrently) + start-up
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["exit_code"] == 3
    assert document["summary"] == {
        "targets": 10,
        "pass": 0,
        "warn": 7,
        "fail": 0,
        "error": 3,
    }
    results = document["results"]
    assert [(r["target"]["host"], r["target"]["port"]) for r in results] == list(ordered.items())
    for result in results:
        host = result["target"]["host"]
        if host in broken_servers:
            assert result["status"] == "error"
            assert result["overall"] == "error"
            assert result["facts"]["error"]["kind"] == broken_servers[host][1]
            assert result["findings"] == []
        else:
            assert result["status"] == "scanned"
            assert result["target"]["connect_addr"] == "127.0.0.1"
            problems = [f["rule_id"] for f in result["findings"] if f["severity"] != "info"]
            assert problems == ["legacy_tls_missing"]
    # The console report names each unscanned target and why.
    for host in broken_servers:
        assert host in proc.stdout
    assert "not scanned: timeout" in proc.stdout
    assert "10 target(s): 7 warn, 3 error" in proc.stdout


def test_findings_outrank_unscanned_targets(
    run_cli, sample_set, sample_servers, sample_dir, broken_servers
):
    expired = sample_set.get("expired")
    targets = {
        expired.host: sample_servers["expired"].port,
        "closed.example.test": broken_servers["closed.example.test"][0],
    }
    proc = run_cli(
        "scan",
        *_scan_args(targets),
        "--ca-file",
        sample_dir / "ca.pem",
        "--timeout",
        TIMEOUT,
        "--json",
        "-",
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    document = json.loads(proc.stdout)
    assert document["exit_code"] == 1
    assert [r["status"] for r in document["results"]] == ["scanned", "error"]
    assert "cert_expired" in [f["rule_id"] for f in document["results"][0]["findings"]]


@pytest.mark.parametrize("handler", [close_at_once, reset_after_hello, handshake_failure_alert])
def test_a_failed_handshake_leaves_no_garbage_cycle(handler) -> None:
    """The handshake's exception travels from a worker's future into the plan; a cycle
    through it (future -> exception -> traceback -> a frame holding the future) kept the
    failed SSL connection and socket alive until a full collection, which the scan's
    collector settings make rare: a long scan's memory grew with its failed handshakes."""
    with raw_server(handler) as server:
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            facts, _ = probe(server.port)
            del facts
            gc.collect()
            kept = [o for o in gc.garbage if isinstance(o, (BaseException, FrameType, Future))]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
    assert kept == []
