"""Policy files and suppressions: valid, invalid key, invalid severity, expired."""

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from certcheck.model import Finding
from certcheck.policyfile import (
    Ignore,
    PolicyFileError,
    apply_suppressions,
    load_policy_file,
    parse_ignore,
)

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_file(tmp_path):
    profile, ignores = load_policy_file(write(tmp_path, """
base = "strict"
warn_days = 60
[severity]
chain_includes_root = "off"
legacy_tls_missing = "error"
[[ignore]]
rule = "cert_expiring_soon"
host = "Old.Example.com"
until = 2027-01-31
reason = "renewal booked"
"""))
    assert (profile.warn_days, profile.crit_days) == (60, 14)  # crit from strict
    assert profile.severity["chain_includes_root"] == "off"
    assert profile.severity["legacy_tls_enabled"] == "warning"  # inherited from strict
    assert profile.severity["legacy_tls_missing"] == "error"
    assert ignores == [Ignore("cert_expiring_soon", "old.example.com", date(2027, 1, 31),
                              "renewal booked", str(tmp_path / "policy.toml"))]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("warn_days = 10\nfrobnicate = 1\n", "policy.toml:2: unknown key 'frobnicate'"),
        ('base = "nope"\n', "policy.toml:1: base 'nope'"),
        ('warn_days = "ten"\n', "policy.toml:1: warn_days must be a whole number"),
        ('[severity]\nno_such_rule = "error"\n', "policy.toml:2: unknown rule id"),
        ('[severity]\ncert_expired = "loud"\n', "policy.toml:2: severity of cert_expired"),
        ('[[ignore]]\nrule = "x"\n', "policy.toml:2: [[ignore]] rule 'x'"),
        ('[[ignore]]\nrule = "cert_expired"\nuntil = "soon"\n', "policy.toml:3: until must be"),
        ('[[ignore]]\nrule = "cert_expired"\nwhy = "x"\n', "policy.toml:3: unknown key 'why'"),
        ("base = \n", "not valid TOML"),
    ],
)
def test_invalid_files_name_line_and_key(tmp_path, text, message):
    with pytest.raises(PolicyFileError) as info:
        load_policy_file(write(tmp_path, text))
    assert message in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(PolicyFileError, match="No such file"):
        load_policy_file(tmp_path / "missing.toml")


def test_parse_ignore():
    assert parse_ignore("chain_order") == Ignore("chain_order")
    assert parse_ignore("chain_order:API.example.com") == Ignore("chain_order", "api.example.com")
    for bad in ("nope", "chain_order:"):
        with pytest.raises(PolicyFileError):
            parse_ignore(bad)


def finding(rule="cert_expiring_soon"):
    return Finding(rule, "warning", ["all"], "t")


def test_suppression_applies_until_the_end_of_its_day():
    ignore = Ignore("cert_expiring_soon", None, date(2026, 11, 22), "booked", "p.toml")
    found = [finding(), finding("chain_order")]
    apply_suppressions(found, "a.example.com", (ignore,), NOW.replace(hour=23, minute=59))
    assert found[0].suppressed and "booked" in found[0].suppressed_reason
    assert not found[1].suppressed


def test_expired_suppression_counts_again_and_says_so():
    ignore = Ignore("cert_expiring_soon", None, date(2026, 11, 21), "", "p.toml")
    found = [finding()]
    apply_suppressions(found, "a.example.com", (ignore,), NOW)
    assert not found[0].suppressed
    assert "expired on 2026-11-21" in found[0].suppressed_reason


def test_host_specific_suppression():
    ignore = Ignore("cert_expiring_soon", "a.example.com")
    found = [finding()]
    apply_suppressions(found, "b.example.com", (ignore,), NOW)
    assert not found[0].suppressed
    apply_suppressions(found, "a.example.com", (ignore,), NOW)
    assert found[0].suppressed


def test_profile_changes_the_verdict(tmp_path):
    """Suppressed and disabled findings no longer count for verdicts or exit codes."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from certcheck.evaluate import Policy, evaluate
    from certcheck.model import ServerFacts, Target
    from certcheck.pipeline import exit_code
    from certcheck.samples import generate

    samples = generate(NOW)
    import base64

    from cryptography import x509

    chain = [base64.b64encode(c.public_bytes(Encoding.DER)).decode()
             for c in x509.load_pem_x509_certificates(samples.get("expired").chain_pem)]
    facts = ServerFacts(Target("expired.example.test"), "x", chain=chain, source="file")
    plain = evaluate(facts, Policy.build(ca_pem=samples.root_pem), NOW)
    assert plain.overall == "fail" and exit_code([plain], "error") == 1
    profile, ignores = load_policy_file(write(tmp_path, '[[ignore]]\nrule = "cert_expired"\n'))
    quiet = evaluate(facts, Policy.build(ca_pem=samples.root_pem, profile_obj=profile,
                                         ignores=ignores), NOW)
    assert quiet.overall == "pass" and exit_code([quiet], "error") == 0
    assert [f.rule_id for f in quiet.findings if f.suppressed] == ["cert_expired"]
    profile, _ = load_policy_file(write(tmp_path, '[severity]\ncert_expired = "off"\n'))
    off = evaluate(facts, Policy.build(ca_pem=samples.root_pem, profile_obj=profile), NOW)
    assert "cert_expired" not in [f.rule_id for f in off.findings]
