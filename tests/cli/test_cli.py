"""The ``certcheck`` command line, run as a real subprocess.

Scans only ever reach loopback servers started here: every host name is mapped
to 127.0.0.1 with ``--resolve``, and the names are under the reserved
``example.test`` domain.
"""

from __future__ import annotations

import json
import re
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest

from certcheck.localserver import serving

RESULT_PLATFORMS = {"ios", "android", "android_legacy"}


def problems(result: dict) -> list[str]:
    """Rule ids of the warning and error findings of one JSON result (info ones left out)."""
    return [f["rule_id"] for f in result["findings"] if f["severity"] != "info"]


def resolve_args(host: str, port: int) -> list[str]:
    return [f"{host}:{port}", "--resolve", f"{host}:{port}:127.0.0.1"]


def assert_usage_error(proc, *needles: str) -> str:
    """Exit 2, one line on stderr starting 'certcheck: error:', no traceback."""
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("certcheck: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory, sample_dir):
    """Odd input files for the usage-error tests."""
    root = tmp_path_factory.mktemp("inputs")
    garbage = root / "garbage.pem"
    garbage.write_text("this is not a certificate\n")
    not_json = root / "notjson.json"
    not_json.write_text("{ not json\n")
    wrong_kind = root / "wrongkind.json"
    wrong_kind.write_text(json.dumps({"schema_version": "1.0", "kind": "something-else"}))
    no_schema = root / "noschema.json"
    no_schema.write_text(json.dumps({"results": []}))
    bad_targets = root / "targets.txt"
    bad_targets.write_text("# comment\ngood.example.test\n\nbad host.example.test\n")
    empty_targets = root / "empty.txt"
    empty_targets.write_text("# nothing here\n\n")
    binary_targets = root / "binary.txt"
    binary_targets.write_bytes(b"\xff\xfe\x00bad")
    return {
        "garbage": garbage,
        "not_json": not_json,
        "wrong_kind": wrong_kind,
        "no_schema": no_schema,
        "bad_targets": bad_targets,
        "empty_targets": empty_targets,
        "binary_targets": binary_targets,
        "dir": root,
        "missing": root / "does-not-exist.pem",
        "ca": sample_dir / "ca.pem",
    }


BAD_COMMAND_LINES = {
    "unknown-option": (["scan", "--bogus", "x.example.test"], ["--bogus"]),
    "bad-fail-on": (["scan", "--fail-on", "bogus", "x.example.test"], ["--fail-on"]),
    "ftp-scheme": (["scan", "ftp://x.example.test"], ["ftp"]),
    "space": (["scan", "a b"], ["white space"]),
    "port-zero": (["scan", "x.example.test:0"], ["port 0"]),
    "port-too-big": (["scan", "x.example.test:99999"], ["99999"]),
    "port-not-number": (["scan", "x.example.test:https"], ["not a number"]),
    "unclosed-bracket": (["scan", "[::1"], ["["]),
    "empty-host": (["scan", "https://:443"], ["empty host"]),
    "label-64": (["scan", "a" * 64 + ".example.test"], ["longer than 63"]),
    "bad-label": (["scan", "x.bad-.example.test"], ["'bad-' is not a valid host name label"]),
    "userinfo": (["scan", "https://user:pw@x.example.test"], ["user names"]),
    "no-target": (["scan"], ["no target"]),
    "timeout-zero": (["scan", "x.example.test", "--timeout", "0"], ["--timeout"]),
    "concurrency-zero": (["scan", "x.example.test", "--concurrency", "0"], ["--concurrency"]),
    "resolve-shape": (["scan", "x.example.test", "--resolve", "bad"], ["--resolve", "bad"]),
    "resolve-not-ip": (
        ["scan", "x.example.test", "--resolve", "x.example.test:443:not-an-ip"],
        ["not-an-ip"],
    ),
    "resolve-port": (
        ["scan", "x.example.test", "--resolve", "x.example.test:http:127.0.0.1"],
        ["--resolve", "not a number"],
    ),
    "distrust-short": (["scan", "x.example.test", "--distrust", "abc"], ["--distrust", "abc"]),
    "distrust-not-hex": (["scan", "x.example.test", "--distrust", "zz" * 32], ["--distrust"]),
    "unknown-profile": (
        ["scan", "x.example.test", "--profile", "nope"],
        ["--profile", "nope", "wechat"],
    ),
    "negative-warn-days": (["scan", "x.example.test", "--warn-days", "-1"], ["--warn-days"]),
    "unknown-command": (["frobnicate"], ["frobnicate"]),
}


@pytest.mark.parametrize("name", sorted(BAD_COMMAND_LINES))
def test_bad_command_line(usage_runs, name):
    _args, needles = BAD_COMMAND_LINES[name]
    assert_usage_error(usage_runs[name], *needles)


FILE_ERRORS = {
    "missing-targets-file": (["scan", "--targets-file", "{missing}"], ["does-not-exist"]),
    "empty-targets-file": (["scan", "--targets-file", "{empty_targets}"], ["no targets"]),
    "binary-targets-file": (["scan", "--targets-file", "{binary_targets}"], ["UTF-8"]),
    "garbage-ca-file": (["scan", "x.example.test", "--ca-file", "{garbage}"], ["garbage.pem"]),
    "missing-ca-file": (["scan", "x.example.test", "--ca-file", "{missing}"], ["--ca-file"]),
    "directory-ca-file": (["scan", "x.example.test", "--ca-file", "{dir}"], ["--ca-file"]),
    "evaluate-not-json": (["evaluate", "{not_json}"], ["notjson.json", "not JSON"]),
    "evaluate-wrong-kind": (["evaluate", "{wrong_kind}"], ["wrongkind.json", "kind"]),
    "evaluate-no-schema": (["evaluate", "{no_schema}"], ["schema_version"]),
    "evaluate-missing": (["evaluate", "{missing}"], ["does-not-exist"]),
    "evaluate-certificate": (["evaluate", "{ca}"], ["not JSON"]),
    "check-cert-garbage": (["check-cert", "{garbage}"], ["garbage.pem"]),
    "check-cert-missing": (["check-cert", "{missing}"], ["does-not-exist"]),
    "check-cert-json": (["check-cert", "{wrong_kind}"], ["wrongkind.json"]),
    "check-cert-bad-host": (["check-cert", "{ca}", "--host", "a b"], ["--host"]),
    "check-cert-bad-profile": (
        ["check-cert", "{ca}", "--host", "x.example.test", "--profile", "x"],
        ["--profile"],
    ),
    "check-cert-ca-without-host": (["check-cert", "{ca}"], ["not a host name", "--host"]),
}


@pytest.mark.parametrize("name", sorted(FILE_ERRORS))
def test_bad_files(usage_runs, name):
    _args, needles = FILE_ERRORS[name]
    assert_usage_error(usage_runs[name], *needles)


@pytest.fixture(scope="module")
def usage_runs(run_cli, files):
    """Every bad command line above, run as subprocesses a few at a time (start-up dominates)."""
    commands = {name: args for name, (args, _) in BAD_COMMAND_LINES.items()}
    commands.update(
        {name: [a.format(**files) for a in args] for name, (args, _) in FILE_ERRORS.items()}
    )
    assert len(commands) == len(BAD_COMMAND_LINES) + len(FILE_ERRORS)
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(run_cli, *args, timeout=60) for name, args in commands.items()}
        return {name: future.result() for name, future in futures.items()}


def test_bad_line_in_targets_file_names_file_and_line(run_cli, files):
    line = assert_usage_error(run_cli("scan", "--targets-file", files["bad_targets"], timeout=30))
    assert f"{files['bad_targets']}:4:" in line
    assert "bad host.example.test" in line


def test_no_arguments_prints_help(run_cli):
    proc = run_cli(timeout=30)
    assert proc.returncode == 2
    assert "Usage:" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


# -- help and version -------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["scan", "--help"], ["--help"], ["check-cert", "-h"]])
def test_help_mentions_exit_codes(run_cli, args):
    proc = run_cli(*args, timeout=30)
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    assert "Exit codes: 0 every target compliant" in text
    assert "2 usage error" in text
    assert "3 at least one target could not be scanned" in text


def test_scan_help_lists_options(run_cli):
    text = run_cli("scan", "--help", timeout=30).stdout
    for option in ("--resolve", "--ca-file", "--fail-on", "--json", "--save-facts", "--timeout"):
        assert option in text


def test_version(run_cli):
    from certcheck import __version__

    proc = run_cli("version", timeout=30)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"certcheck {__version__}"


# -- demo -------------------------------------------------------------------------------------


def test_demo_console(run_cli):
    proc = run_cli("demo", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines() if line.strip()]
    verdict_rows = [r for r in rows if r[0] in ("PASS", "WARN", "FAIL", "ERROR") and len(r) > 1]
    assert len(verdict_rows) == 9, proc.stdout
    assert any(r[0] == "PASS" and r[1].startswith("good.example.test:") for r in verdict_rows)
    assert sum(r[0] == "FAIL" for r in verdict_rows) >= 5
    assert not any(r[0] == "ERROR" for r in verdict_rows)
    assert "cert_expired" in proc.stdout
    assert "hostname_mismatch" in proc.stdout


def test_demo_json(run_cli):
    proc = run_cli("demo", "--json", "-", timeout=120)
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)  # nothing but the JSON document on stdout
    assert document["schema_version"] == "1.0"
    assert document["kind"] == "certcheck-results"
    assert len(document["results"]) == 9
    assert all(r["status"] == "scanned" for r in document["results"])
    by_host = {r["target"]["host"]: r for r in document["results"]}
    assert by_host["good.example.test"]["overall"] == "pass"
    assert by_host["expired.example.test"]["overall"] == "fail"
    assert document["exit_code"] == 1  # the demo exits 0, the document tells the truth


# -- scan against a loopback server -----------------------------------------------------------


@pytest.fixture(scope="module")
def tls12_only_server(sample_set, spec_for):
    with serving([spec_for(sample_set.get("good_rsa"), max_version="TLSv1.2")]) as (server,):
        yield server


@pytest.fixture(scope="module")
def closed_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    yield sock.getsockname()[1]
    sock.close()


def test_scan_json_and_saved_facts_round_trip(
    run_cli, sample_set, sample_servers, sample_dir, tmp_path
):
    host = sample_set.get("good_rsa").host
    port = sample_servers["good_rsa"].port
    facts_file = tmp_path / "facts.json"
    ca = sample_dir / "ca.pem"
    proc = run_cli(
        "scan",
        *resolve_args(host, port),
        "--ca-file",
        ca,
        "--json",
        "-",
        "--save-facts",
        facts_file,
        "--timeout",
        "5",
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert document["schema_version"] == "1.0"
    assert document["kind"] == "certcheck-results"
    assert document["exit_code"] == 0
    (result,) = document["results"]
    assert result["target"]["host"] == host
    assert result["target"]["port"] == port
    assert result["target"]["connect_addr"] == "127.0.0.1"
    assert result["status"] == "scanned"
    assert set(result["verdicts"]) == RESULT_PLATFORMS
    assert result["verdicts"]["ios"] == "pass"
    assert len(result["facts"]["chain"]) == 2
    assert result["facts"]["address"] == "127.0.0.1"
    assert result["certificate"]["trusted"] is True
    assert problems(result) == ["legacy_tls_missing"]

    saved = json.loads(facts_file.read_text(encoding="utf-8"))
    assert saved["kind"] == "certcheck-facts"
    assert saved["facts"][0]["chain"] == result["facts"]["chain"]

    again = run_cli("evaluate", facts_file, "--ca-file", ca, "--json", "-", timeout=60)
    assert again.returncode == 0, again.stderr
    (re_result,) = json.loads(again.stdout)["results"]
    assert re_result["findings"] == result["findings"]
    assert re_result["verdicts"] == result["verdicts"]
    assert re_result["facts"] == result["facts"]

    # A results document can be evaluated again too, here under a stricter profile.
    results_file = tmp_path / "results.json"
    results_file.write_text(proc.stdout, encoding="utf-8")
    strict = run_cli(
        "evaluate", results_file, "--ca-file", ca, "--profile", "strict", "--json", "-", timeout=60
    )
    assert strict.returncode == 0, strict.stderr
    (strict_result,) = json.loads(strict.stdout)["results"]
    assert json.loads(strict.stdout)["profile"] == "strict"
    # strict: expiry warnings from 45 days (the sample leaf has 44 left), old Android is info.
    strict_findings = {(f["rule_id"], f["severity"]) for f in strict_result["findings"]}
    assert {("cert_expiring_soon", "warning"), ("legacy_tls_missing", "info")} <= strict_findings
    assert problems(strict_result) == ["cert_expiring_soon"]


def test_scan_targets_file(run_cli, sample_set, sample_servers, sample_dir, tmp_path):
    good = sample_set.get("good_ecdsa")
    port = sample_servers["good_ecdsa"].port
    targets = tmp_path / "targets.txt"
    targets.write_text(f"# loopback only\nhttps://{good.host}:{port}/path  # trailing comment\n")
    proc = run_cli(
        "scan",
        "--targets-file",
        targets,
        "--resolve",
        f"{good.host}:{port}:127.0.0.1",
        "--ca-file",
        sample_dir / "ca.pem",
        "--json",
        "-",
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    (result,) = json.loads(proc.stdout)["results"]
    assert result["target"]["host"] == good.host
    assert result["target"]["path"] == "/path"
    assert result["certificate"]["leaf"]["key"] == "EC-secp256r1"


# -- exit codes -------------------------------------------------------------------------------


def _scan(run_cli, sample_dir, host, port, *extra):
    return run_cli(
        "scan",
        *resolve_args(host, port),
        "--ca-file",
        sample_dir / "ca.pem",
        "--timeout",
        "5",
        *extra,
        timeout=60,
    )


def test_exit_0_for_good_server_with_warnings_only(run_cli, sample_set, sample_servers, sample_dir):
    proc = _scan(run_cli, sample_dir, "good.example.test", sample_servers["good_rsa"].port)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^WARN\s+good\.example\.test:\d+", proc.stdout, re.MULTILINE)
    assert "legacy_tls_missing" in proc.stdout


def test_exit_0_and_pass_for_good_server_with_tls10(run_cli, sample_servers, sample_dir):
    port = sample_servers["legacy_tls"].port
    proc = _scan(run_cli, sample_dir, "legacy.example.test", port)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^PASS\s+legacy\.example\.test:\d+", proc.stdout, re.MULTILINE)
    proc = _scan(run_cli, sample_dir, "legacy.example.test", port, "--fail-on", "warning")
    assert proc.returncode == 0
    # legacy_tls_enabled is an info finding: --fail-on info counts it.
    proc = _scan(run_cli, sample_dir, "legacy.example.test", port, "--fail-on", "info")
    assert proc.returncode == 1


def test_exit_1_for_expired(run_cli, sample_servers, sample_dir):
    proc = _scan(run_cli, sample_dir, "expired.example.test", sample_servers["expired"].port)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "cert_expired" in proc.stdout
    assert re.search(r"^FAIL\s+expired\.example\.test:\d+", proc.stdout, re.MULTILINE)


def test_exit_3_for_closed_port(run_cli, sample_dir, closed_port):
    proc = _scan(run_cli, sample_dir, "closed.example.test", closed_port, "--json", "-")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    document = json.loads(proc.stdout)
    assert document["exit_code"] == 3
    assert document["results"][0]["status"] == "error"
    assert document["results"][0]["facts"]["error"]["kind"] == "refused"


def test_fail_on_warning_for_tls12_only_server(run_cli, sample_dir, tls12_only_server):
    port = tls12_only_server.port
    proc = _scan(run_cli, sample_dir, "good.example.test", port)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = _scan(
        run_cli, sample_dir, "good.example.test", port, "--fail-on", "warning", "--json", "-"
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (result,) = json.loads(proc.stdout)["results"]
    assert result["facts"]["protocols"]["TLSv1.3"] is False
    assert result["facts"]["protocols"]["TLSv1.2"] is True
    assert problems(result) == ["legacy_tls_missing"]


def test_scan_without_ca_file_fails_untrusted(run_cli, sample_servers):
    port = sample_servers["good_rsa"].port
    proc = run_cli("scan", *resolve_args("good.example.test", port), "--timeout", "5", timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "untrusted_root" in proc.stdout


# -- check-cert -------------------------------------------------------------------------------


def _check(run_cli, sample_dir, name, *extra):
    return run_cli("check-cert", sample_dir / f"{name}.pem", *extra, timeout=60)


def test_check_cert_good(run_cli, sample_dir):
    ca = sample_dir / "ca.pem"
    proc = _check(run_cli, sample_dir, "good_rsa", "--host", "good.example.test", "--ca-file", ca)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^PASS\s+good\.example\.test:443", proc.stdout, re.MULTILINE)
    proc = _check(
        run_cli,
        sample_dir,
        "good_rsa",
        "--host",
        "good.example.test",
        "--ca-file",
        ca,
        "--json",
        "-",
    )
    (result,) = json.loads(proc.stdout)["results"]
    assert problems(result) == []
    assert result["overall"] == "pass"
    assert result["facts"]["source"] == "file"
    assert result["facts"]["protocols"] == {}


def test_check_cert_expired(run_cli, sample_dir):
    proc = _check(
        run_cli,
        sample_dir,
        "expired",
        "--host",
        "expired.example.test",
        "--ca-file",
        sample_dir / "ca.pem",
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "cert_expired" in proc.stdout


def test_check_cert_wrong_host(run_cli, sample_dir):
    ca = sample_dir / "ca.pem"
    proc = _check(
        run_cli,
        sample_dir,
        "wrong_host",
        "--host",
        "wronghost.example.test",
        "--ca-file",
        ca,
        "--json",
        "-",
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (result,) = json.loads(proc.stdout)["results"]
    mismatch = [f for f in result["findings"] if f["rule_id"] == "hostname_mismatch"]
    assert mismatch and mismatch[0]["evidence"]["san"] == ["other.example.test"]


@pytest.mark.parametrize(
    ("name", "host"),
    [
        ("good_rsa", "good.example.test"),
        ("wrong_host", "other.example.test"),
        ("wildcard", "wildcard.wild.example.test"),
    ],
)
def test_check_cert_without_host_uses_the_san(run_cli, sample_dir, name, host):
    proc = _check(run_cli, sample_dir, name, "--ca-file", sample_dir / "ca.pem", "--json", "-")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (result,) = json.loads(proc.stdout)["results"]
    assert result["target"]["host"] == host
    assert problems(result) == []


def test_check_cert_without_ca_file_is_untrusted(run_cli, sample_dir):
    proc = _check(run_cli, sample_dir, "good_rsa", "--json", "-")
    assert proc.returncode == 1
    (result,) = json.loads(proc.stdout)["results"]
    assert "untrusted_root" in [f["rule_id"] for f in result["findings"]]
    assert "chain_incomplete" not in [f["rule_id"] for f in result["findings"]]


def test_check_cert_leaf_only_is_incomplete(run_cli, sample_dir):
    proc = _check(
        run_cli,
        sample_dir,
        "missing_intermediate",
        "--ca-file",
        sample_dir / "ca.pem",
        "--json",
        "-",
    )
    assert proc.returncode == 1
    (result,) = json.loads(proc.stdout)["results"]
    assert problems(result) == ["chain_incomplete"]


def test_check_cert_der_file(run_cli, sample_dir, tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    pem = (sample_dir / "good_rsa.pem").read_bytes()
    der = tmp_path / "leaf.der"
    der.write_bytes(x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER))
    proc = run_cli("check-cert", der, "--ca-file", sample_dir / "ca.pem", "--json", "-", timeout=60)
    assert proc.returncode == 1  # the leaf alone: the intermediate is missing
    (result,) = json.loads(proc.stdout)["results"]
    assert result["target"]["host"] == "good.example.test"
    assert problems(result) == ["chain_incomplete"]
