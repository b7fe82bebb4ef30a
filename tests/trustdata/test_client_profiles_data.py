"""Every captured client profile in rules/clients.toml agrees with its recorded ClientHello.

Each ``evidence = "capture"`` profile carries the ClientHello it was decoded from
(``client_hello``, hex, from testssl.sh etc/client-simulation.txt at 9fdf8028).  This
test decodes those bytes again and compares every list the simulation uses, so the
profile cannot drift from the recording (issue #20 item 9(c): java_17 once offered
TLS 1.0-1.3 from a metadata field while its hello's supported_versions says 1.2/1.3).

Protocols: with supported_versions (RFC 8446 4.2.1) the offer is exactly that list;
without it the hello states only the highest version (legacy_version), so the profile
must end there.  A profile may depart from its capture only with a sourced
``capture_deviation`` and only by offering less (Android 9: no TLS 1.3).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources

import pytest

from certcheck.core.tls import CIPHER_NAMES, GROUPS, SUITES_BY_CODE
from certcheck.evaluate.client_constraints import SCHEMES_BY_CODE
from certcheck.model import PROTOCOLS
from certcheck.platforms import ClientProfile, PlatformDataError, _client, client_profiles

#: RFC 8701 GREASE values: 0x0A0A, 0x1A1A .. 0xFAFA
GREASE = frozenset(0x0A0A + 0x1010 * i for i in range(16))
VERSIONS = {0x0300: "SSLv3", 0x0301: "TLSv1.0", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2",
            0x0304: "TLSv1.3"}  # fmt: skip
EXT_SNI, EXT_GROUPS, EXT_SIGALGS, EXT_ALPN = 0x0000, 0x000A, 0x000D, 0x0010
EXT_VERSIONS, EXT_SIGALGS_CERT, EXT_KEY_SHARE = 0x002B, 0x0032, 0x0033


@dataclass
class Hello:
    legacy_version: int
    suites: list[int]
    extensions: dict[int, bytes] = field(default_factory=dict)


class Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise ValueError("truncated ClientHello")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def int(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def vector(self, length_size: int) -> bytes:
        return self.take(self.int(length_size))

    @property
    def done(self) -> bool:
        return self.pos >= len(self.data)


def decode_hello(hex_text: str) -> Hello:
    """Parse one TLS record holding a ClientHello (RFC 5246 7.4.1.2, RFC 8446 4.1.2)."""
    record = Reader(bytes.fromhex(hex_text))
    assert record.int(1) == 22, "not a handshake record"
    record.take(2)
    handshake = Reader(record.vector(2))
    assert handshake.int(1) == 1, "not a ClientHello"
    body = Reader(handshake.vector(3))
    version = body.int(2)
    body.take(32)  # random
    body.vector(1)  # session id
    suites = Reader(body.vector(2))
    codes = [suites.int(2) for _ in range(len(suites.data) // 2)]
    body.vector(1)  # compression methods
    hello = Hello(version, [c for c in codes if c not in GREASE])
    if not body.done:
        extensions = Reader(body.vector(2))
        while not extensions.done:
            code, value = extensions.int(2), extensions.vector(2)
            if code not in GREASE:
                hello.extensions[code] = value
    return hello


def u16s(raw: bytes, length_size: int = 2) -> list[int]:
    items = Reader(raw).vector(length_size)
    codes = [int.from_bytes(items[i : i + 2], "big") for i in range(0, len(items), 2)]
    return [c for c in codes if c not in GREASE]


def key_share_groups(raw: bytes) -> list[int]:
    shares = Reader(Reader(raw).vector(2))
    groups = []
    while not shares.done:
        group = shares.int(2)
        shares.vector(2)
        if group not in GREASE:
            groups.append(group)
    return groups


def alpn(raw: bytes) -> list[str]:
    names = Reader(Reader(raw).vector(2))
    found = []
    while not names.done:
        found.append(names.vector(1).decode())
    return found


def is_tls13(code: int) -> bool:
    return SUITES_BY_CODE[code].tls13


def group_name(code: int) -> str:
    return GROUPS.get(code, f"0x{code:04X}")


def scheme_names(codes: list[int]) -> list[str]:
    return [SCHEMES_BY_CODE[c].name if c in SCHEMES_BY_CODE else f"0x{c:04X}" for c in codes]


def offered_protocols(hello: Hello) -> tuple[list[str], bool]:
    """(versions, exact): exact with supported_versions; else [the highest] only."""
    if EXT_VERSIONS in hello.extensions:
        return [VERSIONS[v] for v in u16s(hello.extensions[EXT_VERSIONS], 1)], True
    return [VERSIONS[hello.legacy_version]], False


CAPTURED = [p for p in client_profiles() if p.evidence == "capture"]
_TOML = resources.files("certcheck.rules").joinpath("clients.toml").read_text("utf-8")
RAW = {entry["id"]: entry for entry in tomllib.loads(_TOML)["client"]}


def test_every_capture_carries_its_hello_and_no_derived_profile_claims_one():
    for profile in client_profiles():
        assert bool(profile.client_hello) == (profile.evidence == "capture"), profile.id
    assert len(CAPTURED) >= 30


@pytest.mark.parametrize("profile", CAPTURED, ids=lambda p: p.id)
def test_profile_lists_are_the_recorded_hello(profile: ClientProfile):
    hello = decode_hello(profile.client_hello)
    ext = hello.extensions
    suites = [CIPHER_NAMES.get(c, f"0x{c:04X}") for c in hello.suites]
    tls13 = [CIPHER_NAMES[c] for c in hello.suites if c in SUITES_BY_CODE and is_tls13(c)]
    legacy = [s for s in suites if s not in tls13]
    assert list(profile.cipher_suites) == legacy
    groups = [group_name(g) for g in u16s(ext[EXT_GROUPS])] if EXT_GROUPS in ext else []
    assert list(profile.supported_groups) == groups
    sigalgs = scheme_names(u16s(ext[EXT_SIGALGS])) if EXT_SIGALGS in ext else []
    assert list(profile.signature_algorithms) == sigalgs
    cert_sigalgs = scheme_names(u16s(ext[EXT_SIGALGS_CERT])) if EXT_SIGALGS_CERT in ext else []
    assert list(profile.signature_algorithms_cert) == cert_sigalgs
    assert profile.sni == (EXT_SNI in ext)
    assert RAW[profile.id].get("alpn", []) == (alpn(ext[EXT_ALPN]) if EXT_ALPN in ext else [])
    shares = [group_name(g) for g in key_share_groups(ext.get(EXT_KEY_SHARE, b"\x00\x00"))]
    if profile.capture_deviation:
        assert "TLSv1.3" not in profile.protocols  # the only deviation so far: no TLS 1.3
        assert not profile.tls13_cipher_suites and not profile.key_share_groups
    else:
        assert list(profile.tls13_cipher_suites) == tls13
        assert list(profile.key_share_groups) == shares


@pytest.mark.parametrize("profile", CAPTURED, ids=lambda p: p.id)
def test_profile_protocols_follow_the_recorded_hello(profile: ClientProfile):
    versions, exact = offered_protocols(decode_hello(profile.client_hello))
    ordered = [v for v in PROTOCOLS if v in profile.protocols]
    assert list(profile.protocols) == ordered  # ascending, no repeats
    span = PROTOCOLS[PROTOCOLS.index(ordered[0]) : PROTOCOLS.index(ordered[-1]) + 1]
    assert ordered == list(span), "a protocol range has no holes"
    if profile.capture_deviation:
        highest = PROTOCOLS.index(versions[0])
        assert set(ordered) < set(versions) if exact else PROTOCOLS.index(ordered[-1]) < highest
        assert "https://" in profile.capture_deviation
    elif exact:
        assert set(ordered) == set(versions)
    else:
        assert ordered[-1] == versions[0]


def test_the_cases_issue_20_names():
    by_id = {p.id: p for p in client_profiles()}
    assert by_id["java_17"].protocols == ("TLSv1.2", "TLSv1.3")
    assert by_id["android_9"].protocols == ("TLSv1.0", "TLSv1.1", "TLSv1.2")
    assert by_id["android_10"].protocols[-1] == "TLSv1.3"
    assert {"android_15", "android_16"} <= set(by_id)
    assert by_id["android_15"].supported_groups[0] == "X25519MLKEM768"


def test_the_decoder_sees_a_planted_difference():
    java = next(p for p in CAPTURED if p.id == "java_17")
    hello = bytearray(bytes.fromhex(java.client_hello))
    marker = bytes.fromhex("002b000504") + bytes.fromhex("03040303")
    at = hello.index(marker)
    hello[at + 5 : at + 9] = bytes.fromhex("03040302")  # claim TLS 1.3 + 1.1 instead
    versions, exact = offered_protocols(decode_hello(hello.hex()))
    assert exact and versions == ["TLSv1.3", "TLSv1.1"]


def test_the_loader_refuses_a_sha2_hand_flag_without_a_vendor_statement():
    entry = dict(RAW["java_17"])
    assert _client(entry, "java_17").requires_sha2 is False
    entry["requires_sha2"] = True
    with pytest.raises(PlatformDataError, match="requires_sha2_source"):
        _client(entry, "java_17")
    entry["requires_sha2_source"] = "https://example.invalid/vendor-statement"
    assert _client(entry, "java_17").requires_sha2 is True
