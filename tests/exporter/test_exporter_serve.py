"""``certcheck serve`` end to end: a subprocess against loopback TLS servers."""

from __future__ import annotations

import math
import signal
import subprocess
import threading

import pytest
from exporterkit import Served, config_with
from monitorkit import MiniCA, config_text, serve
from prometheus_client.parser import text_string_to_metric_families


@pytest.fixture
def ca(tmp_path):
    authority = MiniCA()
    (tmp_path / "ca.pem").write_bytes(authority.pem)
    return authority


def families(text: str) -> dict[str, list]:
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def value(samples: list, name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
    assert len(found) == 1, (name, labels, samples)
    return found[0]


@pytest.fixture
def served(ca, tmp_path, certcheck_cmd):
    good = serve(ca, "good.example.test", days=10)
    path = tmp_path / "certcheck.toml"
    base = config_text(
        [("good.example.test", good.port)], 'path = "h.db"', ca_file=tmp_path / "ca.pem"
    )
    path.write_text(config_with(base, '[serve]\nallow = ["*.allowed.test"]\ncache_seconds = 60\n'))
    server = Served(certcheck_cmd, path)
    try:
        yield server, good
    finally:
        server.stop()
        good.stop()


def test_probe_answers_blackbox_and_certcheck_metrics(served):
    server, good = served
    status, text = server.get(f"/probe?target=good.example.test:{good.port}")
    assert status == 200, text
    got = families(text)
    assert value(got["probe_success"], "probe_success") == 1
    assert value(got["probe_duration_seconds"], "probe_duration_seconds") > 0
    assert value(got["probe_ssl_earliest_cert_expiry"], "probe_ssl_earliest_cert_expiry") > 0
    versions = [s.labels["version"] for s in got["probe_tls_version_info"]]
    assert versions == ["TLS 1.3"]
    days = value(got["certcheck_cert_days_left"], "certcheck_cert_days_left", position="0")
    assert 9 < days <= 10
    verdicts = {s.labels["platform"]: s for s in got["certcheck_verdict"]}
    assert {"ios", "android"} <= verdicts.keys()
    for sample in verdicts.values():
        state = sample.labels["verdict"]
        expected = {"pass": 1.0, "warn": 0.0, "fail": 0.0}.get(state)
        assert math.isnan(sample.value) if expected is None else sample.value == expected
    # 10 days left: the expiry rule fires at some severity
    rules = {s.labels["rule"] for s in got["certcheck_findings"]}
    assert any("expir" in rule for rule in rules), rules


def test_forbidden_missing_and_cache_counted(served):
    server, good = served
    status, body = server.get("/probe?target=evil.test:443")
    assert (status, body.strip()) == (403, "target evil.test:443 is not configured or allowed")
    assert server.get(f"/probe?target=good.example.test:{good.port + 1}")[0] == 403
    assert server.get("/probe")[0] == 400
    assert server.get("/probe?target=good.example.test:1&profile=nope")[0] == 403
    target = f"/probe?target=good.example.test:{good.port}"
    results: list[tuple[int, str]] = []
    threads = [
        threading.Thread(target=lambda: results.append(server.get(target))) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r[0] for r in results] == [200, 200, 200]
    assert server.get(target)[0] == 200
    own = families(server.get("/metrics")[1])
    assert value(own["certcheck_exporter_scans"], "certcheck_exporter_scans_total") == 1
    assert value(own["certcheck_exporter_cache_hits"], "certcheck_exporter_cache_hits_total") == 3
    forbidden = value(
        own["certcheck_exporter_forbidden_requests"], "certcheck_exporter_forbidden_requests_total"
    )
    assert forbidden == 3


def test_allow_pattern_and_unreachable_target(served):
    server, _ = served
    status, text = server.get("/probe?target=nothing.allowed.test:1")
    assert status == 200, text
    got = families(text)
    assert value(got["probe_success"], "probe_success") == 0
    own = families(server.get("/metrics")[1])
    errors = value(own["certcheck_exporter_scan_errors"], "certcheck_exporter_scan_errors_total")
    assert errors == 1


def test_sigterm_exits_cleanly(served):
    server, _ = served
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=20) == 0
    _, stderr = server.proc.communicate()
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    ("serve_table", "message"),
    [
        ("[serve]\ncache_seconds = -1\n", "serve.cache_seconds"),
        ('[serve]\nmax_concurrent_scans = "4"\n', "serve.max_concurrent_scans"),
        ("[serve]\nlisten = 1\n", "serve.listen"),
        ('[serve]\nallow = [""]\n', "serve.allow.0: empty host pattern"),
    ],
)
def test_bad_serve_config_is_a_clear_error(tmp_path, certcheck_cmd, serve_table, message):
    path = tmp_path / "certcheck.toml"
    base = config_text([("a.test", 443)], 'path = "h.db"', ca_file=tmp_path / "ca.pem")
    (tmp_path / "ca.pem").write_bytes(MiniCA().pem)
    path.write_text(config_with(base, serve_table))
    done = subprocess.run(
        [*certcheck_cmd, "serve", "--config", str(path), "--listen", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_config_and_bad_listen(tmp_path, certcheck_cmd):
    for args in (
        ["--config", str(tmp_path / "none.toml")],
        ["--config", str(tmp_path / "none.toml"), "--listen", "nonsense"],
    ):
        done = subprocess.run(
            [*certcheck_cmd, "serve", *args], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr and done.stderr.strip()
