"""The /probe exposition from a result, in process: unknown verdicts, findings, cut-offs."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from prometheus_client.parser import text_string_to_metric_families

from certcheck.exporter.metrics import PROBE_METRICS, probe_text
from certcheck.model import Finding, ScanError, ServerFacts, Target, TargetResult

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def samples(result: TargetResult) -> list:
    text = probe_text(result, 0.5, NOW).decode()
    found = [s for f in text_string_to_metric_families(text) for s in f.samples]
    assert {s.name for s in found} <= set(PROBE_METRICS)
    return found


def test_unscanned_target_has_nan_verdicts_and_no_cert_series():
    facts = ServerFacts(
        target=Target("a.test"), scanned_at="2026-01-01T00:00:00Z", error=ScanError("dns", "x")
    )
    got = samples(TargetResult(facts=facts, overall="error"))
    verdicts = [s for s in got if s.name == "certcheck_verdict"]
    assert verdicts and all(math.isnan(s.value) for s in verdicts)
    assert {s.labels["verdict"] for s in verdicts} == {"unknown"}
    assert [s.value for s in got if s.name == "probe_success"] == [0]
    assert not [s for s in got if s.name.startswith("probe_ssl") or "cert_days" in s.name]


def test_findings_chain_and_distrust_cutoffs():
    facts = ServerFacts(
        target=Target("a.test"), scanned_at="2026-01-01T00:00:00Z", negotiated_protocol="TLSv1.2"
    )
    event = {"event": "Example CA", "platform": "chrome", "cutoff": "2026-03-01T00:00:00Z"}
    result = TargetResult(
        facts=facts,
        findings=[
            Finding("ca_distrust_scheduled", "warning", ["chrome"], "t", {"events": [event]}),
            Finding("weak_thing", "error", ["ios"], "t"),
            Finding("weak_thing", "error", ["ios"], "t"),
            Finding("ignored_rule", "error", ["ios"], "t", suppressed=True),
        ],
        verdicts={"ios": "fail", "android": "pass"},
        overall="fail",
        certificate={
            "chain": [
                {"not_after": "2026-01-11T00:00:00Z", "subject": "CN=a.test", "sha256": "aa"},
                {"not_after": "2030-01-01T00:00:00Z", "subject": "CN=CA", "self_signed": True},
            ]
        },
    )
    got = samples(result)
    by = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in got}
    assert by[("certcheck_findings", (("rule", "weak_thing"), ("severity", "error")))] == 2
    assert not [s for s in got if s.labels.get("rule") == "ignored_rule"]
    days = {s.labels["role"]: s.value for s in got if s.name == "certcheck_cert_days_left"}
    assert days["leaf"] == 10 and days["root"] > 1000
    earliest = [s.value for s in got if s.name == "probe_ssl_earliest_cert_expiry"]
    assert earliest == [datetime(2026, 1, 11, tzinfo=UTC).timestamp()]
    cutoffs = [s for s in got if s.name == "certcheck_distrust_cutoff_timestamp_seconds"]
    assert [(c.labels["platform"], c.labels["event"], c.value) for c in cutoffs] == [
        ("chrome", "Example CA", datetime(2026, 3, 1, tzinfo=UTC).timestamp())
    ]
    assert [s.labels["version"] for s in got if s.name == "probe_tls_version_info"] == ["TLS 1.2"]
    verdicts = {s.labels["platform"]: s.value for s in got if s.name == "certcheck_verdict"}
    assert verdicts["ios"] == 0 and verdicts["android"] == 1
