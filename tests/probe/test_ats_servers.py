"""End to end on real loopback servers: probe -> evaluate -> ATS/cipher rules and the
per-client handshake simulation, in process and through ``certcheck scan --clients``.

Servers (127.0.0.1 only): TLS 1.3 only; TLS 1.2 with only non-forward-secret RSA
suites; TLS 1.0-1.2 with ECDHE-RSA-AES128-SHA only; ECDSA P-256; and one that
accepts 3DES.  This machine's OpenSSL is built without DES, so the 3DES server
is a front that answers a ClientHello offering 3DES but none of the real
server's suites with a genuine first flight (ServerHello choosing
TLS_RSA_WITH_3DES_EDE_CBC_SHA, Certificate, ServerHelloDone) and hands every
other connection to a real OpenSSL server unchanged.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import struct
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certcheck.evaluate import Policy, evaluate
from certcheck.localserver import LoopbackServer, ServerSpec, serving
from certcheck.model import Target, TargetResult
from certcheck.probe import probe_target
from certcheck.report.console import ats_line

HOST = "good.example.test"
ECDSA_HOST = "ecdsa.example.test"
TRIPLE_DES = 0x000A  # TLS_RSA_WITH_3DES_EDE_CBC_SHA


# --------------------------------------------------------------------------- the 3DES front


def _client_hello(data: bytes) -> tuple[int, list[int]] | None:
    """(legacy_version, offered suites) of a complete ClientHello record, else None."""
    if len(data) < 5 or data[0] != 22 or len(data) < 5 + struct.unpack_from("!H", data, 3)[0]:
        return None
    body = data[9:]
    version = struct.unpack_from("!H", body, 0)[0]
    pos = 35 + body[34]
    count = struct.unpack_from("!H", body, pos)[0]
    return version, [struct.unpack_from("!H", body, pos + 2 + i)[0] for i in range(0, count, 2)]


def _handshake(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def _triple_des_flight(version: int, chain_der: list[bytes]) -> bytes:
    hello = (
        struct.pack("!H", version) + os.urandom(32) + b"\x00" + struct.pack("!HB", TRIPLE_DES, 0)
    )
    hello += struct.pack("!HHHB", 5, 0xFF01, 1, 0)  # renegotiation_info
    certs = b"".join(len(c).to_bytes(3, "big") + c for c in chain_der)
    flight = (
        _handshake(2, hello)
        + _handshake(11, len(certs).to_bytes(3, "big") + certs)
        + _handshake(14, b"")
    )
    return struct.pack("!BHH", 22, version, len(flight)) + flight


def _pump(a: socket.socket, b: socket.socket) -> None:
    while True:
        ready, _, _ = select.select([a, b], [], [], 5)
        if not ready:
            return
        for sock in ready:
            data = sock.recv(65536)
            if not data:
                return
            (b if sock is a else a).sendall(data)


@contextlib.contextmanager
def triple_des_front(backend: LoopbackServer, chain_der: list[bytes]) -> Iterator[int]:
    """A loopback port that adds TLS_RSA_WITH_3DES_EDE_CBC_SHA (last) to ``backend``."""
    real = {c["id"] & 0xFFFF for c in backend.ctx.get_ciphers()}
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def handle(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(5)
            data = conn.recv(65536)
            while data and data[0] == 22 and _client_hello(data) is None:
                more = conn.recv(65536)
                if not more:
                    return
                data += more
            parsed = _client_hello(data) if data else None
            if parsed and TRIPLE_DES in parsed[1] and not real & set(parsed[1]):
                conn.sendall(_triple_des_flight(min(parsed[0], 0x0303), chain_der))
                while conn.recv(65536):
                    pass
                return
            with socket.create_connection(("127.0.0.1", backend.port), timeout=5) as upstream:
                upstream.sendall(data)
                _pump(conn, upstream)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()


# --------------------------------------------------------------------------- fixtures


def _spec(sample, name: str, low: str, high: str, ciphers: str | None = None) -> ServerSpec:
    return ServerSpec(
        name=name,
        chain_pem=sample.chain_pem,
        key_pem=sample.key_pem,
        min_version=low,
        max_version=high,
        ciphers=ciphers,
    )


@pytest.fixture(scope="module")
def policy(sample_set) -> Policy:
    return Policy.build(ca_pem=sample_set.root_pem)


@pytest.fixture(scope="module")
def servers(sample_set) -> Iterator[dict[str, int]]:
    rsa, ecdsa = sample_set.get("good_rsa"), sample_set.get("good_ecdsa")
    specs = [
        _spec(rsa, "tls13_only", "TLSv1.3", "TLSv1.3"),
        _spec(
            rsa,
            "rsa_only",
            "TLSv1.2",
            "TLSv1.2",
            "AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA:AES256-SHA",
        ),
        _spec(rsa, "ecdhe_sha", "TLSv1.0", "TLSv1.2", "ECDHE-RSA-AES128-SHA:@SECLEVEL=0"),
        _spec(
            ecdsa,
            "ecdsa",
            "TLSv1.0",
            "TLSv1.3",
            "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA"
            ":@SECLEVEL=0",
        ),
        _spec(
            rsa,
            "3des_backend",
            "TLSv1.0",
            "TLSv1.2",
            "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA:AES128-SHA:@SECLEVEL=0",
        ),
    ]
    chain = [c.public_bytes(Encoding.DER) for c in x509.load_pem_x509_certificates(rsa.chain_pem)]
    with serving(specs) as running:
        ports = {s.spec.name: s.port for s in running}
        with triple_des_front(running[-1], chain) as front:
            ports["3des"] = front
            yield ports


@pytest.fixture(scope="module")
def scanned(servers, policy) -> dict[str, TargetResult]:
    out = {}
    for name, port in servers.items():
        if name == "3des_backend":
            continue
        host = ECDSA_HOST if name == "ecdsa" else HOST
        facts = probe_target(Target(host, port, connect_addr="127.0.0.1"), timeout=5)
        assert facts.ok, (name, facts.error)
        out[name] = evaluate(facts, policy, datetime.now(UTC))
    return out


def rules(result: TargetResult) -> dict:
    return {f.rule_id: f for f in result.findings}


def clients(result: TargetResult) -> dict[str, dict]:
    assert result.simulation is not None
    return {entry["client"]: entry for entry in result.simulation}


# --------------------------------------------------------------------------- TLS 1.3 only


def test_tls13_only_legacy_android_fails_ios13_passes(scanned):
    result = scanned["tls13_only"]
    assert result.facts.cipher_suites.keys() == {"TLSv1.3"}
    sim = clients(result)
    for old in ("android_4_4_2", "android_6_0", "android_7_0", "android_8_1"):
        assert sim[old]["ok"] is False, old
        assert sim[old]["reason"].startswith("no common protocol: client offers"), old
        assert "server accepts TLSv1.3" in sim[old]["reason"]
    for new in ("ios_13_safari", "ios_18_safari", "apple_ats_ios13_14", "apple_ats_ios15_4",
                "android_10", "android_14"):  # fmt: skip
        assert sim[new]["ok"] is True, new
        assert sim[new]["protocol"] == "TLSv1.3"
        assert sim[new]["trust"] == "ok" and sim[new]["root_source"] == "ca-file"
    found = rules(result)
    # Old clients fail for want of a protocol: tls13_only says so (and breaks them);
    # client_handshake_fails does not repeat it.
    assert "client_handshake_fails" not in found
    assert found["tls13_only"].breaks == ["android_legacy"]
    assert result.verdicts["android_legacy"] == "fail"
    assert "ats_cipher_missing" not in found
    assert result.verdicts["ios"] != "fail"


# --------------------------------------------------------------------------- RSA key exchange only


def test_rsa_only_tls12_fails_ats(scanned):
    result = scanned["rsa_only"]
    assert result.facts.cipher_suites["TLSv1.2"] == [
        "TLS_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_RSA_WITH_AES_128_CBC_SHA",
        "TLS_RSA_WITH_AES_256_CBC_SHA",
    ]
    found = rules(result)
    assert found["ats_cipher_missing"].severity == "error"
    assert found["no_forward_secrecy"].severity == "error"
    sim = clients(result)
    for ats in ("apple_ats_ios9", "apple_ats_ios13_14", "apple_ats_ios15_4"):
        assert sim[ats]["ok"] is False
        assert sim[ats]["reason"] == "no common cipher suite in TLSv1.2"
    # Safari without ATS still connects with RSA key exchange.
    assert sim["ios_18_safari"]["ok"] is True
    assert sim["ios_18_safari"]["cipher"] == "TLS_RSA_WITH_AES_128_GCM_SHA256"
    fails = found["client_handshake_fails"]
    assert fails.severity == "error"
    assert "Apple ATS / iOS 15.4+" in fails.evidence["current_clients_failing"]
    assert result.verdicts["ios"] == "fail"
    assert result.verdicts["android"] != "fail"


# --------------------------------------------------------------------------- TLS 1.0 + ECDHE-SHA


def test_tls10_with_ecdhe_rsa_aes128_sha_serves_android_4(scanned):
    result = scanned["ecdhe_sha"]
    assert result.facts.cipher_suites["TLSv1.0"] == ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"]
    sim = clients(result)
    for old in ("android_4_0_4", "android_4_1_1", "android_4_2_2", "android_4_3"):
        assert sim[old]["ok"] is True, old
        assert (sim[old]["protocol"], sim[old]["cipher"]) == (
            "TLSv1.0",
            "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        )
        assert sim[old]["group"] is not None
    # Android 2.3 has no ECDHE at all.
    assert sim["android_2_3_7"]["reason"] == "no common cipher suite in TLSv1.0"
    assert sim["apple_ats_ios15_4"]["ok"] is True  # ECDHE AES-CBC-SHA is in the ATS group
    found = rules(result)
    assert not {"ats_cipher_missing", "no_forward_secrecy", "old_android_cipher_gap",
                "legacy_tls_missing"} & set(found)  # fmt: skip
    assert found["client_handshake_fails"].severity == "warning"
    assert found["client_handshake_fails"].evidence["failing"] == 1
    assert result.verdicts == {"ios": "pass", "android": "pass", "android_legacy": "warn"}


# --------------------------------------------------------------------------- ECDSA P-256


def test_ecdsa_p256_server(scanned):
    result = scanned["ecdsa"]
    found = rules(result)
    assert found["ecdsa_only_cert"].evidence["key"] == "EC-secp256r1"
    assert "ats_cipher_missing" not in found
    assert "ecdhe_p256_missing" not in found
    sim = clients(result)
    assert sim["apple_ats_ios9"]["ok"] is True
    assert sim["apple_ats_ios9"]["cipher"].startswith("TLS_ECDHE_ECDSA_WITH_AES_128_")
    assert sim["android_4_0_4"]["ok"] is True
    assert sim["android_4_0_4"]["cipher"].startswith("TLS_ECDHE_ECDSA_WITH_AES_")
    assert sim["android_2_3_7"]["ok"] is False
    assert sim["android_2_3_7"]["reason"] == "no common cipher suite in TLSv1.0"
    assert sim["android_14"]["protocol"] == "TLSv1.3"


# --------------------------------------------------------------------------- 3DES


def test_server_accepting_3des(scanned):
    result = scanned["3des"]
    for version in ("TLSv1.0", "TLSv1.1", "TLSv1.2"):
        suites = result.facts.cipher_suites[version]
        assert suites[-1] == "TLS_RSA_WITH_3DES_EDE_CBC_SHA", (version, suites)
        assert "TLS_RSA_WITH_AES_128_CBC_SHA" in suites
    weak = rules(result)["weak_ciphers_enabled"]
    (listed,) = weak.evidence["suites"]
    assert listed.startswith("TLS_RSA_WITH_3DES_EDE_CBC_SHA (TLSv1.0, TLSv1.1, TLSv1.2): ")
    assert "Sweet32" in listed
    # Nobody is pushed onto 3DES: every client here has a better common suite first.
    assert all(e["cipher"] != "TLS_RSA_WITH_3DES_EDE_CBC_SHA" for e in result.simulation or [])


def test_modern_servers_have_no_weak_suites(scanned):
    for name in ("rsa_only", "ecdhe_sha", "ecdsa", "tls13_only"):
        assert "weak_ciphers_enabled" not in rules(scanned[name]), name


# --------------------------------------------------------------------------- the command line


def test_ats_line_names_the_newest_profile_and_older_failures(scanned):
    line = ats_line(scanned["tls13_only"].simulation or [])
    assert line is not None
    assert line.startswith(
        "Apple ATS (Apple ATS / iOS 15.4+): pass (TLSv1.3, TLS_AES_256_GCM_SHA384); "
        "older ATS fails: Apple ATS 9 / iOS 9: no common protocol"
    )
    assert ats_line([]) is None


def test_scan_clients_shows_suites_ats_verdict_and_table(run_cli, servers, sample_dir):
    port = servers["rsa_only"]
    proc = run_cli(
        "scan", f"{HOST}:{port}", "--resolve", f"{HOST}:{port}:127.0.0.1",
        "--ca-file", sample_dir / "ca.pem", "--timeout", "5", "--clients", timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = " ".join(proc.stdout.split())  # rich wraps long cells
    assert "TLSv1.2 (server order): TLS_RSA_WITH_AES_128_GCM_SHA256" in out
    assert "ats_cipher_missing" in out
    assert "Apple ATS (Apple ATS / iOS 15.4+): FAIL (no common cipher suite in TLSv1.2)" in out
    assert "client simulation: 8 of 37 clients fail" in out
    ats_rows = [line for line in proc.stdout.splitlines() if line.startswith("Apple ATS")]
    assert len(ats_rows) == 3 and all("FAIL" in r and "TLSv1.2" in r for r in ats_rows)
    assert "no common cipher" in out  # the reason column (wrapped)
    assert "from --ca-file" in out


def test_scan_without_clients_flag_has_no_table_but_json_has_the_simulation(
    run_cli, servers, sample_dir
):
    port = servers["ecdhe_sha"]
    base = ["scan", f"{HOST}:{port}", "--resolve", f"{HOST}:{port}:127.0.0.1",
            "--ca-file", sample_dir / "ca.pem", "--timeout", "5"]  # fmt: skip
    plain = run_cli(*base, timeout=60)
    assert "client simulation" not in plain.stdout
    proc = run_cli(*base, "--json", "-", timeout=60)
    (result,) = json.loads(proc.stdout)["results"]
    entry = next(e for e in result["simulation"] if e["client"] == "android_4_0_4")
    assert entry["ok"] is True
    assert entry["cipher"] == "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"
    assert entry["store"] == "android:15"
    assert entry["root_source"] == "ca-file"
