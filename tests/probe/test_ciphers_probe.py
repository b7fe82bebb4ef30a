"""Cipher suite, group, server-order, SSLv2, no-SNI and connection-limit probing.

Real OpenSSL servers (certcheck.localserver, 127.0.0.1 only) for what the local
OpenSSL can serve; a small scripted TLS server for what it cannot (RC4, 3DES,
export, SSLv2, SCTs in the ServerHello).  The scripted server speaks the real
wire format of the first server flight over a real loopback socket; the probe
cannot tell it from a legacy server because it never goes past that flight.
"""

from __future__ import annotations

import base64
import contextlib
import math
import os
import select
import socket
import ssl
import struct
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from loopback import serve_each
from paths import ROOT

from certcheck.core.tls import (
    CIPHER_NAMES,
    GROUPS,
    SUITES,
    SUITES_BY_CODE,
    SUITES_BY_NAME,
    TLS12_ONLY_SUITES,
    default_suites,
)
from certcheck.localserver import LoopbackServer, ServerSpec
from certcheck.model import Target
from certcheck.probe import probe_target
from certcheck.probe.budget import ConnectionBudget
from certcheck.probe.ciphers import enumerate_ciphers, enumerate_suites
from certcheck.probe.flight import probe_default_leaf
from certcheck.probe.sslv2 import SSLV2_CIPHERS, probe_sslv2

HOST = "good.example.test"
OTHER = "default.example.test"
TIMEOUT = 3.0
LOCAL = "127.0.0.1"

# --------------------------------------------------------------------------- certificates


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA(key_type=trustme.KeyType.RSA)


@pytest.fixture(scope="module")
def rsa_cert(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert(HOST, key_type=trustme.KeyType.RSA)


@pytest.fixture(scope="module")
def other_cert(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert(OTHER, key_type=trustme.KeyType.RSA)


@pytest.fixture(scope="module")
def ecdsa_cert() -> trustme.LeafCert:
    ecdsa = trustme.KeyType.ECDSA  # trustme's ECDSA keys are P-256
    return trustme.CA(key_type=ecdsa).issue_cert(HOST, key_type=ecdsa)


def leaf_der(cert: trustme.LeafCert) -> bytes:
    return x509.load_pem_x509_certificate(cert.cert_chain_pems[0].bytes()).public_bytes(
        Encoding.DER
    )


def spec(cert: trustme.LeafCert, **kw: str) -> ServerSpec:
    chain = b"".join(b.bytes() for b in cert.cert_chain_pems)
    return ServerSpec("test", chain, cert.private_key_pem.bytes(), **kw)


@contextlib.contextmanager
def tls_server(
    cert: trustme.LeafCert,
    configure: Callable[[ssl.SSLContext], None] | None = None,
    server_class: type[LoopbackServer] = LoopbackServer,
    **kw: str,
) -> Iterator[LoopbackServer]:
    """A real OpenSSL server on 127.0.0.1; ``configure`` may adjust its context first."""
    server = server_class(spec(cert, **kw))
    if configure:
        configure(server.ctx)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def enumerate_at(port: int, versions: list[str], **kw: object):
    return enumerate_ciphers((LOCAL, port), HOST, TIMEOUT, versions, **kw)


def openssl_can_serve(cipher: str) -> bool:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.set_ciphers(f"{cipher}:@SECLEVEL=0")
    except ssl.SSLError:
        return False
    return any(c["name"] == cipher for c in ctx.get_ciphers())


# --------------------------------------------------------------------------- suite table


def test_suite_table_covers_every_client_profile_suite() -> None:
    """Every suite and group a simulated client offers has an entry (rules/clients.toml)."""
    profiles = tomllib.loads((ROOT / "rules" / "clients.toml").read_text())
    clients = profiles["client"]
    assert len(clients) >= 30
    offered = {n for c in clients for n in c["cipher_suites"] + c["tls13_cipher_suites"]}
    assert offered - set(SUITES_BY_NAME) == set()
    groups = {g for c in clients for g in c["supported_groups"]}
    assert groups - set(GROUPS.values()) == set()
    assert len(default_suites("TLSv1.2")) <= 128  # some servers choke on more


def test_suite_properties() -> None:
    gcm = SUITES["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]
    assert (gcm.code, gcm.kex, gcm.auth, gcm.cipher, gcm.mac) == (
        0xC02F,
        "ECDHE",
        "RSA",
        "AESGCM",
        "AEAD",
    )
    assert gcm.tls12_only and gcm.forward_secret and gcm.weak_reason is None and not gcm.tls13
    rsa = SUITES["TLS_RSA_WITH_AES_128_CBC_SHA"]
    assert (rsa.kex, rsa.cipher, rsa.mac, rsa.forward_secret, rsa.tls12_only) == (
        "RSA", "AES-CBC", "SHA1", False, False,
    )  # fmt: skip
    assert SUITES["TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384"].tls12_only
    assert SUITES["TLS_AES_128_GCM_SHA256"].tls13
    assert SUITES["TLS_AES_128_GCM_SHA256"].kex == "any"
    assert SUITES["TLS_RSA_WITH_3DES_EDE_CBC_SHA"].cipher == "3DES"
    assert "Sweet32" in (SUITES["TLS_RSA_WITH_3DES_EDE_CBC_SHA"].weak_reason or "")
    assert SUITES["TLS_RSA_WITH_RC4_128_MD5"].cipher == "RC4"
    assert SUITES["TLS_RSA_EXPORT_WITH_RC4_40_MD5"].cipher == "EXPORT"
    assert SUITES["TLS_RSA_EXPORT_WITH_RC4_40_MD5"].bits == 40
    assert SUITES["TLS_RSA_WITH_DES_CBC_SHA"].cipher == "DES"
    assert SUITES["TLS_RSA_WITH_NULL_SHA"].cipher == "NULL"
    anon = SUITES["TLS_DH_anon_WITH_AES_128_CBC_SHA"]
    assert (anon.kex, anon.auth) == ("DHE", "anon") and anon.weak_reason
    assert SUITES["TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA"].kex == "ECDH"  # static: not FS
    assert not SUITES["TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA"].forward_secret
    assert SUITES["TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256_OLD"].code == 0xCC13
    # Every weak family is in the table and flagged; nothing else is.
    for info in SUITES_BY_CODE.values():
        weak = info.cipher in ("NULL", "EXPORT", "DES", "RC4", "3DES", "IDEA-CBC") or (
            info.auth == "anon"
        )
        assert (info.weak_reason is not None) == weak, info.name
    assert TLS12_ONLY_SUITES.isdisjoint(default_suites("TLSv1.0"))
    assert GROUPS[0x001D] == "x25519" and GROUPS[0x11EC] == "X25519MLKEM768"


# --------------------------------------------------------------------------- real OpenSSL servers


def test_two_ecdhe_gcm_suites_are_exactly_what_is_found(rsa_cert: trustme.LeafCert) -> None:
    ciphers = "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384"
    with tls_server(rsa_cert, ciphers=ciphers, max_version="TLSv1.2") as srv:
        scan = enumerate_at(srv.port, ["TLSv1.2"])
    assert scan.errors == {}
    # Python servers prefer their own order, so this is OpenSSL's cipher-string order.
    assert scan.cipher_suites == {
        "TLSv1.2": [
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        ]
    }
    assert scan.server_cipher_order == {"TLSv1.2": True}


def _client_order(ctx: ssl.SSLContext) -> None:
    ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE


@pytest.mark.parametrize("enforced", [True, False], ids=["server-order", "client-order"])
def test_server_cipher_order(rsa_cert: trustme.LeafCert, enforced: bool) -> None:
    # The server's order (256 first) is the reverse of the probe's offer (128 first).
    ciphers = "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA"
    configure = None if enforced else _client_order
    with tls_server(rsa_cert, configure, ciphers=ciphers, max_version="TLSv1.2") as srv:
        scan = enumerate_at(srv.port, ["TLSv1.2"])
    assert scan.server_cipher_order == {"TLSv1.2": enforced}
    found = scan.cipher_suites["TLSv1.2"]
    assert set(found) == {
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    }
    if enforced:  # reported in the server's preference order
        assert found[0] == "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
    else:  # the server follows whatever we offer first
        assert found[0] == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"


def test_non_forward_secret_rsa_only_server(rsa_cert: trustme.LeafCert) -> None:
    with tls_server(rsa_cert, ciphers="AES128-SHA", max_version="TLSv1.2") as srv:
        scan = enumerate_at(srv.port, ["TLSv1.2"])
    assert scan.cipher_suites == {"TLSv1.2": ["TLS_RSA_WITH_AES_128_CBC_SHA"]}
    assert scan.groups == {"TLSv1.2": []}  # no ECDHE suite, so no ECDHE group
    assert scan.server_cipher_order == {"TLSv1.2": None}  # one suite: order is moot
    assert not SUITES["TLS_RSA_WITH_AES_128_CBC_SHA"].forward_secret


def test_3des_server_if_local_openssl_can_serve_it(rsa_cert: trustme.LeafCert) -> None:
    """3DES from a real OpenSSL server where the build still has it, else from OpenSSL's list.

    This machine's OpenSSL (3.0, built without DES) cannot serve DES-CBC3-SHA; the
    wire-level 3DES/RC4/export detection is covered by the scripted server below.
    """
    if not openssl_can_serve("DES-CBC3-SHA"):
        # Nothing real to scan: at least the server must refuse the suite we would offer.
        with tls_server(rsa_cert, max_version="TLSv1.2") as srv:
            found, error = enumerate_suites((LOCAL, srv.port), "TLSv1.2", HOST, TIMEOUT)
        assert error is None
        assert "TLS_RSA_WITH_3DES_EDE_CBC_SHA" not in [CIPHER_NAMES[c] for c in found]
        return
    ciphers = "DES-CBC3-SHA:AES128-SHA:@SECLEVEL=0"
    with tls_server(rsa_cert, ciphers=ciphers, max_version="TLSv1.2") as srv:
        scan = enumerate_at(srv.port, ["TLSv1.2"])
    assert set(scan.cipher_suites["TLSv1.2"]) == {
        "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
        "TLS_RSA_WITH_AES_128_CBC_SHA",
    }


def test_null_and_anonymous_suites_are_detected(rsa_cert: trustme.LeafCert) -> None:
    ciphers = "NULL-SHA:AECDH-AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0"
    with tls_server(rsa_cert, ciphers=ciphers, max_version="TLSv1.2") as srv:
        scan = enumerate_at(srv.port, ["TLSv1.2"])
    assert set(scan.cipher_suites["TLSv1.2"]) == {
        "TLS_RSA_WITH_NULL_SHA",
        "TLS_ECDH_anon_WITH_AES_128_CBC_SHA",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    }
    weak = {n for n in scan.cipher_suites["TLSv1.2"] if SUITES[n].weak_reason}
    assert weak == {"TLS_RSA_WITH_NULL_SHA", "TLS_ECDH_anon_WITH_AES_128_CBC_SHA"}


def test_tls10_only_server_full_probe(rsa_cert: trustme.LeafCert) -> None:
    ciphers = "ECDHE-RSA-AES128-SHA:@SECLEVEL=0"
    with tls_server(rsa_cert, ciphers=ciphers, min_version="TLSv1.0", max_version="TLSv1.0") as srv:
        facts = probe_target(Target(HOST, srv.port, connect_addr=LOCAL), timeout=TIMEOUT)
    assert facts.protocols == {
        "SSLv3": False, "TLSv1.0": True, "TLSv1.1": False, "TLSv1.2": False, "TLSv1.3": False,
    }  # fmt: skip
    assert facts.cipher_suites == {"TLSv1.0": ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"]}
    # TLS 1.0 accepts an ECDHE suite, so its groups are enumerated too (OpenSSL's defaults).
    assert facts.groups == {
        "TLSv1.0": ["x25519", "secp256r1", "x448", "secp521r1", "secp384r1"]
    }
    assert facts.dh_params == {}  # no DHE suite
    assert facts.sslv2 is False
    assert facts.no_sni_leaf == base64.b64encode(leaf_der(rsa_cert)).decode()
    # handshake + 5 version hellos + SSLv2 + no-SNI + one refused TLS 1.0 offer (the
    # version hello's pick is reused; one suite needs no order check) + 5 group picks
    # and the refusal that ends them.
    assert facts.connections == 15


def test_ecdsa_p256_server(ecdsa_cert: trustme.LeafCert) -> None:
    with tls_server(ecdsa_cert, max_version="TLSv1.2") as srv:
        scan = enumerate_at(srv.port, ["TLSv1.2"])
    found = scan.cipher_suites["TLSv1.2"]
    assert "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" in found
    assert "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" in found
    # An ECDSA key can only authenticate ECDSA suites (or none at all).
    assert {SUITES[n].auth for n in found} <= {"ECDSA", "anon"}
    assert "secp256r1" in scan.groups["TLSv1.2"]


def _p256_only(ctx: ssl.SSLContext) -> None:
    ctx.set_ecdh_curve("prime256v1")  # OpenSSL 3: the only group, for 1.2 and 1.3


def test_groups_of_a_p256_only_server(rsa_cert: trustme.LeafCert) -> None:
    with tls_server(rsa_cert, _p256_only) as srv:
        scan = enumerate_at(srv.port, ["TLSv1.2", "TLSv1.3"])
    assert scan.errors == {}
    assert scan.groups == {"TLSv1.2": ["secp256r1"], "TLSv1.3": ["secp256r1"]}
    assert set(scan.cipher_suites["TLSv1.3"]) == {
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
    }


def test_default_server_groups_and_full_facts(rsa_cert: trustme.LeafCert) -> None:
    with tls_server(rsa_cert) as srv:
        facts = probe_target(Target(HOST, srv.port, connect_addr=LOCAL), timeout=TIMEOUT)
    assert facts.ok, facts.error
    assert set(facts.cipher_suites) == {"TLSv1.2", "TLSv1.3"}
    assert {"x25519", "secp256r1", "secp384r1"} <= set(facts.groups["TLSv1.3"])
    assert {"x25519", "secp256r1", "secp384r1"} <= set(facts.groups["TLSv1.2"])
    assert facts.server_cipher_order == {"TLSv1.2": True, "TLSv1.3": True}
    assert facts.negotiated_cipher in facts.cipher_suites["TLSv1.3"]
    assert facts.sslv2 is False
    assert facts.tls_scts == []
    # Every version enumeration is complete: nothing was noted as missing.
    assert not [k for k in facts.protocol_errors if "ciphers" in k or "groups" in k]
    # Facts survive JSON.
    assert type(facts).from_dict(facts.to_dict()).cipher_suites == facts.cipher_suites


def test_ipv6_loopback_full_probe(rsa_cert: trustme.LeafCert) -> None:
    server = LoopbackServer(spec(rsa_cert), host="::1").start()
    try:
        facts = probe_target(Target("::1", server.port), timeout=TIMEOUT)
    finally:
        server.stop()
    assert facts.ok, facts.error
    assert set(facts.cipher_suites) == {"TLSv1.2", "TLSv1.3"}
    assert facts.groups["TLSv1.3"]
    # An IP target sends no SNI at all, so both ways give the same leaf.
    assert facts.no_sni_leaf == facts.chain[0]


# --------------------------------------------------------------------------- no-SNI leaf


def test_no_sni_leaf_is_the_default_vhost(
    rsa_cert: trustme.LeafCert, other_cert: trustme.LeafCert
) -> None:
    sni_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sni_ctx.set_ciphers("ALL:@SECLEVEL=0")
    rsa_cert.configure_cert(sni_ctx)

    def switch(ctx: ssl.SSLContext) -> None:
        def callback(sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
            if name == HOST:
                sock.context = sni_ctx

        ctx.sni_callback = callback

    with tls_server(other_cert, switch) as srv:  # default vhost: OTHER's certificate
        facts = probe_target(Target(HOST, srv.port, connect_addr=LOCAL), timeout=TIMEOUT)
        leaf, detail = probe_default_leaf((LOCAL, srv.port), "TLSv1.2", TIMEOUT)
    assert facts.ok, facts.error
    assert base64.b64decode(facts.chain[0]) == leaf_der(rsa_cert)  # SNI vhost
    assert facts.no_sni_leaf is not None
    assert base64.b64decode(facts.no_sni_leaf) == leaf_der(other_cert)  # default vhost
    assert (leaf, detail) == (facts.no_sni_leaf, "ok")


def test_no_sni_leaf_absent_for_tls13_only(rsa_cert: trustme.LeafCert) -> None:
    with tls_server(rsa_cert, min_version="TLSv1.3") as srv:
        facts = probe_target(Target(HOST, srv.port, connect_addr=LOCAL), timeout=TIMEOUT)
    assert facts.ok and facts.chain
    assert facts.no_sni_leaf is None  # the TLS 1.3 Certificate is encrypted
    assert list(facts.cipher_suites) == ["TLSv1.3"]


# --------------------------------------------------------------------------- connection limit


class CountingProxy:
    """A TCP relay to ``upstream`` that records a span for each client connection.

    The span runs from accept until the proxy is about to pass on the server's
    first bytes (or a side hangs up first).  It lies inside the time the probe
    held that connection, so overlapping spans never overstate how many
    connections the probe had open at once.
    """

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.listener = socket.create_server((LOCAL, 0))
        self.listener.settimeout(0.05)
        self.port: int = self.listener.getsockname()[1]
        self.spans: list[list[float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    @property
    def total(self) -> int:
        return len(self.spans)

    def peak(self) -> int:
        """Most spans that overlap at one instant."""
        events = [(t, d) for start, end in self.spans for t, d in ((start, 1), (end, -1))]
        live = best = 0
        for _, delta in sorted(events):  # at equal times, ends (-1) come first
            live += delta
            best = max(best, live)
        return best

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                continue
            span = [time.monotonic(), math.inf]
            self.spans.append(span)
            threading.Thread(target=self._relay, args=(client, span), daemon=True).start()

    def _relay(self, client: socket.socket, span: list[float]) -> None:
        with client, socket.create_connection((LOCAL, self.upstream)) as upstream:
            peer = {client: upstream, upstream: client}
            while not self._stop.is_set():
                ready, _, _ = select.select([client, upstream], [], [], 0.1)
                for sock in ready:
                    try:
                        data = sock.recv(65536)
                    except OSError:
                        data = b""
                    if sock is upstream and span[1] == math.inf:
                        span[1] = time.monotonic()  # before the client can see it
                    if not data:
                        return
                    with contextlib.suppress(OSError):
                        peer[sock].sendall(data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.listener.close()


class SlowServer(LoopbackServer):
    """Takes 50 ms before each handshake, so unthrottled probes overlap for that long."""

    def _handle(self, conn: socket.socket) -> None:
        time.sleep(0.05)
        super()._handle(conn)


@pytest.mark.parametrize("limit", [2, 5])
def test_connection_limit_is_honoured(rsa_cert: trustme.LeafCert, limit: int) -> None:
    with tls_server(rsa_cert, server_class=SlowServer, min_version="TLSv1.0") as srv:
        proxy = CountingProxy(srv.port)
        try:
            facts = probe_target(
                Target(HOST, proxy.port, connect_addr=LOCAL), timeout=5, max_connections=limit
            )
        finally:
            proxy.close()
    assert facts.ok, facts.error
    assert set(facts.cipher_suites) == {"TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"}
    # Six probes start together and each waits >= 50 ms for its answer.
    assert proxy.peak() <= limit
    assert proxy.peak() >= 2
    if limit == 2:
        assert proxy.peak() == 2
    assert facts.connections == proxy.total


def test_budget_rejects_a_zero_limit() -> None:
    with pytest.raises(ValueError):
        ConnectionBudget(0)


# --------------------------------------------------------------------------- scripted legacy server


def parse_client_hello(data: bytes) -> tuple[int, list[int], dict[int, bytes]] | None:
    """(legacy_version, suites, extensions) of a complete ClientHello record, else None."""
    if len(data) < 5 or len(data) < 5 + struct.unpack_from("!H", data, 3)[0]:
        return None
    body = data[9 : 5 + struct.unpack_from("!H", data, 3)[0]]
    version = struct.unpack_from("!H", body, 0)[0]
    pos = 35 + body[34]
    n = struct.unpack_from("!H", body, pos)[0]
    suites = [struct.unpack_from("!H", body, pos + 2 + i)[0] for i in range(0, n, 2)]
    pos += 2 + n
    pos += 1 + body[pos]
    exts: dict[int, bytes] = {}
    if pos + 2 <= len(body):
        end = pos + 2 + struct.unpack_from("!H", body, pos)[0]
        pos += 2
        while pos + 4 <= end:
            etype, size = struct.unpack_from("!HH", body, pos)
            exts[etype] = body[pos + 4 : pos + 4 + size]
            pos += 4 + size
    return version, suites, exts


def record(ctype: int, payload: bytes, version: int = 0x0303) -> bytes:
    return struct.pack("!BHH", ctype, version, len(payload)) + payload


def handshake_msg(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


@dataclass
class LegacyServer:
    """What the scripted server accepts: versions, suites in its order, curves, SCTs."""

    versions: tuple[int, ...]
    suites: list[int]
    groups: list[int] = field(default_factory=lambda: [0x0017])
    cert: bytes = b"\x30\x03\x02\x01\x00"
    scts: list[bytes] = field(default_factory=list)

    def answer(self, hello: bytes) -> bytes:
        parsed = parse_client_hello(hello)
        if parsed is None:
            return b""
        legacy, offered, exts = parsed
        version = max((v for v in self.versions if v <= legacy), default=None)
        if version is None:
            return record(21, b"\x02\x46")  # protocol_version
        client_groups = exts.get(0x000A, b"")[2:]
        groups = [
            struct.unpack_from("!H", client_groups, i)[0] for i in range(0, len(client_groups), 2)
        ]
        common = [g for g in self.groups if g in groups]
        usable = [
            s for s in self.suites
            if s in offered and (SUITES_BY_CODE[s].kex != "ECDHE" or common)
            and (version >= 0x0303 or not SUITES_BY_CODE[s].tls12_only)
        ]  # fmt: skip
        if not usable:
            return record(21, b"\x02\x28", version)  # handshake_failure
        suite = usable[0]
        sh_exts = struct.pack("!HHB", 0xFF01, 1, 0)
        if 0x0012 in exts and self.scts:
            sct_list = b"".join(struct.pack("!H", len(s)) + s for s in self.scts)
            body = struct.pack("!H", len(sct_list)) + sct_list
            sh_exts += struct.pack("!HH", 0x0012, len(body)) + body
        sh = struct.pack("!H", version) + os.urandom(32) + b"\x00" + struct.pack("!HB", suite, 0)
        sh += struct.pack("!H", len(sh_exts)) + sh_exts
        certs = len(self.cert).to_bytes(3, "big") + self.cert
        flight = handshake_msg(2, sh) + handshake_msg(11, len(certs).to_bytes(3, "big") + certs)
        if SUITES_BY_CODE[suite].kex == "ECDHE":
            ske = struct.pack("!BHB", 3, common[0], 32) + os.urandom(32) + b"\x04\x01\x00\x02zz"
            flight += handshake_msg(12, ske)
        flight += handshake_msg(14, b"")
        return record(22, flight, version)


@contextlib.contextmanager
def scripted(handler: Callable[[bytes], bytes]) -> Iterator[int]:
    """A loopback TCP server answering each first client record with ``handler(data)``."""

    def run(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(3)
            data = b""
            while not data or (data[0] == 22 and parse_client_hello(data) is None):
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            reply = handler(data)
            if reply:
                conn.sendall(reply)
                while conn.recv(65536):  # wait for the client to hang up
                    pass

    with serve_each(run) as port:
        yield port


def tls_only(server: LegacyServer) -> Callable[[bytes], bytes]:
    return lambda data: server.answer(data) if data[0] == 22 else b""


WEAK = [0x0005, 0x000A, 0x0003, 0x0009, 0xC012, 0x0004]  # RC4, 3DES, export, DES, ...


def test_weak_suites_on_the_wire_rc4_3des_export() -> None:
    server = LegacyServer(versions=(0x0301, 0x0303), suites=[*WEAK, 0x002F])
    with scripted(tls_only(server)) as port:
        scan = enumerate_at(port, ["TLSv1.0", "TLSv1.2"])
    names = [CIPHER_NAMES[c] for c in [*WEAK, 0x002F]]
    assert scan.errors == {}
    assert scan.cipher_suites == {"TLSv1.0": names, "TLSv1.2": names}  # server order kept
    assert scan.server_cipher_order == {"TLSv1.0": True, "TLSv1.2": True}
    assert {SUITES[n].cipher for n in names} == {"RC4", "3DES", "EXPORT", "DES", "AES-CBC"}
    # From ServerKeyExchange; TLS 1.0 too, since TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA is accepted.
    assert scan.groups == {"TLSv1.0": ["secp256r1"], "TLSv1.2": ["secp256r1"]}


def test_sslv3_only_server_is_enumerated() -> None:
    server = LegacyServer(versions=(0x0300,), suites=[0x0004, 0x000A])
    with scripted(tls_only(server)) as port:
        facts = probe_target(Target(HOST, port, connect_addr=LOCAL), timeout=TIMEOUT)
    assert facts.protocols["SSLv3"] is True
    assert facts.protocols["TLSv1.2"] is False
    assert facts.cipher_suites == {
        "SSLv3": ["TLS_RSA_WITH_RC4_128_MD5", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"]
    }
    # The local OpenSSL cannot finish an SSLv3 handshake: the chain is read from the
    # raw (plaintext) SSLv3 handshake instead, so the target is still evaluated.
    assert facts.error is None
    assert facts.chain == [base64.b64encode(server.cert).decode()]
    assert facts.negotiated_protocol == "SSLv3"
    assert "raw SSLv3 handshake" in facts.protocol_errors["handshake"]
    assert facts.no_sni_leaf == base64.b64encode(server.cert).decode()


def test_rc4_only_server_is_evaluated_from_the_raw_chain(rsa_cert: trustme.LeafCert) -> None:
    from datetime import UTC, datetime

    from certcheck.evaluate import Policy, evaluate

    server = LegacyServer(versions=(0x0300, 0x0301), suites=[0x0005, 0x0004],
                          cert=leaf_der(rsa_cert))
    with scripted(tls_only(server)) as port:
        facts = probe_target(Target(HOST, port, connect_addr=LOCAL), timeout=TIMEOUT)
    assert facts.error is None and facts.negotiated_protocol == "TLSv1.0"
    result = evaluate(facts, Policy.build(), datetime.now(UTC))
    fired = {f.rule_id for f in result.findings}
    assert {"sslv3_enabled", "weak_ciphers_enabled", "tls12_missing"} <= fired


def test_tls12_groups_and_scts_from_the_server_hello() -> None:
    scts = [b"\x00" + os.urandom(40), b"\x00" + os.urandom(50)]
    server = LegacyServer(
        versions=(0x0303,), suites=[0xC02F, 0x009C], groups=[0x0018, 0x0017, 0x001D], scts=scts
    )
    with scripted(tls_only(server)) as port:
        facts = probe_target(Target(HOST, port, connect_addr=LOCAL), timeout=TIMEOUT)
    assert facts.cipher_suites == {
        "TLSv1.2": ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_128_GCM_SHA256"]
    }
    assert facts.groups == {"TLSv1.2": ["secp384r1", "secp256r1", "x25519"]}
    assert facts.tls_scts == [base64.b64encode(s).decode() for s in scts]


def test_server_picking_an_unoffered_suite_leaves_the_version_out() -> None:
    def stubborn(data: bytes) -> bytes:
        if data[0] != 22:
            return b""
        sh = struct.pack("!H", 0x0303) + os.urandom(32) + b"\x00" + struct.pack("!HB", 0x002F, 0)
        # Always AES128-SHA, even when only ECDHE is offered; no ServerKeyExchange.
        return record(22, handshake_msg(2, sh + b"\x00\x00") + handshake_msg(14, b""))

    with scripted(stubborn) as port:
        scan = enumerate_at(port, ["TLSv1.2"])
    assert scan.cipher_suites == {} and scan.groups == {}  # never reported as complete
    assert "not offered" in scan.errors["TLSv1.2 ciphers"]
    assert scan.errors["TLSv1.2 groups"] == (
        "no ServerKeyExchange (suite TLS_RSA_WITH_AES_128_CBC_SHA)"
    )


def tls13_needs_x25519_share(data: bytes) -> bytes:
    """A TLS 1.3-only server that refuses an empty key_share (answers only an x25519 share)."""
    parsed = parse_client_hello(data) if data[0] == 22 else None
    if parsed is None:
        return b""
    _, offered, exts = parsed
    if b"\x03\x04" not in exts.get(0x002B, b"")[1:]:
        return record(21, b"\x02\x46")  # protocol_version: no TLS <= 1.2 here
    shares = exts.get(0x0033, b"")
    if 0x1301 not in offered or shares[2:4] != b"\x00\x1d":
        return record(21, b"\x02\x28")  # handshake_failure, where an HRR was due
    body = data[9:]  # ServerHello echoes the legacy_session_id (RFC 8446 4.1.3)
    session = body[35 : 35 + body[34]]
    sh_exts = struct.pack("!HHH", 0x002B, 2, 0x0304)
    sh_exts += struct.pack("!HHHH", 0x0033, 36, 0x001D, 32) + os.urandom(32)
    sh = struct.pack("!H", 0x0303) + os.urandom(32) + bytes([len(session)]) + session
    sh += struct.pack("!HB", 0x1301, 0) + struct.pack("!H", len(sh_exts)) + sh_exts
    return record(22, handshake_msg(2, sh))


def test_tls13_group_found_without_hello_retry() -> None:
    with scripted(tls13_needs_x25519_share) as port:
        scan = enumerate_at(port, ["TLSv1.3"])
    assert scan.errors == {}
    assert scan.cipher_suites == {"TLSv1.3": ["TLS_AES_128_GCM_SHA256"]}
    assert scan.groups == {"TLSv1.3": ["x25519"]}


def test_tls13_group_refusals_are_not_an_empty_list() -> None:
    def refuse_groups(data: bytes) -> bytes:
        parsed = parse_client_hello(data) if data[0] == 22 else None
        if parsed is None:
            return b""
        return record(21, b"\x02\x28")  # no share we can make is ever good enough

    with scripted(refuse_groups) as port:
        scan = enumerate_at(port, ["TLSv1.3"])
    # A version said to be accepted with no suite and no group is a contradiction,
    # reported as such rather than as empty lists.
    assert scan.cipher_suites == {} and scan.groups == {}
    assert scan.errors == {
        "TLSv1.3 ciphers": "the server refused every suite offer",
        "TLSv1.3 groups": "the server refused every group offer",
    }


# --------------------------------------------------------------------------- SSLv2


def sslv2_server_hello(ciphers: list[int]) -> bytes:
    cert = b"\x30\x03\x02\x01\x00"
    specs = b"".join(c.to_bytes(3, "big") for c in ciphers)
    conn_id = os.urandom(16)
    msg = struct.pack("!BBBHHHH", 4, 0, 1, 0x0002, len(cert), len(specs), len(conn_id))
    msg += cert + specs + conn_id
    return struct.pack("!H", 0x8000 | len(msg)) + msg


def test_sslv2_server_is_recognised() -> None:
    def speaks_sslv2(data: bytes) -> bytes:
        # Our CLIENT-HELLO: 2-byte header with the high bit, message type 1, version 2.
        if data[0] & 0x80 and data[2] == 1 and data[3:5] == b"\x00\x02":
            return sslv2_server_hello([0x0700C0, 0x010080])
        return b""

    with scripted(speaks_sslv2) as port:
        answer = probe_sslv2((LOCAL, port), TIMEOUT)
    assert answer.accepted is True
    assert answer.ciphers == [0x0700C0, 0x010080]
    assert all(c in SSLV2_CIPHERS for c in answer.ciphers)


def test_modern_server_refuses_sslv2(rsa_cert: trustme.LeafCert) -> None:
    with tls_server(rsa_cert) as srv:
        answer = probe_sslv2((LOCAL, srv.port), TIMEOUT)
    assert answer.accepted is False


def test_sslv2_silence_is_unknown() -> None:
    with socket.create_server((LOCAL, 0)) as silent:  # listens, never answers
        start = time.monotonic()
        answer = probe_sslv2((LOCAL, silent.getsockname()[1]), 0.5)
        assert time.monotonic() - start < 3  # the timeout was honoured
    assert answer.accepted is None
