"""A target that never answers holds up neither other scrapes nor /metrics."""

from __future__ import annotations

import threading
import time

from exporterkit import Served, config_with, get
from monitorkit import HangingServer, MiniCA, config_text, serve
from prometheus_client.parser import text_string_to_metric_families


def test_slow_target_does_not_block_other_scrapes(tmp_path, certcheck_cmd):
    ca = MiniCA()
    (tmp_path / "ca.pem").write_bytes(ca.pem)
    good = serve(ca, "good.example.test")
    hanging = HangingServer()
    path = tmp_path / "certcheck.toml"
    base = config_text(
        [("good.example.test", good.port), ("slow.example.test", hanging.port)],
        'path = "h.db"',
        ca_file=tmp_path / "ca.pem",
    )
    path.write_text(config_with(base, "[serve]\nmax_concurrent_scans = 2\nscan_timeout = 30\n"))
    server = Served(certcheck_cmd, path)
    try:
        slow: list[tuple[int, str]] = []
        thread = threading.Thread(
            target=lambda: slow.append(
                server.get(f"/probe?target=slow.example.test:{hanging.port}")
            )
        )
        thread.start()
        time.sleep(0.5)
        started = time.monotonic()
        status, text = server.get(f"/probe?target=good.example.test:{good.port}")
        assert status == 200
        assert thread.is_alive(), "the slow scan should still be running"
        assert get(f"{server.base}/metrics", timeout=5)[0] == 200
        assert time.monotonic() - started < 20
        success = {
            s.name: s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.name == "probe_success"
        }
        assert success == {"probe_success": 1.0}
        thread.join(timeout=60)
        assert slow and slow[0][0] == 200
        assert "probe_success 0.0" in slow[0][1]
    finally:
        server.stop()
        hanging.stop()
        good.stop()
