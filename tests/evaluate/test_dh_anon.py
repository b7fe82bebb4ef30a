"""Finite-field DHE parameters and anonymous/NULL suites: probe facts, rules, simulation.

Real OpenSSL servers on 127.0.0.1 for what this machine's OpenSSL (3.0) serves:
DHE with 1024-bit, ffdhe2048 and ffdhe3072 primes, ADH and NULL suites.  It
refuses to load DH primes below 1024 bits even at @SECLEVEL=0 ("dh key too
small"), so the 512-bit, composite and bad-generator cases come from a scripted
server on a real loopback socket that answers the probe's ClientHello with a
ServerHello / Certificate / ServerKeyExchange / ServerHelloDone flight built here.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import os
import socket
import ssl
import struct
import subprocess
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dh
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    ParameterFormat,
    load_pem_parameters,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from loopback import serve_each

from certcheck.catalog import load_catalog, load_profiles
from certcheck.core.tls import named_dh_prime, named_dh_primes
from certcheck.evaluate import Policy, evaluate
from certcheck.evaluate.rules.kex import dh_problems, kex_findings, probably_prime
from certcheck.evaluate.simulation import simulate
from certcheck.evaluate.trust import TrustStore
from certcheck.localserver import LoopbackServer, ServerSpec
from certcheck.model import ServerFacts, Target
from certcheck.platforms import client_profiles
from certcheck.probe import probe_target
from certcheck.probe.flight import ske_dh_params
from certcheck.report import schema
from certcheck.report.html import render_html
from certcheck.report.jsondoc import results_document

HOST = "dh.example.test"
LOCAL = "127.0.0.1"
TIMEOUT = 3.0
RSA = trustme.KeyType.RSA
NAMES = {name: p for p, name in named_dh_primes().items()}
TOO_LARGE_FOR_1024 = "DH prime too large: 2048 bits, client accepts <= 1024"


# --------------------------------------------------------------------------- material


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA(key_type=RSA)


@pytest.fixture(scope="module")
def cert(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert(HOST, key_type=RSA)


def leaf_der(cert: trustme.LeafCert) -> bytes:
    pem = cert.cert_chain_pems[0].bytes()
    return x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)


def dh_pem(p: int, g: int = 2) -> bytes:
    with warnings.catch_warnings():  # cryptography deprecates FFDH; serving it is the point
        warnings.simplefilter("ignore")
        params = dh.DHParameterNumbers(p, g).parameters()
        return params.parameter_bytes(Encoding.PEM, ParameterFormat.PKCS3)


def generated_prime(bits: int) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dh.generate_parameters(2, bits).parameter_numbers().p


@pytest.fixture(scope="module")
def prime_1024() -> int:
    """A fresh 1024-bit safe prime: no well-known name."""
    return generated_prime(1024)


@contextlib.contextmanager
def dhe_server(
    cert: trustme.LeafCert,
    tmp_path: Path,
    ciphers: str,
    p: int | None = None,
    max_version: str = "TLSv1.2",
) -> Iterator[LoopbackServer]:
    chain = b"".join(b.bytes() for b in cert.cert_chain_pems)
    server = LoopbackServer(
        ServerSpec("dh", chain, cert.private_key_pem.bytes(), ciphers=ciphers,
                   max_version=max_version)
    )  # fmt: skip
    if p is not None:
        path = tmp_path / f"dh{p.bit_length()}.pem"
        path.write_bytes(dh_pem(p))
        server.ctx.load_dh_params(str(path))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def scan(port: int) -> ServerFacts:
    return probe_target(Target(HOST, port, connect_addr=LOCAL), timeout=TIMEOUT)


def policy(ca: trustme.CA) -> Policy:
    return Policy.build(ca_pem=ca.cert_pem.bytes())


def fired(facts: ServerFacts, ca: trustme.CA) -> dict[str, object]:
    result = evaluate(facts, policy(ca), datetime.now(UTC))
    return {f.rule_id: f for f in result.findings}


# --------------------------------------------------------------------------- named primes


@pytest.mark.parametrize(
    ("ours", "openssl"),
    [(f"ffdhe{n}", f"ffdhe{n}") for n in (2048, 3072, 4096, 6144, 8192)]
    + [(f"modp{n}", f"modp_{n}") for n in (1536, 2048, 3072, 4096, 6144, 8192)],
)
def test_named_primes_are_the_ones_openssl_knows(ours: str, openssl: str) -> None:
    out = subprocess.run(
        ["openssl", "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", f"group:{openssl}"],
        capture_output=True, check=True, timeout=30,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        numbers = load_pem_parameters(out.stdout).parameter_numbers()
    assert numbers.g == 2
    assert NAMES[ours] == numbers.p
    assert named_dh_prime(numbers.p) == ours


@pytest.mark.parametrize("name", ["modp768", "modp1024", "modp1536", "ffdhe2048"])
def test_rfc2409_and_small_named_primes_are_safe_primes(name: str) -> None:
    """OpenSSL has no group name for RFC 2409's primes: a wrong constant would not be safe."""
    p = NAMES[name]
    assert p.bit_length() == int(name.removeprefix("modp").removeprefix("ffdhe"))
    assert probably_prime(p) and probably_prime((p - 1) // 2)
    assert p % (1 << 64) == (1 << 64) - 1  # both formulas end in 64 one bits


def test_miller_rabin_agrees_with_trial_division() -> None:
    def by_division(n: int) -> bool:
        return n >= 2 and all(n % d for d in range(2, int(n**0.5) + 1))

    assert [n for n in range(6000) if probably_prime(n)] == [
        n for n in range(6000) if by_division(n)
    ]
    # Strong pseudoprimes to several fixed bases, and Carmichael numbers.
    for composite in (3215031751, 2152302898747, 3474749660383, 561, 41041, 825265):
        assert not probably_prime(composite)
    assert probably_prime(2**521 - 1) and not probably_prime(2**523 - 1)


# --------------------------------------------------------------------------- real DHE servers


def test_1024_bit_dhe_is_recorded_and_warned(
    ca: trustme.CA, cert: trustme.LeafCert, tmp_path: Path, prime_1024: int
) -> None:
    ciphers = "DHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0"
    with dhe_server(cert, tmp_path, ciphers, prime_1024) as srv:
        facts = scan(srv.port)
    assert facts.ok, facts.error
    assert facts.dh_params == {
        "TLSv1.2": {
            "bits": 1024,
            "named": None,
            "g": 2,
            "p": f"{prime_1024:x}",
            "suite": "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
        }
    }
    # Facts survive JSON.
    assert ServerFacts.from_dict(facts.to_dict()).dh_params == facts.dh_params
    findings = fired(facts, ca)
    weak = findings["dh_params_weak"]
    assert weak.severity == "warning" and weak.breaks == []
    assert weak.evidence["versions"]["TLSv1.2"]["bits"] == 1024
    assert "anon_or_null_suites" not in findings
    # The JSON document with the new fact validates; the HTML report shows the zh title.
    now = datetime.now(UTC)
    result = evaluate(facts, policy(ca), now)
    document = results_document([result], now=now, profile="wechat", fail_on="error",
                                exit_code=1)  # fmt: skip
    assert schema.validation_errors(document) == []
    assert "服务器的 DHE 参数强度不足" in render_html(document, "zh")


def test_ffdhe2048_is_named_and_silent(
    ca: trustme.CA, cert: trustme.LeafCert, tmp_path: Path
) -> None:
    ciphers = "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-SHA:@SECLEVEL=0"
    with dhe_server(cert, tmp_path, ciphers, NAMES["ffdhe2048"]) as srv:
        facts = scan(srv.port)
    params = facts.dh_params["TLSv1.2"]
    assert (params["bits"], params["named"], params["g"]) == (2048, "ffdhe2048", 2)
    assert "dh_params_weak" not in fired(facts, ca)


def _java8(**changes: int) -> object:
    profile = next(p for p in client_profiles() if p.id == "java_8u161")
    return dataclasses.replace(profile, **changes)


@pytest.mark.parametrize(
    ("prime", "client", "fails"),
    [
        ("ffdhe2048", {"max_dh_bits": 1024}, TOO_LARGE_FOR_1024),
        ("ffdhe3072", {}, "DH prime too large: 3072 bits, client accepts <= 2048"),
        ("ffdhe2048", {}, None),  # java_8u161's own 2048-bit cap: 2048 is fine
        ("ffdhe2048", {"min_dh_bits": 3072}, "DH prime too small: 2048 bits, client needs >= 3072"),
    ],
    ids=["cap-1024", "java8-cap-2048", "java8-at-cap", "min-3072"],
)
def test_simulated_client_outside_its_dh_range_fails(
    ca: trustme.CA,
    cert: trustme.LeafCert,
    tmp_path: Path,
    prime: str,
    client: dict[str, int],
    fails: str | None,
) -> None:
    ciphers = "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-SHA:@SECLEVEL=0"
    with dhe_server(cert, tmp_path, ciphers, NAMES[prime]) as srv:
        facts = scan(srv.port)
    trust = TrustStore.load(ca.cert_pem.bytes())
    (result,) = simulate(facts, trust, datetime.now(UTC), (_java8(**client),))
    assert result.negotiation.status == "ok"
    assert result.negotiation.cipher.startswith("TLS_DHE_RSA_")
    if fails is None:
        assert "DH prime" not in (result.reason or "")
    else:
        assert result.ok is False and result.reason == fails


# --------------------------------------------------------------------------- anonymous / NULL


def test_anonymous_preferred_server_still_gives_its_chain(
    ca: trustme.CA, cert: trustme.LeafCert, tmp_path: Path
) -> None:
    """The server prefers ADH, then NULL: the chain is read with an authenticated suite."""
    ciphers = "ADH-AES128-SHA:NULL-SHA:AES128-SHA:@SECLEVEL=0"
    with dhe_server(cert, tmp_path, ciphers, NAMES["ffdhe2048"]) as srv:
        facts = scan(srv.port)
    assert facts.ok, facts.error
    assert facts.chain and facts.chain[0] == base64.b64encode(leaf_der(cert)).decode()
    assert facts.no_sni_leaf == facts.chain[0]
    assert facts.negotiated_cipher == "AES128-SHA"  # OpenSSL's name for the RSA suite
    suites = facts.cipher_suites["TLSv1.2"]
    assert "TLS_DH_anon_WITH_AES_128_CBC_SHA" in suites and "TLS_RSA_WITH_NULL_SHA" in suites
    findings = fired(facts, ca)
    anon = findings["anon_or_null_suites"]
    assert anon.severity == "error" and anon.breaks == [] and anon.platforms == ["all"]
    assert set(anon.evidence["suites"]["TLSv1.2"]) == {
        "TLS_DH_anon_WITH_AES_128_CBC_SHA",
        "TLS_RSA_WITH_NULL_SHA",
    }
    # The certificate was read, so nothing says it could not be.
    assert all("no certificate could be read" not in str(f.evidence) for f in findings.values())


def test_anonymous_only_server_is_evaluated_not_an_error(
    ca: trustme.CA, cert: trustme.LeafCert, tmp_path: Path
) -> None:
    with dhe_server(cert, tmp_path, "ADH-AES128-SHA:@SECLEVEL=0", NAMES["ffdhe2048"]) as srv:
        facts = scan(srv.port)
    assert facts.error is None
    assert facts.chain == []
    assert "only anonymous" in facts.protocol_errors["handshake"]
    assert facts.dh_params["TLSv1.2"]["suite"] == "TLS_DH_anon_WITH_AES_128_CBC_SHA"
    assert "anon_or_null_suites" in fired(facts, ca)


def test_authenticated_only_server_fires_no_anon_rule(
    ca: trustme.CA, cert: trustme.LeafCert, tmp_path: Path
) -> None:
    with dhe_server(cert, tmp_path, "AES128-SHA:ECDHE-RSA-AES128-SHA:@SECLEVEL=0") as srv:
        facts = scan(srv.port)
    assert facts.dh_params == {}
    findings = fired(facts, ca)
    assert "anon_or_null_suites" not in findings and "dh_params_weak" not in findings


# --------------------------------------------------------------------------- scripted server


def _client_hello(data: bytes) -> tuple[int, list[int]] | None:
    """(legacy_version, suites) of a complete ClientHello record, else None."""
    if len(data) < 5 or len(data) < 5 + struct.unpack_from("!H", data, 3)[0]:
        return None
    body = data[9:]
    pos = 35 + body[34]
    n = struct.unpack_from("!H", body, pos)[0]
    return struct.unpack_from("!H", body, 0)[0], [
        struct.unpack_from("!H", body, pos + 2 + i)[0] for i in range(0, n, 2)
    ]


def _record(ctype: int, payload: bytes) -> bytes:
    return struct.pack("!BHH", ctype, 0x0303, len(payload)) + payload


def _message(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def _int(value: int) -> bytes:
    raw = value.to_bytes(max((value.bit_length() + 7) // 8, 1), "big")
    return struct.pack("!H", len(raw)) + raw


def dhe_flight(cert_der: bytes, p: int, g: int) -> Callable[[bytes], bytes]:
    """A TLS 1.2-only server taking TLS_DHE_RSA_WITH_AES_128_GCM_SHA256 / _AES_128_CBC_SHA."""
    accepted = [0x009E, 0x0033]

    def answer(data: bytes) -> bytes:
        parsed = _client_hello(data) if data[:1] == b"\x16" else None
        if parsed is None:
            return b""
        legacy, offered = parsed
        if legacy < 0x0303:
            return _record(21, b"\x02\x46")  # protocol_version
        suite = next((s for s in accepted if s in offered), None)
        if suite is None:
            return _record(21, b"\x02\x28")  # handshake_failure
        hello = struct.pack("!H", 0x0303) + os.urandom(32) + b"\x00" + struct.pack("!HB", suite, 0)
        hello += struct.pack("!HHHB", 5, 0xFF01, 1, 0)
        certs = len(cert_der).to_bytes(3, "big") + cert_der
        ske = _int(p) + _int(g) + _int(pow(g, 12345, p) if p > 2 else 1)
        ske += struct.pack("!HH", 0x0401, 256) + os.urandom(256)  # not a valid signature
        flight = _message(2, hello) + _message(11, len(certs).to_bytes(3, "big") + certs)
        return _record(22, flight + _message(12, ske) + _message(14, b""))

    return answer


@contextlib.contextmanager
def scripted(handler: Callable[[bytes], bytes]) -> Iterator[int]:
    """A loopback TCP server answering each first client record with ``handler(data)``."""

    def run(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(3)
            data = b""
            while not data or (data[0] == 22 and _client_hello(data) is None):
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            reply = handler(data)
            if reply:
                conn.sendall(reply)
                while conn.recv(65536):  # until the client hangs up
                    pass

    with serve_each(run) as port:
        yield port


@pytest.fixture(scope="module")
def prime_512() -> int:
    return generated_prime(512)


def test_local_openssl_refuses_to_serve_a_512_bit_prime(tmp_path: Path, prime_512: int) -> None:
    """Why the small-prime cases below use the scripted server."""
    path = tmp_path / "dh512.pem"
    path.write_bytes(dh_pem(prime_512))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    with pytest.raises(ssl.SSLError, match="too small"):
        ctx.load_dh_params(str(path))


def test_512_bit_prime_is_an_error_and_fails_a_1024_minimum_client(
    ca: trustme.CA, cert: trustme.LeafCert, prime_512: int
) -> None:
    with scripted(dhe_flight(leaf_der(cert), prime_512, 2)) as port:
        facts = scan(port)
    assert facts.error is None, facts.error
    assert facts.dh_params["TLSv1.2"]["bits"] == 512
    assert facts.dh_params["TLSv1.2"]["named"] is None
    weak = fired(facts, ca)["dh_params_weak"]
    assert weak.severity == "error"
    assert "512-bit prime" in weak.evidence["versions"]["TLSv1.2"]["problems"][0]
    trust = TrustStore.load(ca.cert_pem.bytes())
    java = next(p for p in client_profiles() if p.id == "java_11")  # min_dh_bits = 1024
    (result,) = simulate(facts, trust, datetime.now(UTC), (java,))
    assert result.ok is False
    assert result.reason == "DH prime too small: 512 bits, client needs >= 1024"


def test_composite_modulus_and_bad_generator_are_errors(
    ca: trustme.CA, cert: trustme.LeafCert, prime_512: int
) -> None:
    composite = prime_512 * generated_prime(512)  # ~1024 bits, odd, not prime
    with scripted(dhe_flight(leaf_der(cert), composite, 2)) as port:
        facts = scan(port)
    assert facts.dh_params["TLSv1.2"]["bits"] >= 1023
    weak = fired(facts, ca)["dh_params_weak"]
    assert weak.severity == "error"
    assert "p is not prime (Miller-Rabin)" in weak.evidence["versions"]["TLSv1.2"]["problems"]
    ffdhe = NAMES["ffdhe2048"]
    with scripted(dhe_flight(leaf_der(cert), ffdhe, ffdhe - 1)) as port:
        facts = scan(port)
    assert facts.dh_params["TLSv1.2"]["named"] is None  # the prime is named, the group is not
    assert facts.dh_params["TLSv1.2"]["g"] == ffdhe - 1
    weak = fired(facts, ca)["dh_params_weak"]
    assert weak.severity == "error"
    assert "outside [2, p-2]" in weak.evidence["versions"]["TLSv1.2"]["problems"][0]


# --------------------------------------------------------------------------- rules on facts


def _facts(params: dict[str, object] | None = None, suites: list[str] | None = None) -> ServerFacts:
    return ServerFacts(
        target=Target(HOST),
        scanned_at="2026-01-01T00:00:00Z",
        protocols={"TLSv1.2": True},
        cipher_suites={"TLSv1.2": suites or ["TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"]},
        dh_params={"TLSv1.2": params} if params else {},
    )


def _rule(facts: ServerFacts, rule_id: str, profile: str = "wechat") -> str | None:
    found = [f for f in kex_findings(facts, load_profiles()[profile]) if f.rule_id == rule_id]
    return found[0].severity if found else None


@pytest.mark.parametrize(
    ("bits", "expected"),
    [(512, "error"), (1023, "error"), (1024, "warning"), (2047, "warning"), (2048, None)],
)
def test_dh_size_boundaries(bits: int, expected: str | None) -> None:
    assert _rule(_facts({"bits": bits, "named": None, "g": 2}), "dh_params_weak") == expected
    problems, severity = dh_problems({"bits": bits, "g": 2})
    assert severity == expected
    floor = {"error": "below 1024", "warning": "below 2048", None: None}[expected]
    if floor is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problems[0].startswith(f"{bits}-bit prime ({floor}")


def test_dh_soundness_checks_near_misses() -> None:
    p = NAMES["ffdhe2048"]
    sound = {"bits": 2048, "g": 2, "p": f"{p:x}"}
    assert dh_problems(sound) == ([], None)
    assert dh_problems({**sound, "g": p - 2}) == ([], None)  # the edge of [2, p-2] is fine
    assert dh_problems({**sound, "g": 1})[1] == "error"
    assert dh_problems({**sound, "g": p - 1})[1] == "error"
    assert dh_problems({**sound, "p": f"{p + 1:x}"}) == (["the prime p is even"], "error")
    assert dh_problems({**sound, "p": f"{p + 2:x}"})[0] == ["p is not prime (Miller-Rabin)"]
    # A sound, unnamed 2048-bit safe prime with another generator: silent.
    assert dh_problems({**sound, "g": 5}) == ([], None)


def test_dh_rule_ignores_refused_versions_and_is_in_the_catalog() -> None:
    facts = _facts({"bits": 512, "named": None, "g": 2})
    facts.protocols["TLSv1.2"] = None  # the version itself was not established
    assert _rule(facts, "dh_params_weak") is None
    for rule_id in ("dh_params_weak", "anon_or_null_suites"):
        rule = load_catalog()[rule_id]
        assert rule.title and rule.fix and rule.sources and rule.breaks == ()


@pytest.mark.parametrize(
    ("suite", "fires"),
    [
        ("TLS_ECDH_anon_WITH_AES_128_CBC_SHA", True),
        ("TLS_DH_anon_WITH_AES_256_GCM_SHA384", True),
        ("TLS_RSA_WITH_NULL_SHA256", True),
        ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", False),
        ("TLS_RSA_WITH_AES_128_CBC_SHA", False),  # weak-ish, but authenticated and encrypted
    ],
)
def test_anon_or_null_rule(suite: str, fires: bool) -> None:
    facts = _facts(suites=["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", suite])
    assert (_rule(facts, "anon_or_null_suites") == "error") is fires


def test_an_absurd_prime_is_measured_but_not_kept(cert: trustme.LeafCert) -> None:
    """A hostile server's 20 000-bit "prime" must not bloat every saved facts file."""
    huge = (1 << 20000) + 1
    with scripted(dhe_flight(leaf_der(cert), huge, huge - 2)) as port:
        facts = scan(port)
    params = facts.dh_params["TLSv1.2"]
    assert params["bits"] == 20001 and params["g"] == 0 and "p" not in params
    java = next(p for p in client_profiles() if p.id == "java_8u161")
    trust = TrustStore.load(None)
    (result,) = simulate(facts, trust, datetime.now(UTC), (java,))
    assert result.reason == "DH prime too large: 20001 bits, client accepts <= 2048"


# --------------------------------------------------------------------------- hostile input

_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.sampled_from(
        ["ff", "zz", "", f"{NAMES['ffdhe2048']:x}", "1" * 9000]
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["bits", "named", "g", "p", "suite"]), _JSONISH))
def test_dh_rules_take_any_saved_facts(params: dict[str, object]) -> None:
    """Facts loaded from a file may hold anything: a finding or silence, never an exception."""
    problems, severity = dh_problems(params)
    assert severity in (None, "warning", "error") and (severity is None) == (problems == [])
    facts = _facts(params or None)
    kex_findings(facts, load_profiles()["wechat"])
    java = next(p for p in client_profiles() if p.id == "java_8u161")
    simulate(facts, TrustStore.load(None), datetime.now(UTC), (java,))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_server_key_exchange_parser_never_raises(body: bytes) -> None:
    values, error = ske_dh_params(body)
    assert (values is None) != (error is None)
