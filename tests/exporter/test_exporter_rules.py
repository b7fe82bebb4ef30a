"""The shipped Prometheus alert rules check and pass their unit tests (promtool)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from paths import ROOT

RULES = ROOT / "rules" / "prometheus"
PROMTOOL = shutil.which("promtool")
# .ci/run installs Debian's prometheus package (which has promtool), so CI runs these.
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed")


@needs_promtool
def test_promtool_check_rules():
    done = subprocess.run(
        [PROMTOOL, "check", "rules", "certcheck.rules.yml"],
        cwd=RULES,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 5 rules found" in done.stdout


@needs_promtool
def test_promtool_test_rules():
    done = subprocess.run(
        [PROMTOOL, "test", "rules", "certcheck.rules.test.yml"],
        cwd=RULES,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_rules_use_metrics_the_exporter_emits():
    import re

    from certcheck.exporter.metrics import PROBE_METRICS

    text = (RULES / "certcheck.rules.yml").read_text()
    used = set(re.findall(r"\b(probe_[a-z_]+|certcheck_[a-z_]+)\b", text))
    exprs = "\n".join(line for line in text.splitlines() if "expr" in line or "time()" in line)
    metrics = {name for name in used if name in exprs}
    assert metrics and metrics <= set(PROBE_METRICS), metrics - set(PROBE_METRICS)
