"""One day count everywhere: evidence, JSON, console and HTML never disagree by one."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from certcheck.core.times import days_left, whole_days
from certcheck.evaluate import Policy, evaluate
from certcheck.evaluate.trust import TrustStore
from certcheck.model import ServerFacts, Target
from certcheck.report import console, jsondoc
from certcheck.report.html import render_html
from certcheck.report.safetext import SafeConsole

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HOST = "days.example.test"
KEY = ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


ROOT = (
    x509.CertificateBuilder().subject_name(_name("Days Root")).issuer_name(_name("Days Root"))
    .public_key(KEY.public_key()).serial_number(1)
    .not_valid_before(NOW - timedelta(days=900)).not_valid_after(NOW + timedelta(days=900))
    .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    .sign(KEY, hashes.SHA256())
)


def _leaf(not_after: datetime) -> x509.Certificate:
    return (
        x509.CertificateBuilder().subject_name(_name(HOST)).issuer_name(ROOT.subject)
        .public_key(KEY.public_key()).serial_number(2)
        .not_valid_before(NOW - timedelta(days=200)).not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .sign(KEY, hashes.SHA256())
    )


def _result(not_after: datetime):
    facts = ServerFacts(
        target=Target(HOST),
        scanned_at="2026-12-01T12:00:00Z",
        chain=[base64.b64encode(_leaf(not_after).public_bytes(Encoding.DER)).decode()],
        protocols={"TLSv1.2": True, "TLSv1.3": True},
    )
    return evaluate(facts, Policy.build(trust=TrustStore(system=[], extra=[ROOT])), NOW)


def test_rounding_is_down_once():
    assert whole_days(88.7) == 88 and whole_days(-0.2) == -1 and whole_days(0.0) == 0
    assert whole_days(-10.5) == -10 and whole_days(-1.0) == -1
    assert days_left(NOW + timedelta(days=1, seconds=-1), NOW) == 0
    assert days_left(NOW - timedelta(seconds=1), NOW) == -1


@pytest.mark.parametrize(("offset", "shown"), [(timedelta(days=-30.5), -30),
                                               (timedelta(days=20.6), 20)])
def test_evidence_json_console_and_html_agree(offset, shown):
    result = _result(NOW + offset)
    assert result.certificate["leaf"]["days_left"] == shown
    rules = {f.rule_id: f for f in result.findings}
    if shown < 0:
        assert rules["cert_expired"].evidence["days_ago"] == -shown
    else:
        assert rules["cert_expiring_soon"].evidence["days_left"] == shown
    document = jsondoc.results_document(
        [result], now=NOW, profile="wechat", fail_on="error", exit_code=1
    )
    html = render_html(document)
    buffer = io.StringIO()
    console.print_results([result], SafeConsole(file=buffer, width=200))
    text = buffer.getvalue()
    if shown < 0:
        assert f"{-shown} d" in html or f"{-shown} days" in html or f">{-shown}<" in html
        assert f"days_ago: {-shown}" in text
    else:
        assert f"{shown} d" in text
        assert f"days_left: {shown}" in text
        assert f"{shown} d" in html or f"{shown} days" in html
