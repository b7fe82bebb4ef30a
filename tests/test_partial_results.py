"""A target whose probe ran out of time says so: status partial, no 'pass' it cannot know,
exit code 3 (not 0) when nothing failed."""

from __future__ import annotations

import json

import pytest

from certcheck.localserver import ServerSpec, serving


@pytest.fixture(scope="module")
def good_server(sample_set):
    sample = sample_set.get("good_rsa")
    with serving([ServerSpec("good", sample.chain_pem, sample.key_pem)]) as (server,):
        yield sample.host, server.port


def test_a_probe_cut_short_by_its_budget_is_partial(run_cli, good_server, sample_dir, tmp_path):
    host, port = good_server
    out = tmp_path / "r.json"
    # one new connection every 2 s against a 6 x 1 s budget: most probes never start
    proc = run_cli("scan", f"{host}:{port}", "--resolve", f"{host}:{port}:127.0.0.1",
                   "--ca-file", sample_dir / "ca.pem", "--rate", "0.5", "--timeout", "1",
                   "--json", out, timeout=120)
    document = json.loads(out.read_text(encoding="utf-8"))
    (result,) = document["results"]
    assert result["status"] == "partial"
    assert "pass" not in result["verdicts"].values()
    assert "unknown" in result["verdicts"].values()
    assert proc.returncode == document["exit_code"] == 3, proc.stdout
    assert "PARTIAL" in proc.stdout and "ran out of time" in proc.stdout


def test_the_same_target_with_time_enough_is_scanned(run_cli, good_server, sample_dir, tmp_path):
    host, port = good_server
    out = tmp_path / "r.json"
    run_cli("scan", f"{host}:{port}", "--resolve", f"{host}:{port}:127.0.0.1",
            "--ca-file", sample_dir / "ca.pem", "--json", out, timeout=120)
    (result,) = json.loads(out.read_text(encoding="utf-8"))["results"]
    assert result["status"] == "scanned"


def test_without_a_terminal_progress_is_a_line_on_stderr(certcheck_cmd, sample_set, sample_dir):
    import os
    import subprocess

    sample = sample_set.get("good_rsa")
    with serving([ServerSpec(f"g{i}", sample.chain_pem, sample.key_pem) for i in range(3)]) as s:
        args = []
        for server in s:
            target = f"{sample.host}:{server.port}"
            args += [target, "--resolve", f"{target}:127.0.0.1"]
        env = {**os.environ, "CERTCHECK_PROGRESS_SECONDS": "0"}
        common = [*certcheck_cmd, "scan", *args, "--ca-file", str(sample_dir / "ca.pem")]
        loud = subprocess.run(common, capture_output=True, text=True, env=env, timeout=120)
        quiet = subprocess.run([*common, "--quiet"], capture_output=True, text=True, env=env,
                               timeout=120)
    lines = [ln for ln in loud.stderr.splitlines() if "target(s) done" in ln]
    assert lines[-1].startswith("certcheck: 3 of 3 target(s) done"), loud.stderr
    assert "ETA" in lines[0]
    assert "target(s) done" not in quiet.stderr
    assert quiet.returncode == loud.returncode  # only the progress lines differ
