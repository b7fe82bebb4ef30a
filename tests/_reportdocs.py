"""Results documents for the report tests: a real scan of the demo's loopback servers,
a certificate with hostile fields, and synthetic variations of both.

Every scan here is of servers on 127.0.0.1 started by the test itself.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
from functools import cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certcheck.demo import demo_servers
from certcheck.evaluate import Policy
from certcheck.model import ServerFacts, Target
from certcheck.pipeline import evaluate_all, exit_code, scan_targets
from certcheck.report import jsondoc

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def document_for(results: list, now: dt.datetime, fail_on: str = "error") -> dict[str, Any]:
    return jsondoc.results_document(
        results,
        now=now,
        profile="wechat",
        fail_on=fail_on,
        exit_code=exit_code(results, fail_on),
    )


@cache
def _demo_scan() -> dict[str, Any]:
    """The demo's servers scanned and evaluated as ``certcheck demo`` does (cached)."""
    with demo_servers() as setup:
        policy = Policy.build(ca_pem=setup.ca_pem)
        facts = scan_targets(setup.targets, timeout=5.0)
    now = dt.datetime.now(dt.UTC)
    return document_for(evaluate_all(facts, policy, now), now)


def demo_document() -> dict[str, Any]:
    """A fresh copy of the demo scan's results document."""
    return copy.deepcopy(_demo_scan())


def result_for(document: dict[str, Any], host_prefix: str) -> dict[str, Any]:
    return next(r for r in document["results"] if r["target"]["host"].startswith(host_prefix))


def hostile_certificate_pem(now: dt.datetime) -> bytes:
    """A self-signed certificate whose subject, issuer and SAN carry markup."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, HOSTILE),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "</style><b>bold & \"quoted\" 'x'</b>"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=20))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("evil.example.test"), x509.DNSName("<svg onload=alert(2)>")]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def hostile_document() -> dict[str, Any]:
    """A real evaluation of the hostile certificate, plus hostile text in every other field."""
    now = dt.datetime.now(dt.UTC)
    cert = x509.load_pem_x509_certificate(hostile_certificate_pem(now))
    der = cert.public_bytes(serialization.Encoding.DER)
    facts = ServerFacts(
        target=Target(host="evil.example.test", port=443, connect_addr="127.0.0.1"),
        scanned_at=now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        chain=[base64.b64encode(der).decode("ascii")],
        source="file",
    )
    document = document_for(evaluate_all([facts], Policy.build(), now), now)
    result = document["results"][0]
    finding = result["findings"][0]
    finding["title"] = HOSTILE
    finding["evidence"] = {HOSTILE: [HOSTILE, {"subject": HOSTILE}], "ctl": "bell\x07null\x00"}
    finding["fix"] = HOSTILE
    result["findings"].append(
        {
            **finding,
            "rule_id": "cert_expiring_soon",
            "suppressed": True,
            "suppressed_reason": HOSTILE,
        }
    )
    result["simulation"] = [
        {"client": HOSTILE, "platform": HOSTILE, "ok": False, "reason": HOSTILE, HOSTILE: 1}
    ]
    result["facts"]["cipher_suites"] = {"TLSv1.2": [HOSTILE]}
    result["facts"]["groups"] = {"TLSv1.2": [HOSTILE]}
    result["facts"]["negotiated_cipher"] = HOSTILE
    result["facts"]["alpn"] = HOSTILE
    return document


def many_targets(document: dict[str, Any], count: int) -> dict[str, Any]:
    """``count`` targets cycled from ``document`` with distinct names and expiry dates."""
    base = document["results"]
    results = []
    for index in range(count):
        entry = copy.deepcopy(base[index % len(base)])
        host = f"n{index}-{entry['target']['host']}"
        entry["target"]["host"] = entry["facts"]["target"]["host"] = host
        certificate = entry.get("certificate") or {}
        if certificate.get("leaf"):
            days = (index * 7) % 150 - 10
            leaf = certificate["leaf"]
            leaf["days_left"] = days
            leaf["sha256"] = f"{index:08x}" + leaf["sha256"][8:]
            certificate["chain"][0] = {**certificate["chain"][0], **leaf}
        results.append(entry)
    return {**document, "results": results, "summary": {**document["summary"], "targets": count}}
