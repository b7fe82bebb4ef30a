"""Text from servers and files never drives the terminal or reorders a report.

A real loopback server presents a certificate whose CN and SAN carry ESC sequences (set
the window title, clear the screen, recolour), a C1 CSI, BEL, a U+202E bidi override and
rich markup (``[link=…]``).  The console (plain and with colours forced), the HTML
report, JUnit XML, mini-program output and alerts show them as escapes; the JSON
document keeps the exact strings.  ``evaluate`` over a facts file with the same strings
in its own fields is held to the same rule.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st
from rich.table import Table
from rich.text import Text

from certcheck.localserver import ServerSpec, serving
from certcheck.monitor.alerts import Message
from certcheck.report.safetext import SafeConsole, html_visible, is_visible, visible

CN = "e\x1b]0;pwn\x07\x1b[2J\x1b[31mr\u202etxt.exe[link=http://x]c[/link]\x9b"
SAN = "a\x1b[2Jb.example.test"
HOST = "esc.example.test"

#: what must never reach a person's screen raw
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
#: the colour codes rich itself writes when colours are on
SGR = re.compile(r"\x1b\[[0-9;]*m")


def _hostile_server_spec() -> ServerSpec:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CN)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=90))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(SAN), x509.DNSName("[bold]x.test")]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return ServerSpec(name="escape", chain_pem=cert.public_bytes(Encoding.PEM), key_pem=key_pem)


@pytest.fixture(scope="module")
def hostile_server():
    with serving([_hostile_server_spec()]) as (server,):
        yield server


def _run(certcheck_cmd, *args: object, env: dict[str, str] | None = None):
    return subprocess.run(
        [*certcheck_cmd, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def _scan_args(server) -> list[str]:
    return [
        "scan",
        f"{HOST}:{server.port}",
        "--resolve",
        f"{HOST}:{server.port}:127.0.0.1",
        "--timeout",
        "3",
    ]


def _assert_shown_escaped(text: str) -> None:
    assert RAW.search(text) is None, repr(RAW.search(text))
    assert "\\x1b" in text and "\\u202e" in text  # present, as escapes


def test_console_shows_hostile_names_escaped(certcheck_cmd, hostile_server):
    proc = _run(certcheck_cmd, *_scan_args(hostile_server), "--verbose")
    assert proc.returncode == 1, proc.stderr
    _assert_shown_escaped(proc.stdout)
    assert RAW.search(proc.stderr) is None
    # markup in a certificate name is text, not a link or a style
    assert "[link=http://x]c[/link]" in proc.stdout.replace("\n", "").replace(" ", "")
    assert "[bold]x.test" in proc.stdout


def test_console_with_colours_writes_only_its_own_colour_codes(certcheck_cmd, hostile_server):
    proc = _run(
        certcheck_cmd,
        *_scan_args(hostile_server),
        "--verbose",
        env={"FORCE_COLOR": "1", "TERM": "xterm-256color", "COLUMNS": "100"},
    )
    assert proc.returncode == 1, proc.stderr
    assert SGR.search(proc.stdout), "colours were not forced on: the test proves nothing"
    _assert_shown_escaped(SGR.sub("", proc.stdout))


def test_json_keeps_the_exact_strings_and_html_junit_escape(
    certcheck_cmd, hostile_server, tmp_path
):
    json_out, html_out, junit_out = (tmp_path / n for n in ("r.json", "r.html", "r.xml"))
    proc = _run(
        certcheck_cmd,
        *_scan_args(hostile_server),
        "--json", json_out, "--html", html_out, "--junit", junit_out,
    )
    assert proc.returncode == 1, proc.stderr
    document = json.loads(json_out.read_text(encoding="utf-8"))
    (result,) = document["results"]
    leaf = base64.b64decode(result["facts"]["chain"][0])
    cert = x509.load_der_x509_certificate(leaf)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == CN
    text = json.dumps(document, ensure_ascii=False)
    assert CN.replace("\x1b", "\\u001b").replace("\x07", "\\u0007")[:20] in text
    (mismatch,) = [f for f in result["findings"] if f["rule_id"] == "hostname_mismatch"]
    assert SAN in mismatch["evidence"]["san"]  # exact, in the data
    html = html_out.read_text(encoding="utf-8")
    _assert_shown_escaped(html)
    junit = junit_out.read_text(encoding="utf-8")
    ET.fromstring(junit)  # well-formed XML: no raw controls
    _assert_shown_escaped(junit)


def _facts_document() -> dict:
    hostile = "TLS_\x1b[2JFAKE\u202e"
    spec = _hostile_server_spec()
    chain = [
        base64.b64encode(c.public_bytes(Encoding.DER)).decode("ascii")
        for c in x509.load_pem_x509_certificates(spec.chain_pem)
    ]
    entry = {
        "target": {"host": HOST, "port": 443},
        "scanned_at": "2026-11-01T00:00:00Z",
        "chain": chain,
        "protocols": {"TLSv1.2": True},
        "cipher_suites": {"TLSv1.2": [hostile, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]},
        "groups": {"TLSv1.2": ["x25519\x1b]0;title\x07"]},
        "negotiated_protocol": "TLSv1.2\x1b[31m",
    }
    return {"schema_version": "1.0", "kind": "certcheck-facts", "facts": [entry]}


def test_evaluate_escapes_strings_from_a_facts_file(certcheck_cmd, tmp_path):
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(_facts_document()), encoding="utf-8")
    proc = _run(certcheck_cmd, "evaluate", path, "--verbose", "--clients")
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode in (1, 2), proc.stderr
    _assert_shown_escaped(proc.stdout + proc.stderr)
    assert "FAKE" in proc.stdout or "FAKE" in proc.stderr


def test_broken_facts_file_error_is_escaped(certcheck_cmd, tmp_path):
    document = _facts_document()
    document["facts"][0]["protocols"] = {"TLSv1.2\x1b[2J\u202e": "yes"}
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    proc = _run(certcheck_cmd, "evaluate", path)
    assert proc.returncode == 2, proc.stderr
    assert RAW.search(proc.stderr) is None, proc.stderr
    assert "facts[0].protocols" in proc.stderr


def test_miniprogram_config_strings_are_escaped(certcheck_cmd, tmp_path):
    config = {"requestdomain": ["https://a\x1b[2J\u202eb.example.test", "https://ok.example.test"]}
    path = tmp_path / "domains.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    proc = _run(certcheck_cmd, "miniprogram", path, "--no-endpoints", "--verbose")
    assert "Traceback" not in proc.stderr, proc.stderr
    assert RAW.search(proc.stdout + proc.stderr) is None
    assert "\\x1b" in proc.stdout


def test_alert_text_escapes_certificate_names():
    message = Message(
        kind="change",
        target="esc.example.test:443",
        title="t",
        severity="error",
        items=[{"severity": "error", "summary": f"new leaf {CN}", "fix": f"replace {SAN}"}],
        created_at="2026-12-01T00:00:00Z",
    )
    text = message.plain_text()
    assert RAW.search(text.replace("\n", "")) is None
    assert "\\x1b]0;pwn" in text and "\\x1b[2Jb.example.test" in text


# -- the escaping itself --------------------------------------------------------------------


def _unescape(shown: str) -> str:
    return re.sub(
        r"\\x([0-9a-f]{2})|\\u([0-9a-f]{4})",
        lambda m: chr(int(m.group(1) or m.group(2), 16)),
        shown,
    )


@given(st.text())
def test_visible_leaves_nothing_raw_and_changes_only_what_it_must(text: str):
    shown = visible(text)
    assert RAW.search(shown) is None and "\n" not in shown
    if "\\" not in text:  # nothing lost: the escapes decode back to the input
        assert _unescape(shown) == text
    if RAW.search(text) is None and "\n" not in text and is_visible(text):
        assert shown == text


def test_visible_spells_out_each_character():
    assert visible("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert visible("x\u202ey") == "x\\u202ey"
    assert visible("C1\x9b") == "C1\\x9b"
    assert visible("two\nlines") == "two\\x0alines"
    assert visible("two\nlines", keep_newlines=True) == "two\nlines"
    assert visible("日本語.example ok") == "日本語.example ok"
    assert html_visible("\u202e") == "\\u202e"


def test_safe_console_escapes_text_it_was_given_raw(tmp_path):
    """Even a Text made from an unescaped value, and markup in a plain string, stay inert."""
    path = tmp_path / "out.txt"
    with path.open("w", encoding="utf-8") as handle:
        console = SafeConsole(file=handle, force_terminal=True, width=120)
        table = Table()
        table.add_column("a")
        table.add_row(f"cell {CN}")
        table.add_row(Text(f"text {SAN}", "red"))
        console.print(table)
        console.print(f"[bold]{CN}[/]")
    written = SGR.sub("", path.read_text(encoding="utf-8"))
    assert RAW.search(written) is None
    assert "[bold]" in written and "[link=http://x]c[/link]" in written


def test_console_output_to_a_file_has_no_trailing_spaces(certcheck_cmd, sample_dir):
    proc = _run(certcheck_cmd, "check-cert", sample_dir / "expired.pem", "--ca-file",
                sample_dir / "ca.pem", "--verbose")
    assert proc.stdout.count("\n") > 5
    assert [line for line in proc.stdout.splitlines() if line != line.rstrip(" ")] == []
    # the table is still a table: the columns line up
    header, first = proc.stdout.splitlines()[:2]
    assert header.index("Target") == first.index("expired.example.test")
