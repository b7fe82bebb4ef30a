"""Certificates no builder would make: evaluation is total, and one never costs a run.

Each certificate is built valid, then edited as DER (tests/dertools.py) and
signed again: a version field of 3 ("v4"), a duplicate extension, invalid
UTF-8 in a name, an IP name constraint of the wrong length, SAN names that are
not host names, a signature that does not verify.  Evaluation must end in
findings (never an exception, never an internal error), and a scan of many
real loopback servers with hostile certificates among them reports them all.
"""

from __future__ import annotations

import base64
import ipaddress
import json
from datetime import UTC, datetime, timedelta

import dertools
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certcheck.evaluate import Policy, evaluate, evaluate_strict
from certcheck.evaluate.trust import TrustStore
from certcheck.localserver import ServerSpec, serving
from certcheck.model import ServerFacts, Target

NOW = datetime.now(UTC).replace(microsecond=0)
HOST = "hostile.example.test"
ROOT_KEY = ec.generate_private_key(ec.SECP256R1())
INTER_KEY = ec.generate_private_key(ec.SECP256R1())
LEAF_KEY = ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(subject: str, key, issuer: x509.Certificate | None, signer, nc=None) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=30))
        .not_valid_after(NOW + timedelta(days=900))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                       critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), False)
    if nc is not None:
        builder = builder.add_extension(nc, critical=True)
    return builder.sign(signer, hashes.SHA256())


ROOT = _ca("Hostile Test Root", ROOT_KEY, None, ROOT_KEY)
INTER = _ca("Hostile Test Intermediate", INTER_KEY, ROOT, ROOT_KEY)


def leaf(names: list[x509.GeneralName] | None = None, issuer: x509.Certificate = INTER,
         signer=INTER_KEY) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(_name("hostile leaf"))
        .issuer_name(issuer.subject)
        .public_key(LEAF_KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=60))
        .add_extension(x509.SubjectAlternativeName(
            names or [x509.DNSName(HOST), x509.DNSName(f"*.{HOST}")]), False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), False)
        .sign(signer, hashes.SHA256())
    )


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def version_four(cert: x509.Certificate, signer) -> bytes:
    tbs = dertools.tbs_of(cert)
    tbs.children[0].children[0].value = b"\x03"
    return dertools.resign(cert, tbs, signer)


def duplicate_extension(cert: x509.Certificate, signer) -> bytes:
    tbs = dertools.tbs_of(cert)
    extensions = dertools.extensions_of(tbs)
    extensions.children.append(extensions.children[0])
    return dertools.resign(cert, tbs, signer)


def bad_utf8(cert: x509.Certificate, signer, field: str) -> bytes:
    tbs = dertools.tbs_of(cert)
    name = tbs.children[5 if field == "subject" else 3]
    name.children[0].children[0].children[1] = dertools.Node(0x0C, value=b"\xff\xfeok")
    return dertools.resign(cert, tbs, signer)


def bad_ip_constraint() -> bytes:
    """An intermediate whose IP name constraint is 5 bytes (4 address + 1 mask byte)."""
    nc = x509.NameConstraints([x509.IPAddress(ipaddress.ip_network("10.0.0.0/8"))], None)
    inter = _ca("Hostile Test Intermediate", INTER_KEY, ROOT, ROOT_KEY, nc=nc)
    tbs = dertools.tbs_of(inter)
    for ext in dertools.extensions_of(tbs).children:
        if ext.children[0].value == bytes.fromhex("551d1e"):
            inner = dertools.parse(ext.children[-1].value)
            inner.children[0].children[0].children[0].value = b"\x0a\x00\x00\x00\xff"
            ext.children[-1].value = inner.encode()
    return dertools.resign(inter, tbs, ROOT_KEY)


def corrupt_signature(cert: x509.Certificate) -> bytes:
    outer = dertools.parse(der(cert))
    signature = bytearray(outer.children[2].value)
    signature[-3] ^= 0x01
    outer.children[2].value = bytes(signature)
    return outer.encode()


GOOD_LEAF = leaf()


def unknown_key_type(cert: x509.Certificate, signer) -> bytes:
    """The leaf's key algorithm OID (id-ecPublicKey) changed to one no library knows, re-signed
    (found by the fuzzer: the compromised-key lookup raised UnsupportedAlgorithm)."""
    ec_public_key = bytes.fromhex("06072a8648ce3d0201")
    tbs = cert.tbs_certificate_bytes
    assert tbs.count(ec_public_key) == 1
    edited = dertools.parse(tbs.replace(ec_public_key, bytes.fromhex("06072a8648ce3d0209")))
    return dertools.resign(cert, edited, signer)

#: name -> (served chain DER, rule ids the evaluation must include)
CASES: dict[str, tuple[list[bytes], set[str]]] = {
    "leaf_v4": ([version_four(GOOD_LEAF, INTER_KEY), der(INTER)], {"cert_unparseable"}),
    "intermediate_v4": ([der(GOOD_LEAF), version_four(INTER, ROOT_KEY)], {"cert_unparseable"}),
    "duplicate_extension": ([duplicate_extension(GOOD_LEAF, INTER_KEY), der(INTER)],
                            {"cert_unparseable"}),
    "bad_utf8_subject": ([bad_utf8(GOOD_LEAF, INTER_KEY, "subject"), der(INTER)],
                         {"cert_unparseable"}),
    "bad_utf8_issuer": ([bad_utf8(GOOD_LEAF, INTER_KEY, "issuer"), der(INTER)],
                        {"cert_unparseable"}),
    "bad_ip_name_constraint": ([der(GOOD_LEAF), bad_ip_constraint()], {"cert_unparseable"}),
    "san_with_space": ([der(leaf([x509.DNSName("bad name.test")])), der(INTER)],
                       {"hostname_mismatch"}),
    "san_bare_star": ([der(leaf([x509.DNSName("*")])), der(INTER)], {"wildcard_invalid"}),
    "san_star_com": ([der(leaf([x509.DNSName("*.com")])), der(INTER)], {"wildcard_invalid"}),
    "san_partial_star": ([der(leaf([x509.DNSName("f*o.example")])), der(INTER)],
                         {"hostname_mismatch"}),
    "san_underscore": ([der(leaf([x509.DNSName("a_b.example.test")])), der(INTER)],
                       {"hostname_mismatch"}),
    "corrupt_leaf_signature": ([corrupt_signature(GOOD_LEAF), der(INTER)], {"chain_invalid"}),
    "unknown_key_type": ([unknown_key_type(GOOD_LEAF, INTER_KEY), der(INTER)],
                         {"key_unsupported"}),
}


def facts_for(chain: list[bytes], host: str = HOST) -> ServerFacts:
    return ServerFacts(
        target=Target(host),
        scanned_at=NOW.isoformat(),
        chain=[base64.b64encode(d).decode() for d in chain],
        protocols={"TLSv1.2": True, "TLSv1.3": True},
    )


POLICY = Policy.build(trust=TrustStore(system=[], extra=[ROOT]))


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_certificate_ends_as_findings(case: str) -> None:
    chain, expected = CASES[case]
    result = evaluate_strict(facts_for(chain), POLICY, NOW)  # raises on any bug
    rules = {f.rule_id for f in result.findings}
    assert expected <= rules, (case, rules)
    assert result.overall == "fail"


def test_corrupt_signature_is_not_called_a_missing_issuer() -> None:
    chain, _ = CASES["corrupt_leaf_signature"]
    result = evaluate_strict(facts_for(chain), POLICY, NOW)
    rules = {f.rule_id: f for f in result.findings}
    assert "chain_incomplete" not in rules
    assert rules["chain_invalid"].evidence["kind"] == "signature"
    assert "does not verify" in rules["chain_invalid"].evidence["reason"]


def test_unparseable_evidence_names_the_defect() -> None:
    for case, needle in (("leaf_v4", "version"), ("duplicate_extension", "duplicate extension"),
                         ("bad_utf8_subject", "name")):
        chain, _ = CASES[case]
        result = evaluate_strict(facts_for(chain), POLICY, NOW)
        finding = next(f for f in result.findings if f.rule_id == "cert_unparseable")
        assert needle in json.dumps(finding.evidence), (case, finding.evidence)


def test_an_unforeseen_bug_is_that_targets_internal_error(monkeypatch) -> None:
    import certcheck.evaluate.rules.protocols as protocol_rules

    def boom(*args, **kwargs):
        raise RuntimeError("planted bug")

    monkeypatch.setattr(protocol_rules, "protocol_findings", boom)
    result = evaluate(facts_for([der(GOOD_LEAF), der(INTER)]), POLICY, NOW)
    assert result.overall == "error"
    assert result.facts.error is not None and result.facts.error.kind == "internal"
    assert "planted bug" in result.facts.error.message
    assert set(result.verdicts.values()) == {"unknown"}


_VALID = [der(GOOD_LEAF), der(INTER)]


@st.composite
def mutated_chains(draw: st.DrawFn) -> list[bytes]:
    chain = [bytearray(c) for c in _VALID]
    for _ in range(draw(st.integers(1, 6))):
        chain = [c for c in chain if c] or [bytearray(b"\x30")]
        which = draw(st.integers(0, len(chain) - 1))
        data = chain[which]
        action = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete"]))
        pos = draw(st.integers(0, len(data) - 1))
        if action == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif action == "set":
            data[pos] = draw(st.integers(0, 255))
        elif action == "truncate":
            del data[pos:]
        elif action == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif len(data) > 1:
            del data[pos]
    if draw(st.booleans()):
        chain.reverse()
    return [bytes(c) for c in chain if c]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chain=mutated_chains())
def test_fuzzed_der_never_raises(chain: list[bytes]) -> None:
    result = evaluate_strict(facts_for(chain), POLICY, NOW)
    assert result.overall in {"pass", "warn", "fail"}


# -- a real scan: hostile certificates among good ones -------------------------------------------


def _pem(*ders: bytes) -> bytes:
    return b"".join(
        b"-----BEGIN CERTIFICATE-----\n"
        + base64.encodebytes(d)
        + b"-----END CERTIFICATE-----\n"
        for d in ders
    )


KEY_PEM = LEAF_KEY.private_bytes(
    Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)


def test_scan_of_many_targets_with_hostile_certificates_reports_all(
    run_cli, tmp_path
) -> None:
    served = {
        "good": [der(GOOD_LEAF), der(INTER)],
        "space": CASES["san_with_space"][0],
        "star": CASES["san_bare_star"][0],
        "underscore": CASES["san_underscore"][0],
        "badutf8": CASES["bad_utf8_issuer"][0],
        "dupext": CASES["duplicate_extension"][0],
        "v4inter": CASES["intermediate_v4"][0],
        "badnc": CASES["bad_ip_name_constraint"][0],
    }
    specs = []
    for name, chain in served.items():
        specs.append(ServerSpec(name=name, chain_pem=_pem(*chain), key_pem=KEY_PEM))
    # OpenSSL may refuse to load some of these; serve those it accepts (most), and say so.
    loadable = []
    for spec in specs:
        try:
            from certcheck.localserver import make_context

            make_context(spec)
        except Exception:  # noqa: BLE001 - the local OpenSSL refuses this certificate
            continue
        loadable.append(spec)
    assert len(loadable) >= 6, [s.name for s in loadable]
    (tmp_path / "root.pem").write_bytes(ROOT.public_bytes(Encoding.PEM))
    with serving(loadable) as servers:
        args: list[str] = []
        hosts = []
        for index, server in enumerate(servers):
            host = f"t{index}.{HOST}"
            hosts.append((host, server.spec.name))
            args += [f"{host}:{server.port}", "--resolve", f"{host}:{server.port}:127.0.0.1"]
        out = tmp_path / "out.json"
        proc = run_cli("scan", *args, "--ca-file", tmp_path / "root.pem", "--timeout", "3",
                       "--json", out, timeout=180)
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])
    document = json.loads(out.read_text(encoding="utf-8"))
    results = document["results"]
    assert len(results) == len(loadable)
    names = dict(hosts)
    for result in results:
        assert result["status"] == "scanned", result["facts"]["error"]
        if names[result["target"]["host"]] == "good":
            assert result["overall"] in {"pass", "warn"}, result["findings"]
        else:
            assert result["overall"] == "fail", result["findings"]


def test_monitor_is_not_poisoned_by_a_hostile_certificate(tmp_path) -> None:
    """The same hostile server on every cron run: each run records every target."""
    from monitorkit import config_text

    from certcheck.monitor.config import load_config
    from certcheck.monitor.run import run_monitor
    from certcheck.monitor.store import Store

    (tmp_path / "root.pem").write_bytes(ROOT.public_bytes(Encoding.PEM))
    specs = [
        ServerSpec(name="good", chain_pem=_pem(der(GOOD_LEAF), der(INTER)), key_pem=KEY_PEM),
        ServerSpec(name="nc", chain_pem=_pem(*CASES["bad_ip_name_constraint"][0]),
                   key_pem=KEY_PEM),
        ServerSpec(name="v4", chain_pem=_pem(*CASES["intermediate_v4"][0]), key_pem=KEY_PEM),
    ]
    with serving(specs) as servers:
        targets = [(f"m{i}.{HOST}", server.port) for i, server in enumerate(servers)]
        path = tmp_path / "certcheck.toml"
        path.write_text(config_text(targets, 'path = "history.db"', ca_file=tmp_path / "root.pem"))
        for hour in range(2):
            config = load_config(path)
            store = Store.open(config.history_url, config.redactor)
            try:
                outcome = run_monitor(config, store, now=NOW + timedelta(hours=hour),
                                      sleep=lambda _s: None)
            finally:
                store.close()
            by_host = {r.facts.target.host: r for r in outcome.results}
            assert sorted(by_host) == sorted(host for host, _ in targets)
            assert by_host[f"m0.{HOST}"].overall in {"pass", "warn"}
            for host in (f"m1.{HOST}", f"m2.{HOST}"):
                result = by_host[host]
                assert result.facts.ok and result.overall == "fail"
                assert "cert_unparseable" in {f.rule_id for f in result.findings}
