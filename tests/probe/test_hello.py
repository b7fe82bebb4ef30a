"""Tests for the hand-built ClientHello version probe (certcheck.probe.hello).

Every server here listens on loopback only: real OpenSSL servers from
certcheck.localserver, plus tiny raw TCP servers that misbehave on purpose.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import trustme

from certcheck.localserver import LoopbackServer, ServerSpec, serving
from certcheck.probe.hello import (
    CIPHER_NAMES,
    HRR_RANDOM,
    PROTOCOL_CODES,
    HelloAnswer,
    build_client_hello,
    parse_server_answer,
    probe_version,
    probe_versions,
)

HOST = "good.example.test"
TIMEOUT = 3.0

# --------------------------------------------------------------------------- helpers


def _spec(cert: trustme.LeafCert, **kw: str) -> ServerSpec:
    chain = b"".join(b.bytes() for b in cert.cert_chain_pems)
    return ServerSpec("test", chain, cert.private_key_pem.bytes(), **kw)


@pytest.fixture(scope="module")
def rsa_cert() -> trustme.LeafCert:
    # trustme's default key type (CA and leaf alike) is ECDSA, so ask for RSA explicitly.
    rsa = trustme.KeyType.RSA
    return trustme.CA(key_type=rsa).issue_cert(HOST, key_type=rsa)


@pytest.fixture(scope="module")
def ecdsa_cert() -> trustme.LeafCert:
    ecdsa = trustme.KeyType.ECDSA
    return trustme.CA(key_type=ecdsa).issue_cert(HOST, key_type=ecdsa)


def accepted_map(answers: dict[str, HelloAnswer]) -> dict[str, bool | None]:
    return {name: answer.accepted for name, answer in answers.items()}


def server_hello(
    legacy: int = 0x0303,
    cipher: int = 0xC02F,
    selected: int | None = None,
    rand: bytes | None = None,
) -> bytes:
    """A ServerHello handshake message (header included), built by hand."""
    exts = b""
    if selected is not None:
        exts = struct.pack("!HHH", 0x002B, 2, selected)
    body = struct.pack("!H", legacy) + (rand or os.urandom(32)) + b"\x20" + os.urandom(32)
    body += struct.pack("!HB", cipher, 0) + struct.pack("!H", len(exts)) + exts
    return b"\x02" + len(body).to_bytes(3, "big") + body


def record(ctype: int, payload: bytes, version: int = 0x0303) -> bytes:
    return struct.pack("!BHH", ctype, version, len(payload)) + payload


def client_hello_extensions(data: bytes) -> tuple[int, list[int], dict[int, bytes]]:
    """(client_version, suites, {ext type: body}) of a ClientHello record."""
    assert data[0] == 22
    assert struct.unpack_from("!H", data, 3)[0] == len(data) - 5
    hs = data[5:]
    assert hs[0] == 1 and int.from_bytes(hs[1:4], "big") == len(hs) - 4
    body = hs[4:]
    version = struct.unpack_from("!H", body, 0)[0]
    pos = 34
    pos += 1 + body[pos]
    n = struct.unpack_from("!H", body, pos)[0]
    suites = [struct.unpack_from("!H", body, pos + 2 + i)[0] for i in range(0, n, 2)]
    pos += 2 + n
    pos += 1 + body[pos]
    exts: dict[int, bytes] = {}
    if pos < len(body):
        end = pos + 2 + struct.unpack_from("!H", body, pos)[0]
        assert end == len(body)
        pos += 2
        while pos < end:
            etype, size = struct.unpack_from("!HH", body, pos)
            exts[etype] = body[pos + 4 : pos + 4 + size]
            pos += 4 + size
    return version, suites, exts


@contextlib.contextmanager
def raw_server(handler: Callable[[socket.socket], None]) -> Iterator[int]:
    """A plain TCP server on 127.0.0.1 running ``handler`` per connection.

    Lifetime is bounded: connections are force-closed when the block exits,
    and the accept loop polls so it stops within 0.1 s.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    stop = threading.Event()
    conns: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.settimeout(5)
            conns.append(conn)
            threading.Thread(target=_run, args=(conn,), daemon=True).start()

    def _run(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            handler(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.close()


def read_hello(conn: socket.socket) -> bytes:
    """Read one full ClientHello record so a later close sends FIN, not RST."""
    data = b""
    while len(data) < 5 or len(data) < 5 + struct.unpack_from("!H", data, 3)[0]:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


# --------------------------------------------------------------------------- real servers


def test_tls12_only_server(rsa_cert: trustme.LeafCert) -> None:
    with serving([_spec(rsa_cert, min_version="TLSv1.2", max_version="TLSv1.2")]) as [srv]:
        answers = probe_versions(("127.0.0.1", srv.port), HOST, TIMEOUT)
    assert accepted_map(answers) == {
        "SSLv3": False,
        "TLSv1.0": False,
        "TLSv1.1": False,
        "TLSv1.2": True,
        "TLSv1.3": False,
    }
    tls12 = answers["TLSv1.2"]
    assert tls12.version == 0x0303 and tls12.error_kind is None
    assert tls12.cipher in CIPHER_NAMES
    assert tls12.detail == f"server hello TLSv1.2 {CIPHER_NAMES[tls12.cipher]}"
    assert "RSA" in CIPHER_NAMES[tls12.cipher] and "ECDSA" not in CIPHER_NAMES[tls12.cipher]
    for name in ("TLSv1.0", "TLSv1.1", "TLSv1.3"):
        assert answers[name].detail == "alert protocol_version"
        assert answers[name].error_kind is None
    # SSLv3 has no protocol_version alert (RFC 6101), so OpenSSL says handshake_failure.
    assert answers["SSLv3"].detail == "alert handshake_failure"


def test_tls13_only_server(rsa_cert: trustme.LeafCert) -> None:
    with serving([_spec(rsa_cert, min_version="TLSv1.3", max_version="TLSv1.3")]) as [srv]:
        answers = probe_versions(
            ("127.0.0.1", srv.port), HOST, TIMEOUT, versions=["TLSv1.2", "TLSv1.3"]
        )
    assert accepted_map(answers) == {"TLSv1.2": False, "TLSv1.3": True}
    tls13 = answers["TLSv1.3"]
    assert tls13.version == 0x0304
    assert tls13.cipher in (0x1301, 0x1302, 0x1303)
    assert tls13.detail.startswith("server hello TLSv1.3 TLS_")
    assert answers["TLSv1.2"].detail == "alert protocol_version"


def test_legacy_server_accepts_tls10_and_tls11(rsa_cert: trustme.LeafCert) -> None:
    spec = _spec(rsa_cert, min_version="TLSv1.0", ciphers="ALL:@SECLEVEL=0")
    with serving([spec]) as [srv]:
        answers = probe_versions(("127.0.0.1", srv.port), HOST, TIMEOUT)
    assert accepted_map(answers) == {
        "SSLv3": False,  # OpenSSL 3 has no SSLv3 at all
        "TLSv1.0": True,
        "TLSv1.1": True,
        "TLSv1.2": True,
        "TLSv1.3": True,
    }
    assert answers["TLSv1.0"].version == 0x0301
    assert answers["TLSv1.1"].version == 0x0302
    # No TLS-1.2-only suite may be offered, hence chosen, below TLS 1.2.
    assert "CBC_SHA" in CIPHER_NAMES[answers["TLSv1.0"].cipher or 0]
    # A TLS 1.3-capable server marks lower ServerHellos (RFC 8446 4.1.3).
    assert "downgrade sentinel" in answers["TLSv1.0"].detail


def test_ecdsa_server_detects_tls12(ecdsa_cert: trustme.LeafCert) -> None:
    spec = _spec(ecdsa_cert, min_version="TLSv1.2", max_version="TLSv1.2")
    with serving([spec]) as [srv]:
        answer = probe_version(("127.0.0.1", srv.port), "TLSv1.2", HOST, TIMEOUT)
    assert answer.accepted is True
    assert answer.version == 0x0303
    assert "ECDHE_ECDSA" in CIPHER_NAMES[answer.cipher or 0]


def test_hello_retry_request_counts_as_tls13(rsa_cert: trustme.LeafCert) -> None:
    """A server without x25519 asks for another key share; that is still TLS 1.3."""
    server = LoopbackServer(_spec(rsa_cert, min_version="TLSv1.3"))
    server.ctx.set_ecdh_curve("prime256v1")  # OpenSSL 3: restricts the groups to P-256
    server.start()
    try:
        answer = probe_version(("127.0.0.1", server.port), "TLSv1.3", HOST, TIMEOUT)
    finally:
        server.stop()
    assert answer.accepted is True
    assert answer.version == 0x0304
    assert answer.detail.startswith("hello retry request TLSv1.3")


def test_ipv6_loopback(rsa_cert: trustme.LeafCert) -> None:
    try:
        server = LoopbackServer(_spec(rsa_cert), host="::1")
    except OSError as exc:
        pytest.skip(f"cannot bind ::1 on this machine: {exc}")
    server.start()
    try:
        answers = probe_versions(("::1", server.port), HOST, TIMEOUT, ["TLSv1.1", "TLSv1.2"])
    finally:
        server.stop()
    assert accepted_map(answers) == {"TLSv1.1": False, "TLSv1.2": True}


def test_unknown_version_name_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        probe_version(("127.0.0.1", 9), "TLSv9", None, 1)


def test_non_numeric_address_does_no_dns() -> None:
    answer = probe_version(("localhost", 9), "TLSv1.2", None, 1)
    assert answer.accepted is None
    assert answer.error_kind == "unreachable"


# --------------------------------------------------------------------------- hostile servers


def test_silent_server_times_out_within_deadline() -> None:
    with raw_server(lambda conn: (read_hello(conn), time.sleep(3))) as port:
        start = time.monotonic()
        answer = probe_version(("127.0.0.1", port), "TLSv1.2", HOST, 1.0)
        elapsed = time.monotonic() - start
    assert answer.accepted is None
    assert answer.error_kind == "timeout"
    assert answer.detail == "timeout"
    assert 0.9 <= elapsed < 2.0


def test_timeout_is_a_total_deadline_not_per_recv() -> None:
    """A server dripping a never-ending record must not keep the probe alive."""

    def drip(conn: socket.socket) -> None:
        read_hello(conn)
        conn.sendall(b"\x16\x03\x03\x00\x60")
        for _ in range(30):
            time.sleep(0.1)
            conn.sendall(b"\x00")

    with raw_server(drip) as port:
        start = time.monotonic()
        answer = probe_version(("127.0.0.1", port), "TLSv1.2", HOST, 1.0)
        elapsed = time.monotonic() - start
    assert answer.accepted is None
    assert answer.error_kind == "timeout"
    assert answer.detail.startswith("timeout after ")
    assert elapsed < 2.0


def test_probe_versions_runs_concurrently() -> None:
    with raw_server(lambda conn: (read_hello(conn), time.sleep(3))) as port:
        start = time.monotonic()
        answers = probe_versions(("127.0.0.1", port), HOST, 1.0)
        elapsed = time.monotonic() - start
    assert list(answers) == list(PROTOCOL_CODES)
    assert all(a.accepted is None and a.error_kind == "timeout" for a in answers.values())
    assert elapsed < 2.0  # five 1 s probes in parallel, not 5 s in a row


def test_garbage_answer_is_not_tls() -> None:
    def http(conn: socket.socket) -> None:
        read_hello(conn)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    with raw_server(http) as port:
        answer = probe_version(("127.0.0.1", port), "TLSv1.2", HOST, TIMEOUT)
    # Documented choice: the server answered, and not with a ServerHello -> False.
    assert answer.accepted is False
    assert answer.error_kind == "not_tls"
    assert answer.detail.startswith("not TLS (garbage)")


def test_close_after_hello_is_refusal() -> None:
    with raw_server(lambda conn: (read_hello(conn), conn.close())) as port:
        answer = probe_version(("127.0.0.1", port), "TLSv1.2", HOST, TIMEOUT)
    assert answer == HelloAnswer(False, "closed", error_kind="closed")


def test_reset_after_hello_is_refusal() -> None:
    def reset(conn: socket.socket) -> None:
        read_hello(conn)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    with raw_server(reset) as port:
        answer = probe_version(("127.0.0.1", port), "TLSv1.2", HOST, TIMEOUT)
    assert answer == HelloAnswer(False, "reset", error_kind="reset")


def test_closed_port_is_refused() -> None:
    with socket.socket() as probe_sock:
        probe_sock.bind(("127.0.0.1", 0))
        port = probe_sock.getsockname()[1]
    answer = probe_version(("127.0.0.1", port), "TLSv1.2", HOST, TIMEOUT)
    assert answer.accepted is None
    assert answer.error_kind == "refused"


def test_server_hello_dribbled_byte_by_byte_is_reassembled() -> None:
    answer_bytes = record(22, server_hello(0x0303, 0xC030))

    def dribble(conn: socket.socket) -> None:
        read_hello(conn)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(answer_bytes)):
            conn.sendall(answer_bytes[i : i + 1])
            if i % 20 == 0:
                time.sleep(0.01)

    with raw_server(dribble) as port:
        answer = probe_version(("127.0.0.1", port), "TLSv1.2", HOST, TIMEOUT)
    assert answer.accepted is True
    assert answer.cipher == 0xC030
    assert answer.detail == "server hello TLSv1.2 TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"


def test_server_choosing_another_version_is_not_acceptance() -> None:
    def answer_tls12(conn: socket.socket) -> None:
        read_hello(conn)
        conn.sendall(record(22, server_hello(0x0303, 0x002F)))

    with raw_server(answer_tls12) as port:
        answer = probe_version(("127.0.0.1", port), "TLSv1.0", HOST, TIMEOUT)
    assert answer.accepted is False
    assert answer.version == 0x0303
    assert answer.detail == "server hello TLSv1.2 TLS_RSA_WITH_AES_128_CBC_SHA (asked TLSv1.0)"


# --------------------------------------------------------------------------- build_client_hello


@pytest.mark.parametrize("version", list(PROTOCOL_CODES))
def test_client_hello_is_well_formed(version: str) -> None:
    data = build_client_hello(version, HOST)
    code = PROTOCOL_CODES[version]
    assert struct.unpack_from("!H", data, 1)[0] == (0x0300 if version == "SSLv3" else 0x0301)
    client_version, suites, exts = client_hello_extensions(data)
    assert client_version == min(code, 0x0303)
    assert 0x5600 not in suites  # never TLS_FALLBACK_SCSV: it would provoke refusals
    if version == "SSLv3":
        assert exts == {}
        assert suites[-1] == 0x00FF
        return
    assert exts[0x0000] == struct.pack("!HBH", len(HOST) + 3, 0, len(HOST)) + HOST.encode()
    assert exts[0x000B] == b"\x01\x00"
    assert (0x000D in exts) == (code >= 0x0303)
    if version == "TLSv1.3":
        assert suites == [0x1301, 0x1302, 0x1303, 0x1304, 0x1305]
        assert exts[0x002B] == b"\x02\x03\x04"
        assert exts[0x0033][:6] == struct.pack("!HHH", 36, 0x001D, 32)
        assert len(exts[0x0033]) == 38
        assert 0xFF01 not in exts
    else:
        assert all(s < 0x1300 or s > 0x13FF for s in suites)
        assert exts[0xFF01] == b"\x00"
        assert 0x002B not in exts
        if version == "TLSv1.2":
            assert {0xC02B, 0xC02F, 0xCCA8, 0x009C, 0x000A, 0x0005} <= set(suites)
        else:
            assert 0xC02F not in suites and {0xC013, 0xC009, 0x002F, 0x000A} <= set(suites)


def test_client_hello_options() -> None:
    _, suites, exts = client_hello_extensions(
        build_client_hello("TLSv1.3", None, cipher_suites=[0x1301], groups=[0x0017])
    )
    assert suites == [0x1301]
    assert 0x0000 not in exts  # no SNI
    assert exts[0x000A] == b"\x00\x02\x00\x17"
    assert exts[0x0033] == b"\x00\x00"  # empty key_share: asks for a HelloRetryRequest
    with pytest.raises(ValueError):
        build_client_hello("TLSv1.4", HOST)


# --------------------------------------------------------------------------- parse_server_answer


def test_parse_tls13_server_hello_and_hrr() -> None:
    sh = parse_server_answer(record(22, server_hello(0x0303, 0x1301, selected=0x0304)))
    assert (sh.accepted, sh.version, sh.cipher) == (True, 0x0304, 0x1301)
    assert sh.detail == "server hello TLSv1.3 TLS_AES_128_GCM_SHA256"
    hrr = parse_server_answer(
        record(22, server_hello(0x0303, 0x1302, selected=0x0304, rand=HRR_RANDOM))
    )
    assert (hrr.accepted, hrr.version) == (True, 0x0304)
    assert hrr.detail == "hello retry request TLSv1.3 TLS_AES_256_GCM_SHA384"


def test_parse_alerts() -> None:
    assert parse_server_answer(record(21, b"\x02\x46")) == HelloAnswer(
        False, "alert protocol_version"
    )
    assert parse_server_answer(record(21, b"\x02\x28", 0x0300)).detail == (
        "alert handshake_failure"
    )
    assert parse_server_answer(record(21, b"\x02\xc8")).detail == "alert alert_200"
    # A warning (e.g. unrecognized_name) before the ServerHello is skipped.
    both = record(21, b"\x01\x70") + record(22, server_hello(0x0303, 0xC02B))
    assert parse_server_answer(both).accepted is True
    assert parse_server_answer(record(21, b"\x01\x70")).error_kind == "truncated"


def test_parse_server_hello_split_over_records() -> None:
    msg = server_hello(0x0302, 0x0035)
    answer = parse_server_answer(record(22, msg[:10]) + record(22, msg[10:]))
    assert (answer.accepted, answer.version, answer.cipher) == (True, 0x0302, 0x0035)


def test_parse_sslv3_server_hello_without_extensions() -> None:
    msg = server_hello(0x0300, 0x000A)
    msg = b"\x02" + (len(msg) - 6).to_bytes(3, "big") + msg[4:-2]  # drop extensions block
    answer = parse_server_answer(record(22, msg, 0x0300))
    assert (answer.accepted, answer.version, answer.cipher) == (True, 0x0300, 0x000A)
    assert answer.detail == "server hello SSLv3 TLS_RSA_WITH_3DES_EDE_CBC_SHA"


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 400 Bad Request\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"\x80\x2e\x04\x00\x01\x00\x02",  # SSLv2 SERVER-HELLO
        b"\x17\x03\x03\x00\x02ab",  # application data first
        b"\x16\x03\x03\x00\x00",  # empty handshake record
        b"\x16\x03\x03\xff\xff",  # longer than any legal record
        record(22, b"\x0b\x00\x00\x00"),  # Certificate before ServerHello
        record(21, b"\x02\x28\x00"),  # 3-byte alert
        record(22, b"\x02\x00\x00\x03\x03\x03\x00"),  # ServerHello too short
    ],
)
def test_parse_not_tls(data: bytes) -> None:
    answer = parse_server_answer(data)
    assert answer.accepted is False
    assert answer.error_kind == "not_tls"


def test_parse_empty_means_closed() -> None:
    assert parse_server_answer(b"") == HelloAnswer(False, "closed", error_kind="closed")


def test_parse_every_prefix_is_truncated_never_raises() -> None:
    full = record(21, b"\x01\x70") + record(22, server_hello(0x0303, 0x1301, selected=0x0304))
    for n in range(1, len(full)):
        answer = parse_server_answer(full[:n])
        assert answer.accepted is None and answer.error_kind == "truncated", n
    assert parse_server_answer(full).accepted is True


def test_parse_random_bytes_never_raises() -> None:
    rng = random.Random(1234)
    for _ in range(3000):
        size = rng.randrange(0, 120)
        data = bytes(rng.randrange(256) for _ in range(size))
        if rng.random() < 0.5 and size >= 5:  # make it look like a record often
            data = bytes([rng.choice((21, 22)), 3, rng.randrange(5)]) + data[3:]
        answer = parse_server_answer(data)
        assert isinstance(answer, HelloAnswer)
        assert answer.accepted in (True, False, None)


def test_endless_record_is_cut_off_at_16k() -> None:
    def flood(conn: socket.socket) -> None:
        read_hello(conn)
        conn.sendall(b"\x16\x03\x03\x48\x00" + b"\x02\x00\x48\x00" + b"\x00" * 18000)

    with raw_server(flood) as port:
        answer = probe_version(("127.0.0.1", port), "TLSv1.2", HOST, TIMEOUT)
    assert answer.accepted is False
    assert answer.error_kind == "not_tls"
    assert "16384 bytes" in answer.detail
