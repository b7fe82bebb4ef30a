"""Apple's CT policy (SCTs embedded, in the TLS extension, in a stapled OCSP response)
and the OCSP stapling rules, on certificates and responses built here (no network).
"""

from __future__ import annotations

import base64
import os
import struct
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from certcheck.catalog import load_profiles
from certcheck.evaluate import Policy, evaluate
from certcheck.evaluate.rules.stapling import ocsp_scts, stapling_findings
from certcheck.evaluate.rules.transparency import (
    check_apple_ct,
    ct_findings,
    embedded_scts,
    required_embedded,
)
from certcheck.evaluate.trust import TrustStore
from certcheck.model import ServerFacts, Target

NOW = datetime(2026, 6, 1, tzinfo=UTC)
HOST = "api.example.test"
PROFILE = load_profiles()["wechat"]
KEY = ec.generate_private_key(ec.SECP256R1())
PRECERT_SCTS = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
LOG_A, LOG_B, LOG_C = (os.urandom(32) for _ in range(3))


def sct(log_id: bytes, when: datetime = NOW - timedelta(days=2)) -> bytes:
    """An RFC 6962 SignedCertificateTimestamp (v1); the signature is not checked by anyone."""
    signature = b"\x30\x06\x02\x01\x01\x02\x01\x01"
    millis = int(when.timestamp() * 1000)
    return (
        b"\x00" + log_id + struct.pack("!QH", millis, 0) + b"\x04\x03"
        + struct.pack("!H", len(signature)) + signature
    )  # fmt: skip


def der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def sct_list_octets(*scts: bytes) -> bytes:
    """DER OCTET STRING holding the TLS-encoded SignedCertificateTimestampList."""
    body = b"".join(struct.pack("!H", len(s)) + s for s in scts)
    return der(0x04, struct.pack("!H", len(body)) + body)


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def leaf(
    *scts: bytes,
    days: tuple[int, int] = (-2, 88),
    ocsp_url: str | None = None,
    must_staple: bool = False,
    issuer: x509.Name | None = None,
    issuer_key=None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(HOST))
        .issuer_name(issuer or name("Some CA"))
        .public_key(KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + timedelta(days=days[0]))
        .not_valid_after(NOW + timedelta(days=days[1]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
    )
    if scts:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(PRECERT_SCTS, sct_list_octets(*scts)), critical=False
        )
    if ocsp_url:
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
                    )
                ]
            ),
            critical=False,
        )
    if must_staple:
        builder = builder.add_extension(
            x509.TLSFeature([x509.TLSFeatureType.status_request]), critical=False
        )
    return builder.sign(issuer_key or KEY, hashes.SHA256())


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def facts_for(cert: x509.Certificate, **extra) -> ServerFacts:
    return ServerFacts(
        target=Target(HOST, 443),
        scanned_at="2026-06-01T00:00:00Z",
        chain=[b64(cert.public_bytes(Encoding.DER))],
        **extra,
    )


# --------------------------------------------------------------------------- OCSP with SCTs


def _children(content: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(content):
        length = content[pos + 1]
        start = pos + 2
        if length & 0x80:
            n = length & 0x7F
            length = int.from_bytes(content[start : start + n], "big")
            start += n
        out.append(content[pos : start + length])
        pos = start + length
    return out


def _strip(tlv: bytes) -> bytes:
    length = tlv[1]
    start = 2 + (length & 0x7F if length & 0x80 else 0)
    return tlv[start:]


def ocsp_with_scts(cert: x509.Certificate, *scts: bytes) -> bytes:
    """A signed OCSP response for ``cert``, with an SCT list added to its SingleResponse.

    cryptography's builder cannot add singleExtensions, so the extension is spliced
    into the DER (the signature then no longer verifies; certcheck does not check it).
    """
    response = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=cert,
            issuer=cert,
            algorithm=hashes.SHA256(),
            cert_status=ocsp.OCSPCertStatus.GOOD,
            this_update=NOW - timedelta(hours=1),
            next_update=NOW + timedelta(days=3),
            revocation_time=None,
            revocation_reason=None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, cert)
        .sign(KEY, hashes.SHA256())
    )
    outer = _children(_strip(response.public_bytes(Encoding.DER)))  # status, [0] bytes
    (rb_seq,) = _children(_strip(outer[1]))
    oid, octets = _children(_strip(rb_seq))
    basic = _children(_strip(_children(_strip(octets))[0]))  # tbs, alg, sig, ...
    tbs = _children(_strip(basic[0]))
    index = next(i for i, c in enumerate(tbs) if c[0] == 0x18) + 1  # after producedAt
    (single,) = _children(_strip(tbs[index]))
    ext_oid = der(0x06, bytes.fromhex("2b06010401d679020405"))  # 1.3.6.1.4.1.11129.2.4.5
    extension = der(0x30, ext_oid + der(0x04, sct_list_octets(*scts)))
    single = der(0x30, _strip(single) + der(0xA1, der(0x30, extension)))
    tbs[index] = der(0x30, single)
    basic[0] = der(0x30, b"".join(tbs))
    octets = der(0x04, der(0x30, b"".join(basic)))
    rb_seq = der(0x30, oid + octets)
    return der(0x30, outer[0] + der(0xA0, rb_seq))


def test_scts_are_read_from_a_stapled_ocsp_response():
    cert = leaf()
    staple = b64(ocsp_with_scts(cert, sct(LOG_A), sct(LOG_B)))
    found = ocsp_scts(staple)
    assert [s.log_id for s in found] == [LOG_A, LOG_B]
    assert {s.via for s in found} == {"ocsp"}
    assert ocsp_scts(None) == []
    assert ocsp_scts(b64(b"not an ocsp response")) == []


# --------------------------------------------------------------------------- Apple CT policy


def test_required_embedded_scts_by_lifetime():
    assert required_embedded(leaf(days=(-2, 88))) == 2  # 90 days
    assert required_embedded(leaf(days=(-2, 178))) == 2  # 180 days
    assert required_embedded(leaf(days=(-2, 200))) == 3
    # Legacy table (notBefore before 2021-04-21): by months of lifetime.
    old = datetime(2020, 1, 1, tzinfo=UTC) - NOW
    assert required_embedded(leaf(days=(old.days, old.days + 400))) == 2
    assert required_embedded(leaf(days=(old.days, old.days + 600))) == 3
    assert required_embedded(leaf(days=(old.days, old.days + 1000))) == 4
    assert required_embedded(leaf(days=(old.days, old.days + 1300))) == 5


def test_two_embedded_scts_from_distinct_logs_comply():
    cert = leaf(sct(LOG_A), sct(LOG_B))
    assert [s.via for s in embedded_scts(cert)] == ["embedded", "embedded"]
    assert check_apple_ct(cert, embedded_scts(cert)).compliant
    assert ct_findings(facts_for(cert), cert, True, PROFILE, NOW) == []


def test_one_embedded_sct_fails_with_counts_as_evidence():
    cert = leaf(sct(LOG_A))
    (finding,) = ct_findings(facts_for(cert), cert, True, PROFILE, NOW)
    assert finding.rule_id == "ct_noncompliant_apple"
    assert (finding.severity, finding.breaks) == ("error", ["ios"])
    evidence = finding.evidence
    assert (evidence["embedded"], evidence["tls_extension"], evidence["ocsp_staple"]) == (1, 0, 0)
    assert evidence["required_embedded"] == 2
    assert "no Apple log list" in evidence["limitation"]


def test_the_same_log_twice_counts_once():
    cert = leaf(sct(LOG_A), sct(LOG_A, NOW - timedelta(days=1)))
    (finding,) = ct_findings(facts_for(cert), cert, True, PROFILE, NOW)
    assert finding.evidence["distinct_logs"] == 1


def test_longer_lifetime_needs_three_embedded():
    two = leaf(sct(LOG_A), sct(LOG_B), days=(-2, 250))
    assert len(ct_findings(facts_for(two), two, True, PROFILE, NOW)) == 1
    three = leaf(sct(LOG_A), sct(LOG_B), sct(LOG_C), days=(-2, 250))
    assert ct_findings(facts_for(three), three, True, PROFILE, NOW) == []


def test_an_sct_in_the_tls_extension_completes_the_count():
    cert = leaf(sct(LOG_A))
    with_tls = facts_for(cert, tls_scts=[b64(sct(LOG_B))])
    assert ct_findings(with_tls, cert, True, PROFILE, NOW) == []
    # The same log again in the TLS extension does not make a second log.
    same_log = facts_for(cert, tls_scts=[b64(sct(LOG_A))])
    assert len(ct_findings(same_log, cert, True, PROFILE, NOW)) == 1


def test_scts_in_the_stapled_ocsp_response_count():
    cert = leaf()
    stapled = facts_for(cert, ocsp_staple=b64(ocsp_with_scts(cert, sct(LOG_A), sct(LOG_B))))
    assert ct_findings(stapled, cert, True, PROFILE, NOW) == []
    one = facts_for(cert, ocsp_staple=b64(ocsp_with_scts(cert, sct(LOG_A))))
    (finding,) = ct_findings(one, cert, True, PROFILE, NOW)
    assert finding.evidence["ocsp_staple"] == 1


def test_ct_is_not_required_for_private_old_or_expired_certificates():
    bare = leaf()
    assert ct_findings(facts_for(bare), bare, False, PROFILE, NOW) == []  # private CA
    before = datetime(2018, 10, 1, tzinfo=UTC) - NOW
    old = leaf(days=(before.days, before.days + 90))
    assert ct_findings(facts_for(old), old, True, PROFILE, NOW) == []
    expired = leaf(days=(-100, -10))
    assert ct_findings(facts_for(expired), expired, True, PROFILE, NOW) == []


def test_certificate_only_facts_say_what_was_not_seen():
    cert = leaf(sct(LOG_A))
    (finding,) = ct_findings(facts_for(cert, source="file"), cert, True, PROFILE, NOW)
    assert "TLS extension or OCSP were not seen" in finding.evidence["note"]


def test_evaluate_applies_ct_only_to_chains_to_apples_roots():
    """A root with Apple's trusted name (ISRG Root X1) makes CT apply; --ca-file exempts."""
    isrg = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Internet Security Research Group"),
            x509.NameAttribute(NameOID.COMMON_NAME, "ISRG Root X1"),
        ]
    )
    root_key = ec.generate_private_key(ec.SECP384R1())
    cert = leaf(issuer=isrg, issuer_key=root_key)  # no SCT at all
    facts = facts_for(cert, protocols={"TLSv1.2": True})
    unrelated = leaf()  # TrustStore needs one anchor; this one is unrelated
    result = evaluate(facts, Policy(trust=TrustStore(system=[], extra=[unrelated])), NOW)
    assert "ct_noncompliant_apple" in {f.rule_id for f in result.findings}
    # The same leaf under a private root given with --ca-file: Apple does not require CT.
    private_root = (
        x509.CertificateBuilder()
        .subject_name(isrg)
        .issuer_name(isrg)
        .public_key(root_key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - timedelta(days=10))
        .not_valid_after(NOW + timedelta(days=1000))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    exempt = evaluate(facts, Policy(trust=TrustStore(system=[], extra=[private_root])), NOW)
    assert "ct_noncompliant_apple" not in {f.rule_id for f in exempt.findings}


# --------------------------------------------------------------------------- OCSP stapling rules


def test_ocsp_stapling_absent_needs_an_ocsp_url_and_a_scan():
    cert = leaf(ocsp_url="http://ocsp.example.test")
    (finding,) = stapling_findings(facts_for(cert), PROFILE, cert)
    assert finding.rule_id == "ocsp_stapling_absent"
    assert finding.severity == "info"
    assert finding.evidence["ocsp_urls"] == ["http://ocsp.example.test"]
    stapled = facts_for(cert, ocsp_staple=b64(ocsp_with_scts(cert, sct(LOG_A))))
    assert stapling_findings(stapled, PROFILE, cert) == []
    assert stapling_findings(facts_for(cert, source="file"), PROFILE, cert) == []
    no_url = leaf()
    assert stapling_findings(facts_for(no_url), PROFILE, no_url) == []


def test_must_staple_without_a_staple():
    cert = leaf(ocsp_url="http://ocsp.example.test", must_staple=True)
    (finding,) = stapling_findings(facts_for(cert), PROFILE, cert)
    assert finding.rule_id == "must_staple_without_staple"
    assert (finding.severity, finding.breaks) == ("warning", ["firefox"])
    stapled = facts_for(cert, ocsp_staple=b64(ocsp_with_scts(cert, sct(LOG_A))))
    assert stapling_findings(stapled, PROFILE, cert) == []
