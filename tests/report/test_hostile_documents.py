"""Hostile documents and configurations: usage errors (exit 2) with one bounded line.

Issue #17 items 5 and 7.  Facts, results, ``--jsonl`` lines, policy files, the monitor
configuration and mini-program domain files are written to ``tmp_path`` the way an
attacker (or a corrupted disk) would write them — 100k-deep nesting, 5000-digit
integers, wrong types in every field, megabytes on one line — and handed to the real
command line.  Each must end as exit 2 with one line naming the file and the field,
no traceback, and a message whose length does not grow with the input.

The valid facts every case starts from come from a real scan of a loopback server.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certcheck.localserver import serving
from certcheck.model import ServerFacts
from certcheck.typecheck import FieldError

#: no error message may be longer than this, whatever the input's size
MAX_MESSAGE = 600


def run_in_process(capsys: pytest.CaptureFixture[str], *args: Any) -> subprocess.CompletedProcess:
    """``certcheck ARGS`` through the real entry point, in this process (no start-up cost)."""
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


def assert_usage_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit 2, one bounded line on stderr naming every needle, no traceback anywhere."""
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-2000:]
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-500:], proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr[:2000]
    line = lines[0]
    assert line.startswith("certcheck: error: "), line[:500]
    assert len(line) <= MAX_MESSAGE, (len(line), line[:500])
    for needle in needles:
        assert needle in line, (needle, line)
    return line


@pytest.fixture(scope="module")
def scanned(run_cli, sample_set, spec_for, sample_dir, tmp_path_factory) -> dict[str, Any]:
    """Facts (``--save-facts``) and results (``--json``) of one real loopback scan."""
    root = tmp_path_factory.mktemp("scanned")
    sample = next(s for s in sample_set.samples if s.name == "good_rsa")
    with serving([spec_for(sample)]) as (server,):
        host = "good.example.test"
        proc = run_cli(
            "scan",
            f"{host}:{server.port}",
            "--resolve",
            f"{host}:{server.port}:127.0.0.1",
            "--ca-file",
            sample_dir / "ca.pem",
            "--timeout",
            "5",
            "--save-facts",
            root / "facts.json",
            "--json",
            root / "results.json",
            "--jsonl",
            root / "results.jsonl",
            timeout=120,
        )
    assert proc.returncode in (0, 1), proc.stderr
    facts = json.loads((root / "facts.json").read_text())
    assert facts["facts"][0]["chain"] and facts["facts"][0]["cipher_suites"], facts
    return {
        "facts": facts,
        "results": json.loads((root / "results.json").read_text()),
        "jsonl": (root / "results.jsonl").read_text(),
    }


def facts_with(scanned: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    document = copy.deepcopy(scanned["facts"])
    document["facts"][0][key] = value
    return document


def write(tmp_path: Path, name: str, content: str | dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


# -- evaluate: facts documents ------------------------------------------------------------------

BIG = 5_000_000  # characters of one hostile string

#: name -> (the facts entry's field, its hostile value, what the message must say)
FACT_FIELDS: dict[str, tuple[str, Any, list[str]]] = {
    "suites-not-list": (
        "cipher_suites",
        {"TLSv1.2": 5},
        ['facts[0].cipher_suites["TLSv1.2"]: expected a list of strings, got 5'],
    ),
    "scts-not-base64": ("tls_scts", ["!!!", 5], ["facts[0].tls_scts[0]", "base64", "'!!!'"]),
    "scts-number": ("tls_scts", [5], ["facts[0].tls_scts[0]", "got 5"]),
    "groups-number": ("groups", 7, ["facts[0].groups: expected an object", "got 7"]),
    "target-list": ("target", [], ["facts[0].target: expected an object, got []"]),
    "port-string": ("target", {"host": "a.example.test", "port": "443"}, ["target.port"]),
    "port-range": ("target", {"host": "a.example.test", "port": 70000}, ["target.port"]),
    "protocols-yes": ("protocols", {"TLSv1.2": "yes"}, ['protocols["TLSv1.2"]', "'yes'"]),
    "error-kind": ("error", {"kind": 5, "message": "x"}, ["facts[0].error.kind", "got 5"]),
    "error-string": ("error", "refused", ["facts[0].error", "'refused'"]),
    "chain-string": ("chain", "MIIB", ["facts[0].chain: expected a list", "'MIIB'"]),
    # passes the schema's pattern, fails ServerFacts.from_dict's strict base64
    "chain-padding": ("chain", ["QUJ"], ["facts[0].chain[0]: expected a base64 DER string"]),
    "no-sni-padding": (
        "no_sni_leaf",
        "QUJ",
        ["facts[0].no_sni_leaf: expected a base64 DER string"],
    ),
    "timings-text": ("timings_ms", {"dns": "fast"}, ["facts[0].timings_ms.dns", "'fast'"]),
    "connections-bool": ("connections", True, ["facts[0].connections", "got true"]),
    "scanned-at-null": ("scanned_at", None, ["facts[0].scanned_at", "got null"]),
    "sslv2-text": ("sslv2", "no", ["facts[0].sslv2", "'no'"]),
    # a field added to ServerFacts later is checked from its type hint, with no new code
    "dh-params-number": ("dh_params", {"TLSv1.2": 5}, ['facts[0].dh_params["TLSv1.2"]', "got 5"]),
    "huge-string": ("timings_ms", {"dns": "x" * BIG}, ["timings_ms.dns", "more characters"]),
    "huge-key": ("cipher_suites", {"K" * BIG: 5}, ["facts[0].cipher_suites", "more characters"]),
    "escape-value": ("sslv2", "\x1b[2J\u202e", ["facts[0].sslv2", "\\x1b[2J\\u202e"]),
}


@pytest.mark.parametrize("name", sorted(FACT_FIELDS))
def test_evaluate_rejects_a_wrong_field_naming_it(name, scanned, tmp_path, capsys):
    key, value, needles = FACT_FIELDS[name]
    path = write(tmp_path, f"{name}.json", facts_with(scanned, key, value))
    line = assert_usage_error(run_in_process(capsys, "evaluate", path), f"{name}.json: ")
    for needle in needles:
        assert needle in line, (needle, line)


@pytest.mark.parametrize("name", sorted(FACT_FIELDS))
def test_from_dict_itself_rejects_each_wrong_field(name, scanned):
    """The monitor reads stored facts with ServerFacts.from_dict, no schema in between."""
    key, value, needles = FACT_FIELDS[name]
    entry = facts_with(scanned, key, value)["facts"][0]
    with pytest.raises(FieldError) as caught:
        ServerFacts.from_dict(entry)
    message = str(caught.value)
    assert message.startswith(key) and len(message) <= MAX_MESSAGE, message[:500]
    for needle in needles:
        assert needle.removeprefix("facts[0].") in message, (needle, message)


def test_from_dict_reads_back_what_to_dict_wrote(scanned):
    entry = scanned["facts"]["facts"][0]
    assert ServerFacts.from_dict(entry).to_dict() == entry


#: whole documents that are not even usable JSON / certcheck documents
BROKEN_DOCUMENTS: dict[str, tuple[str, list[str]]] = {
    "deep-array": ("[" * 100_000 + "]" * 100_000, ["nested more than 64 levels"]),
    "deep-object": ('{"a":' * 100_000 + "1" + "}" * 100_000, ["nested more than 64 levels"]),
    "deep-but-parseable": ("[" * 200 + "]" * 200, ["nested more than 64 levels"]),
    "big-integer": (
        '{"schema_version": "1.0", "kind": "certcheck-facts", "facts": [], "n": '
        + "9" * 5000
        + "}",
        ["too many digits"],
    ),
    "nan": ('{"schema_version": "1.0", "kind": "certcheck-facts", "n": NaN}', ["NaN"]),
    "huge-float": ('{"schema_version": "1.0", "n": 1e999}', ["too large"]),
    "huge-kind": (
        json.dumps({"schema_version": "1.0", "kind": "k" * BIG}),
        ["unknown document kind", "more characters"],
    ),
    "huge-version": (json.dumps({"schema_version": "2" * BIG}), ["schema_version"]),
    "facts-not-list": (
        json.dumps({"schema_version": "1.0", "kind": "certcheck-facts", "facts": 5}),
        ["no list of facts"],
    ),
    "entry-not-object": (
        json.dumps(
            {
                "schema_version": "1.0",
                "kind": "certcheck-facts",
                "tool": {"name": "certcheck", "version": "1"},
                "facts": [5],
            }
        ),
        ["facts[0]: expected", "got 5"],
    ),
}


@pytest.mark.parametrize("name", sorted(BROKEN_DOCUMENTS))
def test_evaluate_rejects_a_broken_document(name, tmp_path, capsys):
    text, needles = BROKEN_DOCUMENTS[name]
    path = write(tmp_path, f"{name}.json", text)
    assert_usage_error(run_in_process(capsys, "evaluate", path), f"{name}.json: ", *needles)


def test_deep_json_is_a_usage_error_for_the_real_executable(run_cli, tmp_path):
    """The same through a fresh interpreter (its own stack, its own recursion limit)."""
    path = write(tmp_path, "deep.json", "[" * 100_000 + "]" * 100_000)
    assert_usage_error(run_cli("evaluate", path, timeout=60), "deep.json", "nested")
    assert_usage_error(run_cli("report", path, "--html", tmp_path / "x.html"), "deep.json")


def test_a_wrong_field_in_a_results_document_names_the_result(scanned, tmp_path, capsys):
    document = copy.deepcopy(scanned["results"])
    document["results"][0]["facts"]["groups"] = {"TLSv1.3": [1]}
    path = write(tmp_path, "results.json", document)
    assert_usage_error(
        run_in_process(capsys, "evaluate", path),
        'results.json: results[0].facts.groups["TLSv1.3"][0]: expected a string, got 1',
    )


def test_unknown_extra_fields_in_facts_are_ignored(scanned, tmp_path, capsys):
    """Newer probes add fields: an older reader must not refuse them."""
    document = facts_with(scanned, "future_probe", {"dh_bits": [2048], "x": {"y": None}})
    path = write(tmp_path, "future.json", document)
    proc = run_in_process(capsys, "evaluate", path)
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr


def test_evaluate_reads_jsonl_lines_and_names_a_bad_line(scanned, tmp_path, capsys):
    good = write(tmp_path, "good.jsonl", scanned["jsonl"])
    proc = run_in_process(capsys, "evaluate", good)
    assert proc.returncode in (0, 1), proc.stderr
    line = json.loads(scanned["jsonl"].splitlines()[0])
    line["result"]["facts"]["groups"] = 7
    wrong = write(tmp_path, "wrong.jsonl", scanned["jsonl"] + json.dumps(line) + "\n")
    assert_usage_error(
        run_in_process(capsys, "evaluate", wrong), "wrong.jsonl: line 2: result.facts.groups"
    )


# -- report: results and --jsonl ----------------------------------------------------------------


def test_report_rejects_hostile_results(scanned, tmp_path, capsys):
    html = tmp_path / "out.html"
    report = lambda path: run_in_process(capsys, "report", path, "--html", html)  # noqa: E731
    big = write(tmp_path, "big.json", '{"kind": "certcheck-results", "n": ' + "1" * 5000 + "}")
    assert_usage_error(report(big), "big.json", "too many digits")
    document = copy.deepcopy(scanned["results"])
    document["results"][0]["facts"]["cipher_suites"] = {"TLSv1.2": 5}
    wrong = write(tmp_path, "wrong.json", document)
    assert_usage_error(
        report(wrong),
        'wrong.json: not a valid results document: results[0].facts.cipher_suites["TLSv1.2"]',
    )
    document = copy.deepcopy(scanned["results"])
    document["results"][0]["findings"] = [{"rule_id": "x" * BIG}]
    long = write(tmp_path, "long.json", document)
    assert_usage_error(report(long), "long.json", "results[0].findings[0]")
    assert not html.exists()


def test_report_rejects_hostile_jsonl_lines(scanned, tmp_path, capsys):
    html = tmp_path / "out.html"
    report = lambda path: run_in_process(capsys, "report", path, "--html", html)  # noqa: E731
    line = json.loads(scanned["jsonl"].splitlines()[0])
    line["result"]["facts"]["tls_scts"] = ["!!!", 5]
    wrong = write(tmp_path, "wrong.jsonl", scanned["jsonl"] + json.dumps(line) + "\n")
    assert_usage_error(report(wrong), "wrong.jsonl: line 2: result.facts.tls_scts[0]", "'!!!'")
    deep = '{"kind": "certcheck-result", "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n"
    nested = write(tmp_path, "deep.jsonl", scanned["jsonl"] + deep)
    assert_usage_error(report(nested), "deep.jsonl: line 2", "nested")
    big = '{"kind": "certcheck-result", "x": ' + "7" * 5000 + "}\n"
    digits = write(tmp_path, "digits.jsonl", scanned["jsonl"] + big)
    assert_usage_error(report(digits), "digits.jsonl: line 2", "too many digits")
    assert not html.exists()


# -- TOML: policy files, the monitor configuration, mini-program domain files ---------------------

DEEP_TOML = "x = " + "[" * 2000 + "]" * 2000 + "\n"
DEEP_INLINE = "x = " + "{a = " * 2000 + "1" + "}" * 2000 + "\n"
DEEP_TABLE = "[" + ".".join(["t"] * 1500) + "]\n"

POLICY_FILES: dict[str, tuple[str, list[str]]] = {
    "deep-array": (DEEP_TOML, ["nested more than 64 levels"]),
    "deep-inline": (DEEP_INLINE, ["nested more than 64 levels"]),
    "deep-table": (DEEP_TABLE, ["nested more than 64 levels"]),
    "big-integer": ("warn_days = " + "9" * 5000 + "\n", ["too many digits"]),
    "base-list": ("base = []\n", ["base"]),
    "severity-list": ("[severity]\nchain_includes_root = [1]\n", ["chain_includes_root"]),
    "ignore-numbers": ("ignore = [1, 2]\n", ["ignore"]),
    "reason-table": ('[[ignore]]\nrule = "cert_expired"\nreason = {a = 1}\n', ["reason"]),
    "description-list": ("description = [1]\n", ["description"]),
    "huge-key": ("k" * BIG + " = 1\n", ["unknown key", "more characters"]),
}


@pytest.mark.parametrize("name", sorted(POLICY_FILES))
def test_profile_file_rejects_hostile_toml(name, scanned, tmp_path, capsys):
    text, needles = POLICY_FILES[name]
    facts = write(tmp_path, "facts.json", scanned["facts"])
    policy = write(tmp_path, f"{name}.toml", text)
    proc = run_in_process(capsys, "evaluate", facts, "--profile-file", policy)
    assert_usage_error(proc, f"{name}.toml", *needles)


MONITOR_CONFIGS: dict[str, tuple[str, list[str]]] = {
    "deep-array": ("[monitor]\n" + DEEP_TOML, ["nested more than 64 levels"]),
    "deep-table": (DEEP_TABLE, ["nested more than 64 levels"]),
    "big-integer": ("[monitor]\nconcurrency = " + "9" * 5000 + "\n", ["too many digits"]),
    "huge-key": ("[monitor]\n" + "k" * BIG + " = 1\n", ["monitor."]),
    "huge-host": ('[[targets]]\nhost = "' + "a" * BIG + '"\n', ["targets[0].host"]),
    "not-toml": ("[monitor\n", ["not valid TOML"]),
}


@pytest.mark.parametrize("name", sorted(MONITOR_CONFIGS))
def test_monitor_config_rejects_hostile_toml(name, tmp_path, capsys):
    text, needles = MONITOR_CONFIGS[name]
    config = write(tmp_path, f"{name}.toml", text)
    assert_usage_error(run_in_process(capsys, "monitor", "-c", config), f"{name}.toml", *needles)


MINIPROGRAM_FILES: dict[str, tuple[str, list[str]]] = {
    "deep.json": ('{"requestdomain": ' + "[" * 100_000 + "]" * 100_000 + "}", ["nested"]),
    "big.json": ('{"networkTimeout": {"request": ' + "9" * 5000 + "}}", ["too many digits"]),
    "nan.json": ('{"networkTimeout": {"request": NaN}}', ["NaN"]),
    "deep.toml": (DEEP_TOML, ["nested more than 64 levels"]),
    "key.json": (json.dumps({"k" * BIG: []}), ["unknown field", "more characters"]),
    "host-app.json": (json.dumps({"host_app": "h" * BIG}), ["host_app", "more characters"]),
}


@pytest.mark.parametrize("name", sorted(MINIPROGRAM_FILES))
def test_miniprogram_config_rejects_hostile_documents(name, tmp_path, capsys):
    text, needles = MINIPROGRAM_FILES[name]
    path = write(tmp_path, name, text)
    proc = run_in_process(capsys, "miniprogram", path, "--no-endpoints")
    assert_usage_error(proc, name, *needles)


# -- item 7: a huge targets file ----------------------------------------------------------------


def test_a_50_mb_targets_line_gives_a_short_message(run_cli, tmp_path):
    path = tmp_path / "targets.txt"
    path.write_text("good.example.test\n" + "a" * 50_000_000 + "\n")
    line = assert_usage_error(run_cli("scan", "--targets-file", path, timeout=120))
    assert f"{path}:2: " in line and "(49999800 more characters)" in line, line
    assert "longer than 253 characters" in line


def test_a_huge_target_argument_is_quoted_short(capsys):
    proc = run_in_process(capsys, "scan", "x" * 100_000 + " y.example.test")
    assert_usage_error(proc, "white space", "more characters")


def test_check_cert_quotes_a_huge_certificate_name_short(tmp_path, capsys):
    """check-cert without --host takes the name from the certificate: input too."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hostile")])
    now = datetime.datetime.now(datetime.UTC)
    san = x509.SubjectAlternativeName([x509.DNSName("a b" + "x" * 100_000)])
    cert = (
        x509.CertificateBuilder(
            name, name, key.public_key(), 1, now, now + datetime.timedelta(days=30)
        )
        .add_extension(san, critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = write(tmp_path, "huge.pem", cert.public_bytes(serialization.Encoding.PEM).decode())
    proc = run_in_process(capsys, "check-cert", pem)
    assert_usage_error(proc, "huge.pem", "is not a host name", "more characters")


# -- property: any wrong type in any facts field ----------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)

#: where a mutation lands: a top-level field, or one level inside the maps and lists
MUTATION_PATHS = [
    ("target",), ("target", "host"), ("target", "port"), ("target", "scheme"),
    ("target", "connect_addr"), ("scanned_at",), ("address",), ("error",), ("chain",),
    ("chain", 0), ("negotiated_protocol",), ("negotiated_cipher",), ("alpn",),
    ("ocsp_staple",), ("protocols",), ("protocols", "TLSv1.2"), ("protocol_errors",),
    ("timings_ms",), ("timings_ms", "handshake"), ("source",), ("cipher_suites",),
    ("cipher_suites", "TLSv1.2"), ("groups",), ("groups", "TLSv1.3"),
    ("server_cipher_order",), ("server_cipher_order", "TLSv1.2"), ("sslv2",),
    ("no_sni_leaf",), ("tls_scts",), ("connections",), ("aia_certificates",),
    ("aia_errors",),
]  # fmt: skip


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(path=st.sampled_from(MUTATION_PATHS), value=JSON_VALUES)
def test_evaluate_of_mutated_facts_works_or_is_a_usage_error(
    scanned, tmp_path_factory, capsys, path, value
):
    document = copy.deepcopy(scanned["facts"])
    node = document["facts"][0]
    for step in path[:-1]:
        node = node[step]
    if isinstance(node, list) and not node:
        node.append(value)
    else:
        node[path[-1]] = value
    facts = tmp_path_factory.mktemp("mutated") / "mutated.json"
    facts.write_text(json.dumps(document))
    proc = run_in_process(capsys, "evaluate", facts)
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-2000:]
    if proc.returncode == 2:
        assert_usage_error(proc, "mutated.json: facts[0]")
    else:
        # accepted: then it is evaluated like any facts, never an internal error (4)
        assert proc.returncode in (0, 1, 3), (path, value, proc.returncode, proc.stderr[-2000:])
