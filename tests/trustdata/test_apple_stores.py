"""Apple's trust store per iOS release: the builder, the shipped tables, the simulation.

The builder tests make tag archives in the layout GitHub serves for
apple-oss-distributions/security_certificates (``<repo>-<tag>/certificates/roots/…``) from
real root certificates (certifi's bundle): human file names as in the old tags, SHA-256
file names as in the new ones, DER and PEM.  Chains that must end at a tabulated Apple root
(ISRG Root X1 / X2) use stand-in roots with the real subject name, as the simulation tests
explain: only the root's fingerprint in the tables decides a store's answer.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import tarfile
import tomllib
import warnings
from datetime import UTC, datetime, timedelta
from importlib import resources

import certifi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from simkit import NO_ROOTS, modern_facts

from certcheck import platforms
from certcheck.evaluate.client_trust import store_view
from certcheck.evaluate.simulation import simulate
from certcheck.trustdata import TrustDataError, builders
from certcheck.trustdata import apple as apple_builder
from certcheck.trustdata.apple import (
    CURRENT,
    Release,
    build_table,
    read_releases,
    refresh_table,
)

ISRG_X1 = "96bcec06264976f37460779acf28c5a7cfe8a3c0aae11a8ffcee05c0bddf08c6"
ISRG_X2 = "69729b8e15a86efc177a57afb7171dfc64add28c2fca8cf1507e34453ccb1470"
DST_X3 = "0687260331a72403d909f105e69bcf0d32e1bd2493ffc6d9206d11bcd6770739"
NOW = datetime(2026, 6, 1, tzinfo=UTC)
HOST = "api.example.test"


# --------------------------------------------------------------------------- real roots


def _certifi_roots() -> list[x509.Certificate]:
    with warnings.catch_warnings():  # a certifi root with a negative serial
        warnings.simplefilter("ignore")
        return x509.load_pem_x509_certificates(open(certifi.where(), "rb").read())


ROOTS = _certifi_roots()


def sha(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def by_cn(name: str) -> x509.Certificate:
    for cert in ROOTS:
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if cns and cns[0].value == name:
            return cert
    raise LookupError(name)


X1 = by_cn("ISRG Root X1")
X2 = by_cn("ISRG Root X2")
OTHERS = [c for c in ROOTS if c not in (X1, X2)][:6]


def archive(
    tag: str,
    folders: dict[str, list[x509.Certificate]],
    *,
    human_names: bool = False,
    pem: bool = False,
    extra: dict[str, bytes] | None = None,
) -> bytes:
    """A tag archive in GitHub's layout, as gzip'ed tar bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:

        def put(path: str, data: bytes) -> None:
            info = tarfile.TarInfo(f"security_certificates-{tag}/{path}")
            info.size = len(data)
            info.mtime = int(datetime(2025, 10, 16, 12, tzinfo=UTC).timestamp())
            tar.addfile(info, io.BytesIO(data))

        put("README.txt", b"Building Root Trust Store Assets\n")
        for folder, certs in folders.items():
            for number, cert in enumerate(certs):
                data = cert.public_bytes(Encoding.PEM if pem else Encoding.DER)
                name = f"Root {number}.cer" if human_names else f"{sha(cert).upper()}.cer"
                put(f"certificates/{folder}/{name}", data)
        for path, data in (extra or {}).items():
            put(path, data)
    return buffer.getvalue()


RELEASES = (
    Release("9.3", "security_certificates-55052.40.2", 4),
    Release("10.1", "security_certificates-55070.20.2", 5),
)


def files(**changes: bytes) -> dict[str, bytes]:
    old = OTHERS[:4]  # iOS 9.3: no ISRG root
    new = [*OTHERS[:4], X1]  # iOS 10.1: ISRG Root X1 added
    out = {
        "security_certificates-55052.40.2.tar.gz": archive(
            "55052.40.2", {"roots": old, "revoked": [OTHERS[5]]}, human_names=True, pem=True
        ),
        "security_certificates-55070.20.2.tar.gz": archive(
            "55070.20.2", {"roots": new, "removed": [OTHERS[4]]}
        ),
        # main: X2 added after the last tag, OTHERS[0] dropped
        CURRENT: archive("main", {"roots": [*OTHERS[1:4], X1, X2], "removed": [OTHERS[0]]}),
    }
    out.update(changes)
    return out


def rows(text: str) -> dict[str, dict[str, str]]:
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    header = lines[0].split("\t")
    return {
        r["sha256"]: r for r in (dict(zip(header, ln.split("\t"), strict=True)) for ln in lines[1:])
    }


# --------------------------------------------------------------------------- builder


def test_builder_is_registered_and_updates_from_main_only():
    builder = builders()["platforms/apple_roots.tsv"]
    assert [u.name for u in builder.upstream] == [CURRENT]
    assert builder.upstream[0].url.endswith("/security_certificates/archive/refs/heads/main.tar.gz")
    tags = {r.tag for r in apple_builder._releases()}
    names = [u.name for u in apple_builder.tag_archives()]
    assert len(names) == len(tags) == 61
    assert "security_certificates-55219.100.22.tar.gz" in names  # iOS 15.4 / macOS 12.3


def test_builder_makes_present_in_and_status_from_contents_not_file_names():
    table = rows(build_table(files(), RELEASES, min_roots=3))
    x1 = table[sha(X1)]
    assert x1["present_in"] == "10.1.."  # added in 10.1, still in the newest release
    assert x1["status"] == "trusted"
    assert x1["name"] == "ISRG Root X1" and x1["key"] == "RSA-4096" and x1["type"] == "root"
    # human-named PEM files of the old tag are found by their SHA-256 all the same
    assert table[sha(OTHERS[1])]["present_in"] == "9.3.."
    # in every tag, dropped on main: removed, but still in the old releases' stores
    assert table[sha(OTHERS[0])]["status"] == "removed"
    assert table[sha(OTHERS[0])]["present_in"] == "9.3.."
    # only in main (no tag yet): trusted by the current store, in no release
    assert table[sha(X2)]["status"] == "trusted" and table[sha(X2)]["present_in"] == ""
    assert table[sha(OTHERS[5])]["status"] == "distrusted"
    assert (
        table[sha(OTHERS[4])]["status"] == "removed" and table[sha(OTHERS[4])]["present_in"] == ""
    )


def test_builder_header_names_the_tags_main_commit_and_snapshot():
    text = build_table(files(), RELEASES, min_roots=3)
    assert "security_certificates-55052.40.2 .." in text
    assert "Snapshot of the facts: 2025-10-16." in text


@pytest.mark.parametrize(
    "broken",
    [
        b"",
        b"<html>rate limited</html>",
        b"\x1f\x8b\x08\x00garbage",
        "truncated",
        "few roots",
        "not a certificate",
    ],
)
def test_builder_refuses_garbage_and_truncated_archives(broken):
    name = "security_certificates-55070.20.2.tar.gz"
    good = files()[name]
    if broken == "truncated":
        data = good[: len(good) // 2]
    elif broken == "few roots":
        data = archive("55070.20.2", {"roots": [X1]})
    elif broken == "not a certificate":
        data = archive(
            "55070.20.2",
            {"roots": [*OTHERS[:4], X1]},
            extra={"certificates/roots/bad.cer": b"\x30\x82garbage"},
        )
    else:
        data = broken
    with pytest.raises(TrustDataError) as err:
        build_table(files(**{name: data}), RELEASES, min_roots=3)
    assert name in str(err.value)


def test_builder_refuses_a_missing_archive_and_the_wrong_tag():
    missing = files()
    del missing[CURRENT]
    with pytest.raises(TrustDataError, match="missing"):
        build_table(missing, RELEASES, min_roots=3)
    expects_many = (RELEASES[0], Release("10.1", RELEASES[1].tag, 50))
    with pytest.raises(TrustDataError, match="not the archive of that tag"):
        build_table(files(), expects_many, min_roots=3)


def test_refresh_from_main_keeps_the_releases_and_takes_status_from_main():
    shipped = build_table(files(), RELEASES, min_roots=3)
    newer = OTHERS[5]  # was revoked at the old tag: stays blocked
    main = archive("main", {"roots": [*OTHERS[2:4], X1, X2, OTHERS[4]]})
    table = rows(refresh_table(shipped, main, RELEASES, min_roots=3))
    assert table[sha(X1)]["present_in"] == "10.1.." and table[sha(X1)]["status"] == "trusted"
    assert table[sha(OTHERS[1])]["status"] == "removed"  # left main
    assert table[sha(OTHERS[1])]["present_in"] == "9.3.."  # still in the releases' stores
    assert table[sha(OTHERS[4])]["status"] == "trusted"  # back on main
    assert table[sha(newer)]["status"] == "distrusted"
    # the refreshed text is the full build's text when main is the same
    assert refresh_table(shipped, files()[CURRENT], RELEASES, min_roots=3) == shipped


def test_refresh_refuses_a_main_archive_that_is_not_the_current_store():
    shipped = build_table(files(), RELEASES, min_roots=3)
    with pytest.raises(TrustDataError, match="not the current security_certificates"):
        refresh_table(shipped, archive("main", {"roots": OTHERS[:3]}), RELEASES, min_roots=3)
    with pytest.raises(TrustDataError, match="truncated or broken"):
        refresh_table(shipped, files()[CURRENT][:200], RELEASES, min_roots=3)
    # the registered builder (shipped table, 156 trusted roots) refuses an excerpt
    with pytest.raises(TrustDataError, match="fewer than 100"):
        apple_builder.build({CURRENT: files()[CURRENT]})
    with pytest.raises(TrustDataError, match="missing"):
        apple_builder.build({})


def test_read_releases_refuses_a_malformed_versions_table():
    with pytest.raises(TrustDataError):
        read_releases("# only comments\n")
    with pytest.raises(TrustDataError):
        read_releases("label\ttag\troots\n9.3\tv1\t10\n")


def test_default_min_roots_refuses_an_excerpt():
    with pytest.raises(TrustDataError, match="fewer than 100"):
        build_table(files(), RELEASES)


# --------------------------------------------------------------------------- shipped tables


def _versions() -> list[dict[str, str]]:
    text = resources.files("certcheck.rules").joinpath("platforms/apple_versions.tsv").read_text()
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    header = lines[0].split("\t")
    return [dict(zip(header, ln.split("\t"), strict=True)) for ln in lines[1:]]


def test_every_release_store_has_the_tabulated_number_of_roots():
    versions = _versions()
    assert versions[0]["label"] == "8.3" and versions[-1]["label"] == "26.0"
    for row in versions:
        assert len(platforms.apple_store(row["label"])) == int(row["roots"]), row["label"]
        assert row["tag"].startswith("security_certificates-") and len(row["commit"]) == 40


def test_isrg_roots_arrive_in_the_releases_that_added_them():
    assert ISRG_X1 not in platforms.apple_store("9")  # = 9.3, the last iOS 9 store
    assert ISRG_X1 not in platforms.apple_store("10.0")  # tag 55070.1.1 (macOS 10.12)
    assert ISRG_X1 in platforms.apple_store("10.1")  # tag 55070.20.2 (macOS 10.12.1)
    assert platforms.apple_first_trusting_release(ISRG_X1) == "10.1"
    assert ISRG_X2 not in platforms.apple_store("15.3")
    assert ISRG_X2 in platforms.apple_store("15.4")  # tag 55219.100.22 (macOS 12.3)
    assert platforms.apple_first_trusting_release(ISRG_X2) == "15.4"
    # DST Root CA X3 left with the same tag; it is not in the current store
    assert DST_X3 in platforms.apple_store("15.3") and DST_X3 not in platforms.apple_store("15.4")
    assert DST_X3 not in platforms.apple_store()


def test_release_lookup():
    assert platforms.apple_label_for("9") == "9.3"  # a bare major: its last release
    assert platforms.apple_label_for("12.2") == "12.2"
    assert platforms.apple_label_for("12.1") == "12.0"  # no row of its own: the one before
    assert platforms.apple_label_for("14.0") == "13.6"  # macOS 11.0 never shipped: no tag
    assert platforms.apple_label_for("26.4") is None  # newer than the data: current store
    assert platforms.apple_store("26.4") == platforms.apple_store()
    with pytest.raises(ValueError, match="older than the Apple store data"):
        platforms.apple_label_for("7.1")


def test_ios_profiles_use_their_release_store():
    stores = {p.id: p.root_store for p in platforms.client_profiles() if p.platform == "ios"}
    assert stores["ios_9_safari"] == "apple:9"
    assert stores["ios_15_safari"] == "apple:15.4"
    assert stores["apple_ats_ios15_4"] == "apple"  # the current OS
    for profile in platforms.client_profiles():
        if profile.platform == "ios" and profile.root_store != "apple":
            release = platforms.apple_release(profile.root_store)
            major = re.match(r"\d+", profile.os_version)
            assert release and major and release.split(".")[0] == major.group(), profile.id


def _ios9_entry() -> dict:
    data = tomllib.loads(resources.files("certcheck.rules").joinpath("clients.toml").read_text())
    return next(e for e in data["client"] if e["id"] == "ios_9_safari")


@pytest.mark.parametrize("store", ["apple:7", "apple:10", "apple:x", "apple:9.3.1.4"])
def test_client_validation_refuses_a_wrong_apple_store(store):
    entry = dict(_ios9_entry(), root_store=store)
    with pytest.raises(platforms.PlatformDataError, match="root_store"):
        platforms._client(entry, "clients.toml: test")


def test_client_validation_refuses_an_apple_release_store_off_ios():
    entry = dict(_ios9_entry(), platform="java", root_store="apple:9")
    with pytest.raises(platforms.PlatformDataError, match="does not match"):
        platforms._client(entry, "clients.toml: test")


def test_store_views():
    old = store_view("apple:9", NO_ROOTS)
    assert old.label == "Apple trust store of iOS 9.3" and not old.may_lag
    assert old.members == platforms.apple_store("9.3")
    current = store_view("apple", NO_ROOTS)
    assert current.may_lag and current.members == platforms.apple_store()
    assert store_view("apple:18.4", NO_ROOTS).may_lag  # still gets trust assets


# --------------------------------------------------------------------------- simulation

EC_KEY = ec.generate_private_key(ec.SECP384R1())
LEAF_KEY = ec.generate_private_key(ec.SECP256R1())


def _cert(subject: x509.Name, issuer: x509.Name, key, signer, *, ca: bool) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=10))
        .not_valid_after(NOW + timedelta(days=80))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _chain_to(root: x509.Certificate) -> list[str]:
    """leaf <- intermediate <- (stand-in for) ``root``: same subject name, own key."""
    inter_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Issuing CA")])
    inter = _cert(name, root.subject, inter_key, EC_KEY, ca=True)
    leaf = _cert(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]),
        name,
        LEAF_KEY,
        inter_key,
        ca=False,
    )
    return [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in (leaf, inter)]


def _simulate(root: x509.Certificate) -> dict:
    """Every iOS profile on a chain to ``root``; no certifi roots (see the module docstring)."""
    ios = tuple(p for p in platforms.client_profiles() if p.platform == "ios")
    results = simulate(modern_facts(_chain_to(root)), NO_ROOTS, NOW, ios)
    return {r.profile.id: r for r in results}


def test_isrg_x1_chain_fails_on_ios_9_and_passes_on_current_ios():
    results = _simulate(X1)
    ios9 = results["ios_9_safari"]
    assert ios9.trust.trust == "untrusted" and ios9.ok is False
    assert ios9.trust.missing_root_sha256 == ISRG_X1
    assert ios9.trust.first_trusted_in == "iOS 10.1"
    assert ios9.reason == (
        "untrusted root on this client: iOS < 10.1 has no ISRG Root X1 (first trusted in iOS 10.1)"
    )
    assert results["apple_ats_ios9"].trust.trust == "untrusted"
    for current in ("ios_10_safari", "ios_15_safari", "ios_18_safari", "ios_26_safari"):
        assert results[current].trust.trust == "ok", current
        assert results[current].trust.root_sha256 == ISRG_X1


def test_isrg_x2_chain_needs_ios_15_4():
    results = _simulate(X2)
    for old in ("ios_9_safari", "ios_14_safari", "apple_ats_ios13_14"):
        assert results[old].trust.trust == "untrusted", old
        assert results[old].trust.first_trusted_in == "iOS 15.4", old
    for new in ("ios_15_safari", "ios_16_safari", "apple_ats_ios15_4"):
        assert results[new].trust.trust == "ok", new
        assert results[new].trust.root_sha256 == ISRG_X2
    assert hashlib.sha256(X2.public_bytes(Encoding.DER)).hexdigest() == ISRG_X2


def test_build_command_names_a_missing_archive(tmp_path, capsys):
    (tmp_path / CURRENT).write_bytes(files()[CURRENT])
    assert apple_builder.main(["build", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "security_certificates-55040.20.2.tar.gz" in err
    assert "Traceback" not in err
