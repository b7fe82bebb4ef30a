"""``--resolve '*.DOMAIN:PORT:ADDR'`` end to end: one entry sends a fleet of names to a real
loopback server, an exact entry still wins, and names outside the domain are not covered."""

from __future__ import annotations

import json


def test_one_wildcard_resolves_every_name_below_its_domain(
    run_cli, sample_servers, sample_dir, tmp_path
):
    port = sample_servers["wildcard"].port
    names = ["api", "a", "b.c"]
    out = tmp_path / "out.jsonl"
    proc = run_cli(
        "scan",
        *(f"{name}.wild.example.test:{port}" for name in names),
        f"other.wild.example.test:{port}",  # the exact entry below points nowhere
        "--resolve", f"*.wild.example.test:{port}:127.0.0.1",
        "--resolve", f"other.wild.example.test:{port}:127.0.0.9",
        "--ca-file", sample_dir / "ca.pem", "--timeout", "3", "--jsonl", out,
    )  # fmt: skip
    assert proc.returncode in (0, 1, 2), proc.stderr
    results = {r["target"]["host"]: r for r in map(_result, out.read_text().splitlines())}
    assert set(results) == {f"{n}.wild.example.test" for n in names} | {"other.wild.example.test"}
    for name in ("api", "a"):
        host = f"{name}.wild.example.test"
        assert results[host]["facts"]["error"] is None, results[host]["facts"]["error"]
        assert results[host]["target"]["connect_addr"] == "127.0.0.1"
        assert "hostname_mismatch" not in _rules(results[host])
    # b.c is reached too, and *.wild.example.test in the certificate does not cover it
    deep = results["b.c.wild.example.test"]
    assert deep["facts"]["error"] is None and "hostname_mismatch" in _rules(deep)
    other = results["other.wild.example.test"]
    assert other["target"]["connect_addr"] == "127.0.0.9" and other["facts"]["error"]


def test_a_name_outside_the_wildcard_is_not_sent_to_its_address(run_cli, sample_dir, tmp_path):
    out = tmp_path / "out.jsonl"
    proc = run_cli(
        "scan", "wild.example.test:1", "--resolve", "*.wild.example.test:1:127.0.0.1",
        "--ca-file", sample_dir / "ca.pem", "--timeout", "2", "--jsonl", out,
    )  # fmt: skip
    assert proc.returncode != 0
    (line,) = out.read_text().splitlines()
    result = _result(line)
    assert result["target"]["connect_addr"] is None and result["facts"]["error"]


def _result(line: str) -> dict:
    return json.loads(line)["result"]


def _rules(result: dict) -> set[str]:
    return {f["rule_id"] for f in result["findings"]}
