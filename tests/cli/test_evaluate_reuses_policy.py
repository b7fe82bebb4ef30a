"""``evaluate`` judges saved facts with the policy the scan used, unless told otherwise."""

from __future__ import annotations

import json

import pytest

from certcheck.localserver import ServerSpec, serving


@pytest.fixture(scope="module")
def saved(sample_set, sample_dir, tmp_path_factory, run_cli):
    sample = sample_set.get("good_rsa")
    folder = tmp_path_factory.mktemp("facts")
    facts = folder / "facts.json"
    with serving([ServerSpec("good", sample.chain_pem, sample.key_pem)]) as (server,):
        target = f"{sample.host}:{server.port}"
        proc = run_cli("scan", target, "--resolve", f"{target}:127.0.0.1",
                       "--ca-file", sample_dir / "ca.pem", "--profile", "ats",
                       "--save-facts", facts, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    return facts


def _overall(proc) -> dict:
    (result,) = json.loads(proc.stdout)["results"]
    return result


def test_the_recorded_anchors_and_profile_are_reused(run_cli, saved):
    document = json.loads(saved.read_text(encoding="utf-8"))
    assert document["policy"]["profile"] == "ats"
    assert "BEGIN CERTIFICATE" in document["policy"]["ca_pem"]
    proc = run_cli("evaluate", saved, "--json", "-")
    result = _overall(proc)
    rules = {f["rule_id"] for f in result["findings"]}
    assert "untrusted_root" not in rules, rules  # the sample CA of the scan still counts
    assert json.loads(proc.stdout)["profile"] == "ats"
    assert "as scanned: profile ats" in proc.stderr and "--ca-file anchor" in proc.stderr


def test_options_given_again_win(run_cli, saved, tmp_path):
    proc = run_cli("evaluate", saved, "--profile", "strict", "--json", "-")
    assert json.loads(proc.stdout)["profile"] == "strict"
    # without the recorded policy (a facts file someone wrote by hand) nothing is assumed
    document = json.loads(saved.read_text(encoding="utf-8"))
    del document["policy"]
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(document), encoding="utf-8")
    result = _overall(run_cli("evaluate", bare, "--json", "-"))
    assert "untrusted_root" in {f["rule_id"] for f in result["findings"]}
