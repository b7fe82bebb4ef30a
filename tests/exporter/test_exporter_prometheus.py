"""A real Prometheus scrapes ``certcheck serve``'s /probe (blackbox-style relabeling)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse

import pytest
from exporterkit import Served, config_with, free_port, get
from monitorkit import MiniCA, config_text, serve

PROMETHEUS = shutil.which("prometheus")


@pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed (.ci/run installs it)")
def test_prometheus_scrapes_probe(tmp_path, certcheck_cmd):
    ca = MiniCA()
    (tmp_path / "ca.pem").write_bytes(ca.pem)
    good = serve(ca, "good.example.test")
    path = tmp_path / "certcheck.toml"
    base = config_text(
        [("good.example.test", good.port)], 'path = "h.db"', ca_file=tmp_path / "ca.pem"
    )
    path.write_text(config_with(base, "[serve]\ncache_seconds = 5\n"))
    exporter = Served(certcheck_cmd, path)
    port = free_port()
    (tmp_path / "prometheus.yml").write_text(
        f"""global:
  scrape_interval: 2s
  evaluation_interval: 1s
scrape_configs:
  - job_name: certcheck
    metrics_path: /probe
    scrape_timeout: 2s
    static_configs:
      - targets: ["good.example.test:{good.port}"]
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: 127.0.0.1:{exporter.port}
"""
    )
    prom = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        query = urllib.parse.quote("certcheck_verdict")
        deadline = time.monotonic() + 60
        result: list = []
        while time.monotonic() < deadline and not result:
            time.sleep(1)
            try:
                status, body = get(f"http://127.0.0.1:{port}/api/v1/query?query={query}", 5)
            except OSError:
                continue
            if status == 200:
                result = json.loads(body)["data"]["result"]
        assert result, "Prometheus never stored a certcheck_verdict sample"
        labels = result[0]["metric"]
        assert labels["instance"] == f"good.example.test:{good.port}"
        assert labels["job"] == "certcheck"
        assert {r["metric"]["platform"] for r in result} >= {"ios", "android"}
    finally:
        prom.terminate()
        try:
            prom.wait(timeout=20)
        except subprocess.TimeoutExpired:
            prom.kill()
        exporter.stop()
        good.stop()
