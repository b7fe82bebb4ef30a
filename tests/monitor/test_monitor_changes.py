"""Change detection, reminders and alert wording: pure functions, no network, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from certcheck.monitor.alerts import (
    Message,
    change_message,
    reminder_due,
    standing_items,
)
from certcheck.monitor.changes import (
    DetectSettings,
    Snapshot,
    detect_changes,
    expiry_band,
)

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
SETTINGS = DetectSettings(expiry_alert_days=(30, 7, 1), min_severity="warning", crit_days=7)


def finding(rule_id, severity="error", breaks=("all",), title=None):
    return {
        "rule_id": rule_id,
        "severity": severity,
        "platforms": ["all"],
        "breaks": list(breaks),
        "title": title or f"title of {rule_id}",
        "fix": f"fix for {rule_id}",
        "evidence": {},
    }


def snap(
    *,
    at=NOW,
    ok=True,
    days=60.0,
    sha="aa" * 32,
    issuer="CN=Issuer A",
    findings=(),
    verdicts=None,
    protocols=None,
    suites=None,
):
    leaf = None
    if ok:
        not_after = (at + timedelta(days=days)).isoformat().replace("+00:00", "Z")
        leaf = {"sha256": sha, "issuer": issuer, "not_after": not_after}
    return Snapshot(
        target="a.test:443",
        evaluated_at=at,
        ok=ok,
        error=None if ok else {"kind": "refused", "message": "connection refused"},
        overall="pass" if ok else "error",
        verdicts=verdicts
        or ({p: "pass" for p in ("ios", "android", "android_legacy")} if ok else {}),
        findings={f["rule_id"]: f for f in findings},
        leaf=leaf,
        protocols=protocols or {"TLSv1.0": True, "TLSv1.2": True, "TLSv1.3": True},
        cipher_suites=suites or {},
    )


def kinds(changes, notified_only=True):
    return [c.kind for c in changes if c.notify or not notified_only]


def test_nothing_changed_means_no_changes():
    before = snap(findings=[finding("legacy_tls_enabled", "info")])
    after = snap(
        at=NOW + timedelta(hours=1),
        days=60 - 1 / 24,
        findings=[finding("legacy_tls_enabled", "info")],
    )
    assert detect_changes(before, before, after, SETTINGS) == []


def test_first_result_records_first_seen_and_alerts_only_serious_findings():
    now = snap(findings=[finding("hostname_mismatch"), finding("legacy_tls_enabled", "info")])
    found = detect_changes(None, None, now, SETTINGS)
    assert kinds(found, notified_only=False) == ["new_finding", "first_seen", "new_finding"]
    assert kinds(found) == ["new_finding"]
    assert found[0].rule_id == "hostname_mismatch"
    assert found[0].platforms == ["all"] and found[0].fix == "fix for hostname_mismatch"


def test_new_resolved_and_escalated_findings():
    before = snap(
        findings=[
            finding("chain_incomplete", breaks=["android"]),
            finding("cert_expiring_soon", "warning", breaks=[]),
        ]
    )
    after = snap(
        findings=[finding("sig_hash_weak"), finding("cert_expiring_soon", "error", breaks=[])],
        days=50,
    )
    found = {c.kind: c for c in detect_changes(before, before, after, SETTINGS)}
    assert found["new_finding"].rule_id == "sig_hash_weak"
    assert found["resolved_finding"].rule_id == "chain_incomplete"
    assert found["resolved_finding"].good and found["resolved_finding"].notify
    assert found["resolved_finding"].platforms == ["android"]
    assert found["finding_escalated"].detail["was"] == "warning"


def test_certificate_replacement_names_old_and_new():
    before = snap(days=3, sha="aa" * 32, issuer="CN=Old CA")
    after = snap(days=89, sha="bb" * 32, issuer="CN=New CA")
    [change] = detect_changes(before, before, after, SETTINGS)
    assert change.kind == "cert_replaced"
    assert change.detail["old"]["sha256"] == "aa" * 32
    assert change.detail["new"]["issuer"] == "CN=New CA"
    assert "CN=New CA" in change.summary and "CN=Old CA" in change.summary


def test_expiry_thresholds_fire_once_per_crossing():
    assert expiry_band(45, (30, 7, 1)) is None
    assert expiry_band(30, (30, 7, 1)) == 30
    assert expiry_band(6.5, (30, 7, 1)) == 7
    assert expiry_band(-2, (30, 7, 1)) == 1
    days = [45, 29, 25, 6.9, 6, 0.5, -1]
    crossings = []
    previous = None
    for step, left in enumerate(days):
        current = snap(at=NOW + timedelta(days=step), days=left)
        found = detect_changes(previous, previous, current, SETTINGS)
        crossings += [
            (left, c.detail["threshold"], c.severity) for c in found if c.kind == "expiry_threshold"
        ]
        previous = current
    # -1 is still inside the 1-day band: the expiry itself is cert_expired's news.
    assert crossings == [(29, 30, "warning"), (6.9, 7, "error"), (0.5, 1, "error")]


def test_expiring_soon_finding_is_folded_into_the_threshold_change():
    before = snap(days=40)
    after = snap(days=20, findings=[finding("cert_expiring_soon", "warning", breaks=[])])
    found = detect_changes(before, before, after, SETTINGS)
    assert kinds(found, notified_only=False) == ["expiry_threshold"]
    assert found[0].fix  # the renewal advice of cert_expiring_soon


def test_unreachable_then_recovered_without_re_alerting_standing_findings():
    standing = [finding("hostname_mismatch")]
    good = snap(findings=standing)
    down = snap(ok=False, at=NOW + timedelta(days=1))
    found = detect_changes(good, good, down, SETTINGS)
    assert kinds(found) == ["unreachable"]
    assert "refused" in found[0].summary
    # Still down: nothing new to say.
    assert detect_changes(down, good, snap(ok=False, at=NOW + timedelta(days=2)), SETTINGS) == []
    back = snap(at=NOW + timedelta(days=3), days=57, findings=standing)
    found = detect_changes(down, good, back, SETTINGS)
    assert kinds(found) == ["recovered"]  # the standing finding is not "new" again


def test_protocol_and_cipher_regressions():
    before = snap(
        protocols={"TLSv1.0": True, "TLSv1.1": True, "TLSv1.2": True, "TLSv1.3": False},
        suites={
            "TLSv1.2": ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_128_CBC_SHA"]
        },
    )
    after = snap(
        protocols={"TLSv1.0": False, "TLSv1.1": False, "TLSv1.2": True, "TLSv1.3": True},
        suites={"TLSv1.2": ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_RC4_128_SHA"]},
    )
    found = {c.kind: c for c in detect_changes(before, before, after, SETTINGS)}
    assert found["protocols_changed"].detail == {
        "added": ["TLSv1.3"],
        "removed": ["TLSv1.0", "TLSv1.1"],
    }
    assert found["ciphers_changed"].detail["TLSv1.2"] == {
        "added": ["TLS_RSA_WITH_RC4_128_SHA"],
        "removed": ["TLS_RSA_WITH_AES_128_CBC_SHA"],
    }
    # An unknown (None) answer is not a change.
    unknown = snap(protocols={"TLSv1.0": None, "TLSv1.2": True, "TLSv1.3": True})
    [change] = detect_changes(before, before, unknown, SETTINGS)
    assert change.detail == {"added": ["TLSv1.3"], "removed": []}


def test_verdict_changes_name_the_platforms():
    before = snap()
    after = snap(verdicts={"ios": "pass", "android": "fail", "android_legacy": "warn"})
    [change] = detect_changes(before, before, after, SETTINGS)
    assert change.kind == "verdict_changed" and change.severity == "error"
    assert change.platforms == ["android", "android_legacy"]
    assert "Android pass → fail" in change.summary
    [back] = detect_changes(after, after, before, SETTINGS)
    assert back.good and back.severity == "info"


def test_alert_message_names_target_change_platform_fix_owner_and_report():
    found = detect_changes(
        None, None, snap(findings=[finding("chain_incomplete", breaks=["android"])]), SETTINGS
    )
    from certcheck.model import ServerFacts, Target, TargetResult

    result = TargetResult(
        facts=ServerFacts(target=Target("a.test"), scanned_at="x"),
        overall="fail",
        verdicts={"android": "fail"},
    )
    message = change_message(
        "a.test:443",
        found,
        result,
        now=NOW,
        run_id=7,
        owner="web team",
        tags=("prod",),
        report_url="https://status.example.test/history.html",
    )
    assert message is not None and message.severity == "error"
    text = message.plain_text()
    assert "a.test:443" in message.title and "chain_incomplete" in message.title
    assert "(Android)" in text
    assert "fix: fix for chain_incomplete" in text
    assert "Owner: web team" in text and "https://status.example.test/history.html" in text
    body = message.webhook_body()
    assert body["kind"] == "certcheck-alert" and body["run_id"] == 7
    assert body["changes"][0]["rule_id"] == "chain_incomplete"
    assert Message.from_dict(message.to_dict()) == message
    # Nothing notifiable: no message at all.
    quiet = detect_changes(None, None, snap(), SETTINGS)
    assert (
        change_message(
            "a.test:443", quiet, result, now=NOW, run_id=7, owner=None, tags=(), report_url=None
        )
        is None
    )


def test_reminders_for_standing_problems():
    expiring = snap(days=5, findings=[finding("cert_expiring_soon", "error", breaks=[])])
    items = standing_items(expiring, "error", 7)
    assert [i["kind"] for i in items] == ["expiry"]
    assert "expires in 5 day(s)" in items[0]["summary"]
    assert standing_items(snap(days=40), "error", 7) == []
    assert [i["kind"] for i in standing_items(snap(ok=False), "error", 7)] == ["unreachable"]
    assert [
        i["rule_id"]
        for i in standing_items(
            snap(findings=[finding("hostname_mismatch"), finding("ocsp", "info")]), "error", 7
        )
    ] == ["hostname_mismatch"]
    # Daily reminders: due after 24 h (5 % slack for cron drift), never when disabled.
    assert reminder_due(None, NOW, 24)
    assert not reminder_due(NOW - timedelta(hours=20), NOW, 24)
    assert reminder_due(NOW - timedelta(hours=23, minutes=50), NOW, 24)
    assert not reminder_due(NOW - timedelta(days=9), NOW, 0)


def test_certificate_replacement_says_what_changed():
    before = snap(days=3, sha="aa" * 32, issuer="CN=Same CA")
    after = snap(days=89, sha="bb" * 32, issuer="CN=Same CA")
    before.leaf.update(subject="CN=a.test", san=["a.test", "www.a.test"], key="RSA-2048")
    after.leaf.update(subject="CN=a.test", san=["a.test", "api.a.test"], key="EC-secp256r1",
                      not_before="2026-11-30T00:00:00Z")
    [change] = detect_changes(before, before, after, SETTINGS)
    text = change.summary
    assert "names added api.a.test removed www.a.test" in text
    assert "key RSA-2048 -> EC-secp256r1" in text
    assert "same issuer (CN=Same CA)" in text and "subject" not in text
    assert "valid 2026-11-30 to" in text
    assert change.detail["new"]["san"] == ["a.test", "api.a.test"]
