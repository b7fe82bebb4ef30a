"""Chain repair: --fetch-aia and fix-chain against local HTTP servers serving issuers."""

import http.server
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from certcheck.localserver import ServerSpec, serving
from certcheck.probe.aia import MAX_BYTES, fetch_missing_issuers

NOW = datetime.now(UTC)


class Store:
    body: bytes = b""
    mode: str = "ok"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if Store.mode == "hang":
            time.sleep(5)
            return
        body = Store.body if Store.mode == "ok" else (
            b"not a certificate" if Store.mode == "garbage" else b"\x00" * (MAX_BYTES + 10)
        )
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def http_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _build(subject, issuer, key, signer, ca, aia=None, san=None):
    b = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=40))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), True))
    if ca:
        b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                          False), True)
    if aia:
        b = b.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
            AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(aia))]),
            False)
    if san:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), False)
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
    return b.sign(signer, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(http_server):
    root_key, inter_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _build("AIA Test Root", "AIA Test Root", root_key, root_key, True)
    inter = _build("AIA Test Intermediate", "AIA Test Root", inter_key, root_key, True)
    url = f"http://aia.example.test:{http_server}/inter.der"
    leaf = _build("aia.example.test", "AIA Test Intermediate", leaf_key, inter_key, False,
                  aia=url, san="aia.example.test")
    Store.body = inter.public_bytes(Encoding.DER)
    key_pem = leaf_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    return {"root": root, "inter": inter, "leaf": leaf, "key": key_pem, "port": http_server}


@pytest.fixture(scope="module")
def tls_server(pki):
    spec = ServerSpec("aia", pki["leaf"].public_bytes(Encoding.PEM), pki["key"])
    with serving([spec]) as servers:
        yield servers[0].port


def _overrides(pki):
    return {("aia.example.test", pki["port"]): "127.0.0.1"}


def test_fetch_follows_aia_to_the_intermediate(pki):
    Store.mode = "ok"
    result = fetch_missing_issuers(pki["leaf"], 3, _overrides(pki))
    assert len(result.certificates) == 1 and not result.errors
    assert result.fetched_urls == [f"http://aia.example.test:{pki['port']}/inter.der"]


@pytest.mark.parametrize(("mode", "message"), [("garbage", "not a DER"), ("huge", "larger than"),
                                                ("hang", "timed out")])
def test_bad_aia_servers_are_errors_not_crashes(pki, mode, message):
    Store.mode = mode
    started = time.monotonic()
    try:
        result = fetch_missing_issuers(pki["leaf"], 1.0, _overrides(pki))
    finally:
        Store.mode = "ok"
    assert result.certificates == []
    assert message in result.errors[0]
    assert time.monotonic() - started < 4


def run(*args):
    return subprocess.run([sys.executable, "-m", "certcheck", *args], capture_output=True,
                          text=True, timeout=60)


def test_scan_with_fetch_aia_says_only_the_intermediate_is_missing(pki, tls_server, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_bytes(pki["root"].public_bytes(Encoding.PEM))
    common = ["scan", f"aia.example.test:{tls_server}", "--resolve",
              f"aia.example.test:{tls_server}:127.0.0.1", "--resolve",
              f"aia.example.test:{pki['port']}:127.0.0.1", "--ca-file", str(ca), "--json", "-"]
    import json

    plain = json.loads(run(*common).stdout)["results"][0]
    finding = {f["rule_id"]: f for f in plain["findings"]}["chain_incomplete"]
    assert "note" not in finding["evidence"] and plain["facts"]["aia_certificates"] == []
    repaired = json.loads(run(*common, "--fetch-aia").stdout)["results"][0]
    finding = {f["rule_id"]: f for f in repaired["findings"]}["chain_incomplete"]
    assert finding["evidence"]["note"].startswith("the chain is otherwise good")
    assert finding["evidence"]["fetched_over_aia"] == ["CN=AIA Test Intermediate"]
    assert "untrusted_root" not in {f["rule_id"] for f in repaired["findings"]}


def test_fix_chain_prints_leaf_and_intermediate_without_root(pki, tls_server, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_bytes(pki["root"].public_bytes(Encoding.PEM))
    out = tmp_path / "fullchain.pem"
    done = run("fix-chain", f"aia.example.test:{tls_server}", "--resolve",
               f"aia.example.test:{tls_server}:127.0.0.1", "--resolve",
               f"aia.example.test:{pki['port']}:127.0.0.1", "--ca-file", str(ca), "--out", str(out))
    assert done.returncode == 0, done.stderr
    chain = x509.load_pem_x509_certificates(out.read_bytes())
    assert chain == [pki["leaf"], pki["inter"]]
    assert "root, not included: CN=AIA Test Root" in done.stderr


def test_fix_chain_without_fetch_reports_the_gap(pki, tls_server, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_bytes(pki["root"].public_bytes(Encoding.PEM))
    done = run("fix-chain", f"aia.example.test:{tls_server}", "--resolve",
               f"aia.example.test:{tls_server}:127.0.0.1", "--ca-file", str(ca),
               "--no-fetch-aia")
    assert done.returncode == 1
    assert "missing issuer: CN=AIA Test Intermediate" in done.stderr
    assert x509.load_pem_x509_certificates(done.stdout.encode()) == [pki["leaf"]]


def test_fix_chain_never_calls_an_intermediate_anchor_a_root(pki, tls_server, tmp_path):
    """--ca-file holding the intermediate (not the root): the chain is not called complete."""
    ca = tmp_path / "inter.pem"
    ca.write_bytes(pki["inter"].public_bytes(Encoding.PEM))
    done = run("fix-chain", f"aia.example.test:{tls_server}", "--resolve",
               f"aia.example.test:{tls_server}:127.0.0.1", "--ca-file", str(ca),
               "--no-fetch-aia")
    assert done.returncode == 1, done.stderr
    assert "root, not included" not in done.stderr
    assert "not a root" in done.stderr and "CN=AIA Test Intermediate" in done.stderr
    # the anchor is sent: a leaf-only chain would fail every client without it
    assert x509.load_pem_x509_certificates(done.stdout.encode()) == [pki["leaf"], pki["inter"]]


def test_fix_chain_problem_names_a_refused_path_but_not_a_tolerated_one(pki):
    from certcheck.cli.chain import _chain_problem
    from certcheck.evaluate.trust import PathResult

    path = [pki["leaf"], pki["inter"], pki["root"]]
    refused = PathResult(path, anchored=True, webpki_ran=True, webpki_ok=False,
                         webpki_error="validation failed: name constraint violated")
    assert "does not validate" in (_chain_problem(refused, pki["root"], True) or "")
    tolerated = PathResult(path, anchored=True, webpki_ran=True, webpki_ok=False,
                           webpki_error="validation failed: invalid extension: 2.5.29.35: "
                           "Certificate is missing required extension")
    assert _chain_problem(tolerated, pki["root"], True) is None
    good = PathResult(path, anchored=True, webpki_ran=True, webpki_ok=True)
    assert _chain_problem(good, pki["root"], True) is None
