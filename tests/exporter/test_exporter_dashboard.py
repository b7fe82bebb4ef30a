"""The Grafana dashboard is valid JSON and only queries metrics the exporter emits."""

from __future__ import annotations

import json
import re

from paths import ROOT

from certcheck.exporter.metrics import PROBE_METRICS

DASHBOARD = ROOT / "rules" / "grafana" / "certcheck-dashboard.json"
#: PromQL words that are not metric names
PROMQL = {"sum", "by", "time", "without", "avg", "min", "max", "count", "and", "or"}


def test_every_panel_queries_exported_metrics():
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    titles = " ".join(p["title"].lower() for p in panels)
    for wanted in ("days left", "verdict", "findings", "probe success"):
        assert wanted in titles
    seen: set[str] = set()
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            expr = re.sub(r'\{[^}]*\}|"[^"]*"|\([a-z_, ]*\)\s*\(', " ", target["expr"])
            names = set(re.findall(r"\b[a-z_][a-z0-9_]*\b", expr)) - PROMQL
            assert names, target["expr"]
            assert names <= set(PROBE_METRICS), (panel["title"], names - set(PROBE_METRICS))
            seen |= names
    assert {"certcheck_verdict", "certcheck_findings", "probe_success"} <= seen
