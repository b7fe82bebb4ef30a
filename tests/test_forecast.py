"""Forecast and --at: the same facts evaluated at the instants where answers change."""

import base64
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certcheck.evaluate import Policy
from certcheck.forecast import forecast
from certcheck.model import ServerFacts, Target
from certcheck.samples import generate, write

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SAMPLES = generate(NOW)


def facts_for(name):
    sample = SAMPLES.get(name)
    chain = [base64.b64encode(c.public_bytes(Encoding.DER)).decode()
             for c in x509.load_pem_x509_certificates(sample.chain_pem)]
    return ServerFacts(Target(sample.host), "x", chain=chain, source="file")


def test_forecast_lists_thresholds_and_expiry_in_date_order():
    policy = Policy.build(ca_pem=SAMPLES.root_pem)
    baseline, events = forecast([facts_for("good_rsa"), facts_for("expiring_soon")], policy,
                                NOW, 90)
    assert [r.overall for r in baseline] == ["pass", "fail"]  # 5 days left: below crit_days
    summary = [(e.at, e.target, e.rule_id, e.severity) for e in events]
    expiry = NOW + timedelta(days=44)  # good_rsa: notAfter = now + 44 d
    assert summary == [
        (NOW + timedelta(days=5, seconds=1), "soon.example.test:443", "cert_expired", "error"),
        (expiry - timedelta(days=30), "good.example.test:443", "cert_expiring_soon", "warning"),
        (expiry - timedelta(days=7), "good.example.test:443", "cert_expiring_soon", "error"),
        (expiry + timedelta(seconds=1), "good.example.test:443", "cert_expired", "error"),
    ]
    assert sorted(events[0].platforms) == ["android", "android_legacy", "ios"]


def test_nothing_in_a_short_window():
    policy = Policy.build(ca_pem=SAMPLES.root_pem)
    _, events = forecast([facts_for("good_rsa")], policy, NOW, 5)
    assert events == []


def test_unscanned_targets_are_skipped():
    from certcheck.model import ScanError

    broken = ServerFacts(Target("x.test"), "x", error=ScanError("refused", "refused"))
    baseline, events = forecast([broken], Policy.build(), NOW, 30)
    assert baseline[0].overall == "error" and events == []


def run(*args):
    return subprocess.run([sys.executable, "-m", "certcheck", *args], capture_output=True,
                          text=True, timeout=60)


def test_check_cert_at_before_on_and_after_expiry(tmp_path):
    write(SAMPLES, tmp_path)
    not_after = x509.load_pem_x509_certificates(SAMPLES.get("good_rsa").chain_pem)[0]
    end = not_after.not_valid_after_utc
    args = ["check-cert", str(tmp_path / "good_rsa.pem"), "--ca-file", str(tmp_path / "ca.pem"),
            "--json", "-"]

    def rules_at(moment):
        done = run(*args, "--at", moment.isoformat())
        doc = json.loads(done.stdout)
        assert doc["evaluated_at"] == moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return {f["rule_id"] for f in doc["results"][0]["findings"]}, done.returncode

    assert rules_at(end - timedelta(days=40)) == (set(), 0)
    assert rules_at(end) == ({"cert_expiring_soon"}, 1)  # last valid second: error, 0 days left
    assert rules_at(end + timedelta(seconds=1)) == ({"cert_expired"}, 1)


def test_forecast_cli_with_saved_facts(tmp_path):
    write(SAMPLES, tmp_path)
    saved = tmp_path / "results.json"
    done = run("check-cert", str(tmp_path / "expiring_soon.pem"), "--ca-file",
               str(tmp_path / "ca.pem"), "--json", str(saved), "--at", NOW.isoformat())
    assert done.returncode == 1
    done = run("forecast", "--facts", str(saved), "--ca-file", str(tmp_path / "ca.pem"),
               "--at", NOW.isoformat(), "--days", "30", "--json", "-")
    doc = json.loads(done.stdout)
    assert done.returncode == 1
    assert doc["kind"] == "certcheck-forecast"
    assert [(e["rule_id"], e["at"]) for e in doc["events"]] == [
        ("cert_expired", "2026-11-27T12:00:01Z")
    ]
    bad = run("forecast", "--facts", str(tmp_path / "ca.pem"))
    assert bad.returncode == 2 and "not JSON" in bad.stderr


def test_forecast_from_a_monitor_config(tmp_path, sample_servers, sample_set):
    """--config scans the configured targets once and forecasts them."""
    server = sample_servers["expiring_soon"]
    ca = tmp_path / "ca.pem"
    ca.write_bytes(sample_set.root_pem)
    config = tmp_path / "certcheck.toml"
    config.write_text(
        "[monitor]\n"
        f'ca_file = "{ca}"\n'
        "[history]\n"
        'path = "history.db"\n'
        "[[targets]]\n"
        'host = "soon.example.test"\n'
        f"port = {server.port}\n"
        'resolve = "127.0.0.1"\n'
    )
    done = run("forecast", "--config", str(config), "--days", "10", "--json", "-")
    doc = json.loads(done.stdout)
    assert done.returncode == 1, done.stderr
    assert [e["rule_id"] for e in doc["events"]] == ["cert_expired"]
    bad = run("forecast", "--config", str(tmp_path / "missing.toml"))
    assert bad.returncode == 2 and "certcheck: error:" in bad.stderr


def test_a_certificate_that_becomes_valid_is_an_improvement_not_a_failure():
    policy = Policy.build(ca_pem=SAMPLES.root_pem)
    baseline, events = forecast([facts_for("not_yet_valid")], policy, NOW, 90)
    assert baseline[0].overall == "fail"
    valid_from = x509.load_pem_x509_certificates(
        SAMPLES.get("not_yet_valid").chain_pem
    )[0].not_valid_before_utc
    resolved = [e for e in events if e.change == "resolved"]
    assert [(e.rule_id, e.at) for e in resolved] == [("cert_not_yet_valid", valid_from)]
    recovers = sorted(e.platforms[0] for e in events if e.change == "verdict_recovers")
    assert recovers == ["android", "android_legacy", "ios"]
    assert all(e.better for e in resolved) and not any(
        e.better for e in events if e.change in ("new_finding", "verdict")
    )


def test_a_finding_replaced_by_a_worse_one_is_not_resolved():
    policy = Policy.build(ca_pem=SAMPLES.root_pem)
    _, events = forecast([facts_for("expiring_soon")], policy, NOW, 90)
    assert [e.change for e in events] == ["new_finding"]  # expired, not "soon resolved"
